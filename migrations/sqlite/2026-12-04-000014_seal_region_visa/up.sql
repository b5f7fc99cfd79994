-- The alert's region (her own words: "Popayán") and the visa's country and type (which give
-- away the sealed relocation destination) are sealed with the alert's or case's key from now
-- on. SQL cannot encrypt: Haven seals the rows already stored at start (AppState::prepare,
-- domain::legacy), then empties the plaintext columns. They stay, nullable and empty, only
-- for that step.
ALTER TABLE alerts ADD COLUMN region_ct BLOB;

-- SQLite cannot drop NOT NULL in place, so visas is rebuilt (nothing references it).
CREATE TABLE visas_new (
    id TEXT PRIMARY KEY NOT NULL,
    relocation_id TEXT NOT NULL REFERENCES relocations (id),
    case_id TEXT NOT NULL REFERENCES cases (id),
    -- Plaintext from before this migration, emptied at start once sealed.
    country TEXT,
    visa_type TEXT,
    -- Sealed: the applicant (the defender or a dependant) and the handling organisation.
    details_ct BLOB NOT NULL,
    key_version INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('preparing', 'submitted', 'approved', 'rejected', 'issued')),
    submitted_on TIMESTAMP,
    decided_on TIMESTAMP,
    issued_on TIMESTAMP,
    expires_on TIMESTAMP,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- Sealed with the case key, like details_ct.
    country_ct BLOB,
    visa_type_ct BLOB,
    CHECK (expires_on IS NULL OR issued_on IS NULL OR expires_on > issued_on)
);
INSERT INTO visas_new (id, relocation_id, case_id, country, visa_type, details_ct, key_version, status,
        submitted_on, decided_on, issued_on, expires_on, version, created_at, updated_at)
    SELECT id, relocation_id, case_id, country, visa_type, details_ct, key_version, status,
        submitted_on, decided_on, issued_on, expires_on, version, created_at, updated_at FROM visas;
DROP TABLE visas;
ALTER TABLE visas_new RENAME TO visas;
CREATE INDEX visas_relocation_idx ON visas (relocation_id);
CREATE INDEX visas_case_idx ON visas (case_id, status);
