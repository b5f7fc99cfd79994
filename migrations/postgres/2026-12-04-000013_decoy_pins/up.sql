-- PINs she was made to set after giving the duress PIN as the current one: PHC strings
-- (Argon2id, random salt) like the real ones. Each later use of them acts as if it had
-- worked and raises the duress alarm; her real PINs stay as they were.
ALTER TABLE receipts ADD COLUMN decoy_safe_pin_hash TEXT;
ALTER TABLE receipts ADD COLUMN decoy_duress_pin_hash TEXT;
