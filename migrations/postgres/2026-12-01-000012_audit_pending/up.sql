-- Audit rows written by a transaction, waiting to be linked into the chain (audit_events).
-- On PostgreSQL a change commits with its rows here, without the chain's lock, and the rows
-- are linked right after, under the lock, many at a time, by one writer of the instance
-- (crate::audit::try_link_pending, Db::write_blocking): the lock is no longer held through
-- every change's COMMIT. A crash in between leaves the rows here, durable, and the next link
-- takes them. SQLite (one writer at a time) links inside
-- the transaction and leaves this table empty.
CREATE TABLE audit_pending (
    id BIGSERIAL PRIMARY KEY,
    occurred_at TIMESTAMP NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
    detail TEXT
);
