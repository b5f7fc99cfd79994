-- The sealed values cannot be put back in clear by SQL: going down loses them (regions
-- become NULL, visa country and type empty).
CREATE TABLE visas_old (
    id TEXT PRIMARY KEY NOT NULL,
    relocation_id TEXT NOT NULL REFERENCES relocations (id),
    case_id TEXT NOT NULL REFERENCES cases (id),
    country TEXT NOT NULL,
    visa_type TEXT NOT NULL,
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
    CHECK (expires_on IS NULL OR issued_on IS NULL OR expires_on > issued_on)
);
INSERT INTO visas_old (id, relocation_id, case_id, country, visa_type, details_ct, key_version, status,
        submitted_on, decided_on, issued_on, expires_on, version, created_at, updated_at)
    SELECT id, relocation_id, case_id, COALESCE(country, ''), COALESCE(visa_type, ''), details_ct, key_version,
        status, submitted_on, decided_on, issued_on, expires_on, version, created_at, updated_at FROM visas;
DROP TABLE visas;
ALTER TABLE visas_old RENAME TO visas;
CREATE INDEX visas_relocation_idx ON visas (relocation_id);
CREATE INDEX visas_case_idx ON visas (case_id, status);
ALTER TABLE alerts DROP COLUMN region_ct;
