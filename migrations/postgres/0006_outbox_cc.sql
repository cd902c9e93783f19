-- Several envelope recipients per outbox row (a reminder to all of a clinic's addresses, a
-- decision mail with Cc): `recipient` stays the first (primary) one, `cc` holds the further
-- envelope recipients in order, comma-separated, as given ('' for none). The
-- sender hands the row's bytes to all of them in one SMTP transaction; the per-recipient rate
-- limits count a row for each of its recipients.
ALTER TABLE outbox ADD COLUMN cc TEXT NOT NULL DEFAULT '';
