DROP TABLE entity_configurations;
DELETE FROM signing_keys WHERE purpose = 'federation';
DROP INDEX signing_keys_one_per_live_state;
CREATE UNIQUE INDEX signing_keys_one_per_live_state ON signing_keys(state)
    WHERE state IN ('active', 'next');
ALTER TABLE signing_keys DROP COLUMN purpose;
