DROP TABLE disbursements;
DROP TABLE grants;
