-- Message class 'precheck' (Förhandskontroll), SQLite flavour. Keep in step with
-- migrations/postgres/0003_precheck_class.sql.
-- SQLite cannot alter a CHECK constraint, so the table is rebuilt the documented way
-- (https://sqlite.org/lang_altertable.html#otheralter): Store::connect runs migrations on a
-- connection with foreign keys off and runs PRAGMA foreign_key_check afterwards. Same
-- columns, same indexes; only the class list grows.

CREATE TABLE messages_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    source_key      TEXT    NOT NULL UNIQUE,
    sha256          TEXT    NOT NULL,
    archive_path    TEXT    NOT NULL,
    received_at     TEXT    NOT NULL,
    mail_message_id TEXT,
    from_addr       TEXT,
    subject         TEXT    NOT NULL,
    class           TEXT    NOT NULL CHECK (class IN ('submission','no_document','supplement',
                        'duplicate','auto_reply','bounce','mailing_list','unknown_sender',
                        'needs_review','unreadable_document','unparseable','precheck')),
    clinic_id       TEXT,
    reason          TEXT    NOT NULL,
    processed_at    TEXT    NOT NULL
);
INSERT INTO messages_new (id, source_key, sha256, archive_path, received_at, mail_message_id,
                          from_addr, subject, class, clinic_id, reason, processed_at)
    SELECT id, source_key, sha256, archive_path, received_at, mail_message_id,
           from_addr, subject, class, clinic_id, reason, processed_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_mail_message_id ON messages (mail_message_id);
CREATE INDEX messages_sha256 ON messages (sha256);
CREATE INDEX messages_class ON messages (class);
