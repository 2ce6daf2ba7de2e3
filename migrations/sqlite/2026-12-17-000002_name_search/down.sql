DROP TRIGGER organisation_names_insert;
DROP TRIGGER organisation_names_delete;
DROP TRIGGER organisation_names_update;
DROP TABLE organisation_names;
DROP TRIGGER software_names_insert;
DROP TRIGGER software_names_delete;
DROP TRIGGER software_names_update;
DROP TABLE software_names;
