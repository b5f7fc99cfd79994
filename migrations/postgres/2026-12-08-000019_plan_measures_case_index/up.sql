-- The case list reads each listed case's open measures by case (its next deadline): without
-- this index that read walked every open measure of the service.
CREATE INDEX plan_measures_case_idx ON plan_measures (case_id, status);
