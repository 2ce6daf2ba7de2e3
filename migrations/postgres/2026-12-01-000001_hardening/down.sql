ALTER TABLE software DROP COLUMN pending_change;
DROP TABLE invitations;
ALTER TABLE users DROP COLUMN disabled_at;
DROP TABLE sessions;
