-- Relocation support, visas and psychosocial care. Where she goes, with whom, who hosts her,
-- who applies for which visa, and who cares for her are sealed with the case key; kinds,
-- statuses and dates stay in clear for deadlines and the case summary.
CREATE TABLE relocations (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    kind TEXT NOT NULL CHECK (kind IN ('in_country', 'regional', 'international')),
    details_ct BYTEA NOT NULL,
    key_version INTEGER NOT NULL,
    starts_on TIMESTAMP NOT NULL,
    ends_on TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'in_progress', 'completed', 'cancelled')),
    cancel_reason_ct BYTEA,
    plan_id TEXT REFERENCES security_plans (id),
    requested_by TEXT NOT NULL REFERENCES users (id),
    approved_by TEXT REFERENCES users (id),
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (ends_on > starts_on)
);
CREATE INDEX relocations_case_idx ON relocations (case_id);

CREATE TABLE visas (
    id TEXT PRIMARY KEY NOT NULL,
    relocation_id TEXT NOT NULL REFERENCES relocations (id),
    case_id TEXT NOT NULL REFERENCES cases (id),
    country TEXT NOT NULL,
    visa_type TEXT NOT NULL,
    -- Sealed: the applicant (the defender or a dependant) and the handling organisation.
    details_ct BYTEA NOT NULL,
    key_version INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('preparing', 'submitted', 'approved', 'rejected', 'issued')),
    submitted_on TIMESTAMP,
    decided_on TIMESTAMP,
    issued_on TIMESTAMP,
    expires_on TIMESTAMP,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (expires_on IS NULL OR issued_on IS NULL OR expires_on > issued_on)
);
CREATE INDEX visas_relocation_idx ON visas (relocation_id);
CREATE INDEX visas_case_idx ON visas (case_id, status);

CREATE TABLE psychosocial_care (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    -- Sealed: the provider and notes.
    details_ct BYTEA NOT NULL,
    key_version INTEGER NOT NULL,
    modality TEXT NOT NULL CHECK (modality IN ('individual', 'group', 'online')),
    sessions_planned INTEGER NOT NULL CHECK (sessions_planned >= 0),
    sessions_held INTEGER NOT NULL CHECK (sessions_held >= 0),
    referral_status TEXT NOT NULL CHECK (referral_status IN ('not_referred', 'referred', 'accepted', 'declined', 'completed')),
    consent_recorded BOOLEAN NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX psychosocial_case_idx ON psychosocial_care (case_id);
