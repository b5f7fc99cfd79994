-- Safety check-ins: "check in with me by <time>". A check-in still pending when its time
-- passes starts the `checkin-missed` escalation. Only times and statuses are stored: where
-- and how she checks in stays in the sealed case notes.
CREATE TABLE checkins (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    due_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled')),
    created_by TEXT NOT NULL REFERENCES users (id),
    closed_by TEXT REFERENCES users (id),
    closed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX checkins_case_idx ON checkins (case_id, due_at);
