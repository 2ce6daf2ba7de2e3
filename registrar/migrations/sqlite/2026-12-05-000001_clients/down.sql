DROP TABLE client_changes;
DROP TABLE directory_cursors;
DROP TABLE initial_tokens;
DROP TABLE statement_uses;
DROP TABLE clients;
