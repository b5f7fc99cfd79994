-- Two-factor sign-in, and the throttles every instance shares.

-- Her TOTP secret, sealed under a key of its own (a case_keys row named by her user id, as
-- a defender's record is), never in the clear. Unconfirmed until she gives a first code.
-- last_step: the newest 30-second step a code was accepted for; a code is good once.
CREATE TABLE user_totp (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id),
    secret_ct BLOB NOT NULL,
    key_version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    confirmed_at TIMESTAMP,
    last_step BIGINT
);

-- Whether she signs in with a second factor (set when one is confirmed): read with the
-- account on every request, for the enrolment gate, without another query.
ALTER TABLE users ADD COLUMN mfa_enabled_at TIMESTAMP;

-- Single-use recovery codes: the first group of a code (its selector) finds the row; the
-- whole code is checked against an Argon2id hash.
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id),
    selector TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    PRIMARY KEY (user_id, selector)
);

-- Login, receipt, PIN and form-report counters. slot is an HMAC (under a key derived from
-- the service's token secret, which every instance shares) of what is counted: an account,
-- a network, an alert; never an address or an email in the clear. A row is dead after
-- expires_at and swept.
CREATE TABLE throttles (
    slot TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    last_at TIMESTAMP NOT NULL,
    prev_last_at TIMESTAMP,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX throttles_expires_idx ON throttles (expires_at);
