DROP TABLE psychosocial_care;
DROP TABLE visas;
DROP TABLE relocations;
