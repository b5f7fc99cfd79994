DROP TABLE outbox;
DROP TABLE escalations;
