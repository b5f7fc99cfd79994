-- The staff console signs in with a cookie. Its session is a row of the same table as the
-- API's (so logout, deactivation and a password change end it alike); the row holds the
-- SHA-256 of the cookie's secret, never the secret, and when it was last used (the idle
-- timeout).
ALTER TABLE sessions ADD COLUMN console_secret_hash TEXT;
ALTER TABLE sessions ADD COLUMN last_seen_at TIMESTAMP;
CREATE UNIQUE INDEX sessions_console_secret ON sessions (console_secret_hash);
-- The language of her console pages (en, fr, es, ar); NULL: her browser's.
ALTER TABLE users ADD COLUMN language TEXT;
