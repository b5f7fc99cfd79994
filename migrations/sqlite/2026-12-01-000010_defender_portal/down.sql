DELETE FROM checkins WHERE created_by IS NULL;
CREATE TABLE checkins_old (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    due_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled')),
    created_by TEXT NOT NULL REFERENCES users (id),
    closed_by TEXT REFERENCES users (id),
    closed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO checkins_old (id, case_id, due_at, status, created_by, closed_by, closed_at, created_at)
    SELECT id, case_id, due_at, status, created_by, closed_by, closed_at, created_at FROM checkins;
DROP TABLE checkins;
ALTER TABLE checkins_old RENAME TO checkins;
CREATE INDEX checkins_case_idx ON checkins (case_id, due_at);
DROP TABLE messages;
DROP TABLE form_submissions;
DROP TABLE receipts;
ALTER TABLE alerts DROP COLUMN reporter_name_ct;
ALTER TABLE alerts DROP COLUMN occurred_on_ct;
