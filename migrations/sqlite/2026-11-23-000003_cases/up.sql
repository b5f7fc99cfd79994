-- Cases: the unit of work. Only what lists and filters need stays in clear (status,
-- severity, country, organisation, timestamps); everything a person wrote is sealed with the
-- case key (see src/crypto) and stored as ciphertext with the key version.

CREATE TABLE case_reference_counters (
    year INTEGER PRIMARY KEY NOT NULL,
    last_number INTEGER NOT NULL
);

-- Defenders (the protected people) and alerts (raw intake). Each has its own age key scope
-- in case_keys (keyed by the defender's or alert's id): the profile and the narrative are
-- sealed, only what lists and filters need stays in clear.

CREATE TABLE defenders (
    id TEXT PRIMARY KEY NOT NULL,
    pseudonym TEXT NOT NULL,
    country TEXT NOT NULL,
    -- JSON array of network names.
    networks TEXT NOT NULL,
    owner_organization_id TEXT NOT NULL REFERENCES organizations (id),
    -- Sealed JSON: legal name, contact channels, safe-contact instructions, location detail,
    -- dependants.
    profile_ct BLOB NOT NULL,
    profile_key_version INTEGER NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX defenders_owner_idx ON defenders (owner_organization_id);

CREATE TABLE cases (
    id TEXT PRIMARY KEY NOT NULL,
    reference TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'active', 'monitoring', 'closed')),
    severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    country TEXT NOT NULL,
    owner_organization_id TEXT NOT NULL REFERENCES organizations (id),
    defender_id TEXT REFERENCES defenders (id),
    -- Which kinds of organisation the defender agreed may be told (JSON array of kinds).
    consent_scope TEXT NOT NULL,
    summary_ct BLOB,
    summary_key_version INTEGER,
    created_by TEXT NOT NULL REFERENCES users (id),
    -- Bumped by every change: the ETag, and the guard against lost updates.
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    acknowledged_at TIMESTAMP,
    activated_at TIMESTAMP,
    monitoring_at TIMESTAMP,
    closed_at TIMESTAMP
);
CREATE UNIQUE INDEX cases_reference_key ON cases (reference);
CREATE INDEX cases_owner_idx ON cases (owner_organization_id, updated_at);
CREATE INDEX cases_status_idx ON cases (status, severity);

CREATE TABLE case_transitions (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    reason_ct BLOB,
    reason_key_version INTEGER,
    actor_id TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX case_transitions_case_idx ON case_transitions (case_id, created_at);

CREATE TABLE case_assignees (
    case_id TEXT NOT NULL REFERENCES cases (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    assigned_by TEXT NOT NULL REFERENCES users (id),
    assigned_at TIMESTAMP NOT NULL,
    PRIMARY KEY (case_id, user_id)
);
CREATE INDEX case_assignees_user_idx ON case_assignees (user_id);

CREATE TABLE case_shares (
    case_id TEXT NOT NULL REFERENCES cases (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    granted_by TEXT NOT NULL REFERENCES users (id),
    consent_reference TEXT NOT NULL,
    -- Set when the share was made outside the consent scope; the reason is sealed.
    override_reason_ct BLOB,
    override_key_version INTEGER,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    PRIMARY KEY (case_id, organization_id)
);
CREATE INDEX case_shares_org_idx ON case_shares (organization_id);

-- Append-only: corrections are new notes.
CREATE TABLE case_notes (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    author_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('note', 'contact_log', 'decision')),
    body_ct BLOB NOT NULL,
    key_version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX case_notes_case_idx ON case_notes (case_id, id);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('threat_received', 'physical_attack', 'arrest_detention',
        'online_harassment', 'surveillance', 'smear_campaign', 'threat_to_family', 'other')),
    urgency TEXT NOT NULL CHECK (urgency IN ('low', 'medium', 'high', 'critical')),
    country TEXT NOT NULL,
    region TEXT,
    narrative_ct BLOB NOT NULL,
    safe_contact_ct BLOB,
    key_version INTEGER NOT NULL,
    consent_scope TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('received', 'triaged', 'dismissed', 'merged')),
    dismiss_reason_ct BLOB,
    owner_organization_id TEXT NOT NULL REFERENCES organizations (id),
    defender_id TEXT REFERENCES defenders (id),
    case_id TEXT REFERENCES cases (id),
    source TEXT NOT NULL CHECK (source IN ('staff', 'form')),
    created_by TEXT REFERENCES users (id),
    version INTEGER NOT NULL,
    received_at TIMESTAMP NOT NULL,
    triaged_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX alerts_owner_idx ON alerts (owner_organization_id, status);
CREATE INDEX alerts_case_idx ON alerts (case_id);

-- Safe retries: a request repeated with the same Idempotency-Key gets the object the first
-- one created (re-read, never a stored copy of content) instead of creating another.
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL REFERENCES users (id),
    idem_key TEXT NOT NULL,
    route TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
