-- Risk assessments: versioned per case, never edited in place. The threats, vulnerabilities
-- and capacities (facts, patterns, descriptions) are sealed with the case key; the derived
-- score and level stay in clear so they can be listed and filtered.
CREATE TABLE risk_assessments (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    version INTEGER NOT NULL,
    assessor_id TEXT NOT NULL REFERENCES users (id),
    content_ct BYTEA NOT NULL,
    key_version INTEGER NOT NULL,
    threat_count INTEGER NOT NULL,
    -- The score in hundredths (risk = threats x vulnerabilities / capacities).
    score_centi INTEGER NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('low', 'medium', 'high', 'critical')),
    -- SHA-256 of the policies/risk.toml that scored it.
    policy_hash TEXT NOT NULL,
    reassess_by TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX risk_assessments_case_version_key ON risk_assessments (case_id, version);
