-- Funding grants and their disbursements. Money is an integer in minor units with an ISO
-- 4217 currency, never a float. The purpose, the other funders approached and decision
-- reasons are sealed with the case key.
CREATE TABLE grants (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    -- A grant for a relocation of the case, if it is one.
    relocation_id TEXT REFERENCES relocations (id),
    category TEXT NOT NULL CHECK (category IN ('physical_security', 'digital_security', 'communications',
        'transport', 'legal', 'medical', 'psychosocial', 'humanitarian_family', 'relocation', 'other')),
    currency TEXT NOT NULL,
    amount_requested BIGINT NOT NULL CHECK (amount_requested > 0),
    amount_approved BIGINT CHECK (amount_approved > 0),
    amount_disbursed BIGINT NOT NULL CHECK (amount_disbursed >= 0),
    status TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'rejected', 'disbursed')),
    details_ct BYTEA NOT NULL,
    decision_reason_ct BYTEA,
    key_version INTEGER NOT NULL,
    requested_by TEXT NOT NULL REFERENCES users (id),
    decided_by TEXT REFERENCES users (id),
    decided_at TIMESTAMP,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (amount_approved IS NULL OR amount_disbursed <= amount_approved)
);
CREATE INDEX grants_case_idx ON grants (case_id);

CREATE TABLE disbursements (
    id TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES grants (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    paid_on TIMESTAMP NOT NULL,
    method TEXT NOT NULL CHECK (method IN ('bank_transfer', 'cash', 'mobile_money', 'other')),
    recorded_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX disbursements_grant_idx ON disbursements (grant_id);
