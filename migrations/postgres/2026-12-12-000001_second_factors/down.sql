ALTER TABLE sessions DROP COLUMN second_factor_at;
ALTER TABLE sessions DROP COLUMN awaiting_second_factor;
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
