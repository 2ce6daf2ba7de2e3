-- The operator's search finds names by any part of three characters or more: trigram indexes
-- (pg_trgm, a trusted extension that a database owner may create) of the lowercase names,
-- which serve `lower(name) LIKE '%part%'`. Where the extension cannot be created, the
-- directory still starts and searches the same way, without the index.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX organisations_name_trigrams ON organisations
        USING gin (lower(legal_name) gin_trgm_ops);
    CREATE INDEX software_name_trigrams ON software USING gin (lower(client_name) gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pg_trgm is not available (%): names are searched by part without an index',
        SQLERRM;
END $$;
