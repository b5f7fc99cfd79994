-- Encryption at rest. Secrets never live here in the clear: service identities are in the key
-- file outside the database; case identities are stored only wrapped (age-encrypted) to a
-- service key, an offline escrow key or (later) an officer's key.

-- Public half and state of each service identity in the key file.
CREATE TABLE service_keys (
    key_id TEXT PRIMARY KEY NOT NULL,
    recipient TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    is_current BOOLEAN NOT NULL,
    retired_at TIMESTAMP
);
CREATE UNIQUE INDEX service_keys_one_current ON service_keys (is_current) WHERE is_current;

-- One age X25519 identity per case (or per alert before triage); only its public recipient
-- is stored here. A case may be re-keyed, hence versions.
CREATE TABLE case_keys (
    case_id TEXT NOT NULL,
    key_version INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    shredded_at TIMESTAMP,
    PRIMARY KEY (case_id, key_version)
);

-- The case identity, wrapped for one grantee. Deleting every grant of a case shreds it.
CREATE TABLE case_key_grants (
    case_id TEXT NOT NULL,
    key_version INTEGER NOT NULL,
    grantee_kind TEXT NOT NULL CHECK (grantee_kind IN ('service', 'escrow', 'user')),
    grantee_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (case_id, key_version, grantee_kind, grantee_id),
    FOREIGN KEY (case_id, key_version) REFERENCES case_keys (case_id, key_version)
);
CREATE INDEX case_key_grants_key_idx ON case_key_grants (grantee_kind, key_id);
