-- The defender's side: receipts (only a keyed Argon2id hash is stored, as the lookup key),
-- single-use form tokens, sealed two-way messages, and check-ins she asks for herself.

-- Sealed extras of an alert filed through the form.
ALTER TABLE alerts ADD COLUMN occurred_on_ct BLOB;
ALTER TABLE alerts ADD COLUMN reporter_name_ct BLOB;

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
    body_ct BLOB NOT NULL,
    key_version INTEGER NOT NULL,
    author_id TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX messages_alert_idx ON messages (alert_id, created_at);

-- Check-ins the defender asks for have no staff author. SQLite cannot drop NOT NULL in
-- place, so the table is rebuilt (nothing references it).
CREATE TABLE checkins_new (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    due_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled')),
    created_by TEXT REFERENCES users (id),
    closed_by TEXT REFERENCES users (id),
    closed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    source TEXT NOT NULL DEFAULT 'staff' CHECK (source IN ('staff', 'defender')),
    -- Set (once, by whichever instance gets there first) when the engine finds it still
    -- pending after due_at; that is when `checkin.missed` fires.
    missed_at TIMESTAMP,
    -- A check-in she asked for herself: the alert (receipt) it belongs to.
    alert_id TEXT REFERENCES alerts (id),
    -- "I am safe" said with the duress PIN: hidden from the status page (so it looks
    -- confirmed to whoever forced her) but still pending for the engine.
    coerced_at TIMESTAMP
);
INSERT INTO checkins_new (id, case_id, due_at, status, created_by, closed_by, closed_at, created_at)
    SELECT id, case_id, due_at, status, created_by, closed_by, closed_at, created_at FROM checkins;
DROP TABLE checkins;
ALTER TABLE checkins_new RENAME TO checkins;
CREATE INDEX checkins_case_idx ON checkins (case_id, due_at);
CREATE INDEX checkins_due_idx ON checkins (due_at) WHERE status = 'pending' AND missed_at IS NULL;
-- Check-ins already overdue escalated under the old rule (at scheduling): not again.
UPDATE checkins SET missed_at = due_at WHERE status = 'pending' AND due_at < strftime('%Y-%m-%d %H:%M:%f', 'now');
