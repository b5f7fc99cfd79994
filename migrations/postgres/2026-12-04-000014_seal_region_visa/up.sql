-- The alert's region (her own words: "Popayán") and the visa's country and type (which give
-- away the sealed relocation destination) are sealed with the alert's or case's key from now
-- on. SQL cannot encrypt: Haven seals the rows already stored at start (AppState::prepare,
-- domain::legacy), then empties the plaintext columns. They stay, nullable and empty, only
-- for that step.
ALTER TABLE alerts ADD COLUMN region_ct BYTEA;
ALTER TABLE visas ADD COLUMN country_ct BYTEA;
ALTER TABLE visas ADD COLUMN visa_type_ct BYTEA;
ALTER TABLE visas ALTER COLUMN country DROP NOT NULL;
ALTER TABLE visas ALTER COLUMN visa_type DROP NOT NULL;
