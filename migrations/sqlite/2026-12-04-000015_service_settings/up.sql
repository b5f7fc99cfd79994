-- Settings an admin changes while Haven runs (which organisation receives the web form's
-- alerts), shared by every instance on this database. Never secrets.
CREATE TABLE service_settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_by TEXT REFERENCES users (id),
    updated_at TIMESTAMP NOT NULL
);
