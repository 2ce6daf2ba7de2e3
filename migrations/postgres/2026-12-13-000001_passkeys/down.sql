ALTER TABLE organisations DROP COLUMN require_second_factor;
DROP TABLE webauthn_ceremonies;
DROP TABLE passkeys;
