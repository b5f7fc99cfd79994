ALTER TABLE users DROP COLUMN language;
DROP INDEX sessions_console_secret;
ALTER TABLE sessions DROP COLUMN last_seen_at;
ALTER TABLE sessions DROP COLUMN console_secret_hash;
