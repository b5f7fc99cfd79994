-- When she used her duress PIN on this alert before it was in a case: triage carries the
-- alarm to the case it joins (a new one, or one already open), so it is never lost.
ALTER TABLE alerts ADD COLUMN duress_at TIMESTAMP;
