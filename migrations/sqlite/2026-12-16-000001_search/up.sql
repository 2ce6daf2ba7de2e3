-- The operator's search: every identifier a participant or a bank quotes is an indexed
-- lookup, and names are found by prefix, case-insensitively, through an index.
CREATE INDEX organisations_name_search ON organisations (lower(legal_name), id);
CREATE INDEX organisations_registration_number ON organisations (registration_number);
CREATE INDEX organisations_authority_registration_id ON organisations (authority_registration_id);
CREATE INDEX software_name_search ON software (lower(client_name), id);
CREATE INDEX participant_keys_kid_search ON participant_keys (kid);
CREATE INDEX certificates_subject ON certificates (subject);
