DELETE FROM checkins WHERE created_by IS NULL;
ALTER TABLE checkins DROP COLUMN source;
ALTER TABLE checkins ALTER COLUMN created_by SET NOT NULL;
DROP TABLE messages;
DROP TABLE form_submissions;
DROP TABLE receipts;
ALTER TABLE alerts DROP COLUMN reporter_name_ct;
ALTER TABLE alerts DROP COLUMN occurred_on_ct;
