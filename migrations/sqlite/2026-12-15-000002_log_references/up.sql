-- What a log entry is of, to show its index beside it: a statement's jti, a certificate's
-- serial, an event's cursor.
ALTER TABLE log_entries ADD COLUMN reference TEXT;
CREATE INDEX log_entries_reference ON log_entries (reference);
