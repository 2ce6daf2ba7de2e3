ALTER TABLE issued_ssas DROP COLUMN environment;
