-- The defender's side: receipts (only a keyed Argon2id hash is stored, as the lookup key),
-- single-use form tokens, sealed two-way messages, and check-ins she asks for herself.

-- Sealed extras of an alert filed through the form.
ALTER TABLE alerts ADD COLUMN occurred_on_ct BYTEA;
ALTER TABLE alerts ADD COLUMN reporter_name_ct BYTEA;

CREATE TABLE receipts (
    -- Argon2id(receipt, pepper) in hex: deterministic, so it is the lookup key. The receipt
    -- itself is never stored.
    lookup TEXT PRIMARY KEY NOT NULL,
    alert_id TEXT NOT NULL UNIQUE REFERENCES alerts (id),
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    -- PHC strings (Argon2id, random salt) of the check-in PIN and the duress PIN.
    safe_pin_hash TEXT,
    duress_pin_hash TEXT
);

-- A form token seen once: the same form sent twice makes one alert.
CREATE TABLE form_submissions (
    token_digest TEXT PRIMARY KEY NOT NULL,
    alert_id TEXT NOT NULL REFERENCES alerts (id),
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,
    alert_id TEXT NOT NULL REFERENCES alerts (id),
    direction TEXT NOT NULL CHECK (direction IN ('to_defender', 'from_defender')),
    -- The alert or case whose key sealed the body.
    key_owner TEXT NOT NULL,
    body_ct BYTEA NOT NULL,
    key_version INTEGER NOT NULL,
    author_id TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX messages_alert_idx ON messages (alert_id, created_at);

-- Check-ins the defender asks for have no staff author.
ALTER TABLE checkins ALTER COLUMN created_by DROP NOT NULL;
ALTER TABLE checkins ADD COLUMN source TEXT NOT NULL DEFAULT 'staff' CHECK (source IN ('staff', 'defender'));
-- Set (once, by whichever instance gets there first) when the engine finds it still pending
-- after due_at; that is when `checkin.missed` fires.
ALTER TABLE checkins ADD COLUMN missed_at TIMESTAMP;
-- A check-in she asked for herself: the alert (receipt) it belongs to.
ALTER TABLE checkins ADD COLUMN alert_id TEXT REFERENCES alerts (id);
-- "I am safe" said with the duress PIN: hidden from the status page (so it looks confirmed
-- to whoever forced her) but still pending for the engine.
ALTER TABLE checkins ADD COLUMN coerced_at TIMESTAMP;
-- Check-ins already overdue escalated under the old rule (at scheduling): not again.
UPDATE checkins SET missed_at = due_at WHERE status = 'pending' AND due_at < (now() AT TIME ZONE 'utc');
CREATE INDEX checkins_due_idx ON checkins (due_at) WHERE status = 'pending' AND missed_at IS NULL;
