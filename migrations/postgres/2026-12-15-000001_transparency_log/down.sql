DROP TABLE log_state;
DROP TABLE log_checkpoints;
DROP TABLE log_hashes;
DROP TABLE log_entries;
