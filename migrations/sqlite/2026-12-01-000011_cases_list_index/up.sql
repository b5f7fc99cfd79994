-- Lists walk an organisation's cases newest first (Case::page_visible) and stop after one
-- page. The filter columns follow `id` in the key, so a filter is tested on the index entry
-- and only matching cases are read from the table (SQLite's deferred seek, PostgreSQL's
-- index conditions on later key columns).
CREATE INDEX cases_owner_id_idx ON cases (owner_organization_id, id, status, severity, country);
