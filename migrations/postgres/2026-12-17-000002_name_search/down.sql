DROP INDEX IF EXISTS organisations_name_trigrams;
DROP INDEX IF EXISTS software_name_trigrams;
