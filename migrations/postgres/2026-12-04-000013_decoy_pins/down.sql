ALTER TABLE receipts DROP COLUMN decoy_duress_pin_hash;
ALTER TABLE receipts DROP COLUMN decoy_safe_pin_hash;
