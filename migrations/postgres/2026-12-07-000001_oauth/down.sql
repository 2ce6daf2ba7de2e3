DROP TABLE client_assertions;
DROP TABLE client_tokens;
