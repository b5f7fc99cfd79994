ALTER TABLE alerts DROP COLUMN duress_at;
