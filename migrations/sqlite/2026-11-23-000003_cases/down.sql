DROP TABLE idempotency_keys;
DROP TABLE case_notes;
DROP TABLE case_shares;
DROP TABLE case_assignees;
DROP TABLE case_transitions;
DROP TABLE cases;
DROP TABLE case_reference_counters;
