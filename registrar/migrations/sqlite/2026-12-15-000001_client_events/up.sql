-- The client feed tells of every change an authorization server's cache must hear: a status
-- the directories' events changed ('status'), metadata updated through RFC 7592 ('updated'),
-- a client deleted ('deleted').
ALTER TABLE client_changes ADD COLUMN event TEXT NOT NULL DEFAULT 'status';
