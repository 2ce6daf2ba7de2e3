-- Operators' API tokens expire (operator_token_ttl_days); others may.
ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMP;
