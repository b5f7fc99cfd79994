-- Audit rows waiting to be linked into the chain: used on PostgreSQL only (see the
-- PostgreSQL migration). SQLite has one writer at a time and links inside the transaction;
-- the table exists here so both backends share one schema.
CREATE TABLE audit_pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
    detail TEXT
);
