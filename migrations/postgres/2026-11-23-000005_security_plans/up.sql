-- Security plans and their measures. What a measure is and why (description, reasons) is
-- sealed with the case key; category, kind, status, owner and dates stay in clear for lists
-- and deadlines.
CREATE TABLE security_plans (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    status TEXT NOT NULL CHECK (status IN ('draft', 'approved', 'under_review')),
    summary_ct BYTEA,
    key_version INTEGER NOT NULL,
    author_id TEXT NOT NULL REFERENCES users (id),
    approved_by TEXT REFERENCES users (id),
    approved_at TIMESTAMP,
    review_by TIMESTAMP NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX security_plans_case_idx ON security_plans (case_id);

CREATE TABLE plan_measures (
    id TEXT PRIMARY KEY NOT NULL,
    plan_id TEXT NOT NULL REFERENCES security_plans (id),
    case_id TEXT NOT NULL REFERENCES cases (id),
    category TEXT NOT NULL CHECK (category IN ('physical', 'digital', 'communications', 'legal', 'psychosocial', 'travel')),
    kind TEXT NOT NULL CHECK (kind IN ('prevention', 'response')),
    description_ct BYTEA NOT NULL,
    key_version INTEGER NOT NULL,
    -- A user of the service, or the defender herself (owner_user_id NULL).
    owner_kind TEXT NOT NULL CHECK (owner_kind IN ('user', 'defender')),
    owner_user_id TEXT REFERENCES users (id),
    due_at TIMESTAMP,
    status TEXT NOT NULL CHECK (status IN ('planned', 'in_progress', 'done', 'dropped')),
    dropped_reason_ct BYTEA,
    -- The threat of an assessment this measure answers, if any.
    assessment_id TEXT REFERENCES risk_assessments (id),
    threat_index INTEGER,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX plan_measures_plan_idx ON plan_measures (plan_id);
CREATE INDEX plan_measures_due_idx ON plan_measures (status, due_at);
