DROP TABLE initial_tokens;
DROP TABLE statement_uses;
DROP TABLE clients;
