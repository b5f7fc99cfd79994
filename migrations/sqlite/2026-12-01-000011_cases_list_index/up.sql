-- Lists walk an organisation's cases newest first (Case::page_visible) and stop after one page.
CREATE INDEX cases_owner_id_idx ON cases (owner_organization_id, id);
