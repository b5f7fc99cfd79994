DROP INDEX plan_measures_case_idx;
