DROP TABLE case_key_grants;
DROP TABLE case_keys;
DROP TABLE service_keys;
