-- Reminders of certificates about to expire, one per certificate and threshold (30 and 7
-- days): the row is written with the message, so two instances never send the same one.
CREATE TABLE certificate_reminders (
    serial TEXT NOT NULL REFERENCES certificates (serial),
    threshold_days INTEGER NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    PRIMARY KEY (serial, threshold_days)
);
CREATE INDEX certificates_expiry ON certificates (status, not_after);
