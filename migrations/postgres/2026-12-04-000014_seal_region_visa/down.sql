-- The sealed values cannot be put back in clear by SQL: going down loses them (regions
-- become NULL, visa country and type empty).
UPDATE visas SET country = '' WHERE country IS NULL;
UPDATE visas SET visa_type = '' WHERE visa_type IS NULL;
ALTER TABLE visas ALTER COLUMN country SET NOT NULL;
ALTER TABLE visas ALTER COLUMN visa_type SET NOT NULL;
ALTER TABLE visas DROP COLUMN visa_type_ct;
ALTER TABLE visas DROP COLUMN country_ct;
ALTER TABLE alerts DROP COLUMN region_ct;
