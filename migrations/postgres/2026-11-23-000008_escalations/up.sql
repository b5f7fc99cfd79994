-- Escalations: one row per (policy, subject) chain, with the step and loop it is at and when
-- it is next due. Every engine instance claims due rows through the partial index on
-- next_due_at (NULL once the chain has ended). The outbox holds the notifications a step
-- produced, written in the same transaction as the step, one row per recipient: the unique
-- key makes a step impossible to notify twice. Mails carry only the case reference and the
-- rule's description, never case content.
CREATE TABLE escalations (
    id TEXT PRIMARY KEY NOT NULL,
    policy_id TEXT NOT NULL,
    policy_hash TEXT NOT NULL,
    event TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    case_id TEXT REFERENCES cases (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    reference TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'acknowledged', 'stopped', 'completed')),
    anchor_at TIMESTAMP NOT NULL,
    step INTEGER NOT NULL CHECK (step >= 0),
    loop_no INTEGER NOT NULL CHECK (loop_no >= 0),
    next_due_at TIMESTAMP,
    last_fired_at TIMESTAMP,
    acknowledged_by TEXT REFERENCES users (id),
    acknowledged_at TIMESTAMP,
    ended_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((status = 'active') = (next_due_at IS NOT NULL))
);
CREATE UNIQUE INDEX escalations_one_active ON escalations (policy_id, subject_kind, subject_id)
    WHERE status = 'active';
CREATE INDEX escalations_due ON escalations (next_due_at) WHERE next_due_at IS NOT NULL;
CREATE INDEX escalations_org ON escalations (organization_id, status);
CREATE INDEX escalations_case ON escalations (case_id);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    escalation_id TEXT NOT NULL REFERENCES escalations (id),
    step INTEGER NOT NULL,
    loop_no INTEGER NOT NULL,
    target TEXT NOT NULL,
    recipient TEXT NOT NULL,
    user_id TEXT REFERENCES users (id),
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    deadline_at TIMESTAMP NOT NULL,
    last_error TEXT,
    sent_at TIMESTAMP,
    acked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (escalation_id, step, loop_no, recipient)
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
