ALTER TABLE case_shares DROP COLUMN includes_profile;
