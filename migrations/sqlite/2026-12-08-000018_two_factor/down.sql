DROP INDEX throttles_expires_idx;
DROP TABLE throttles;
DROP TABLE recovery_codes;
ALTER TABLE users DROP COLUMN mfa_enabled_at;
DROP TABLE user_totp;
