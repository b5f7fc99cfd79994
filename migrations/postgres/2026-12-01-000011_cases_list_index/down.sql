DROP INDEX cases_owner_id_idx;
