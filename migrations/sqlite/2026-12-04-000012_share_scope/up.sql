-- A share lets the partner organisation read the case; the defender's sealed profile (legal
-- name, contacts, location, dependants) only when the share says so.
ALTER TABLE case_shares ADD COLUMN includes_profile BOOLEAN NOT NULL DEFAULT 0;
