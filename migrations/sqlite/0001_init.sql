-- vardval ledger, SQLite flavour. Keep in step with migrations/postgres/0001_init.sql.
-- Portable types only (read through sqlx's Any driver): ids and flags INTEGER (0/1),
-- timestamps TEXT in RFC 3339 UTC with milliseconds and `Z` (text order = time order),
-- binary BLOB. No BOOLEAN, no native date types.

CREATE TABLE messages (
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
                        'needs_review','unreadable_document','unparseable')),
    clinic_id       TEXT,
    reason          TEXT    NOT NULL,
    processed_at    TEXT    NOT NULL
);
CREATE INDEX messages_mail_message_id ON messages (mail_message_id);
CREATE INDEX messages_sha256 ON messages (sha256);
CREATE INDEX messages_class ON messages (class);

CREATE TABLE submissions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_row_id  INTEGER NOT NULL REFERENCES messages (id),
    clinic_id       TEXT    NOT NULL,
    milestone       INTEGER NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    kind            TEXT    NOT NULL CHECK (kind IN ('submission','supplement')),
    received_at     TEXT    NOT NULL,
    on_time         INTEGER NOT NULL CHECK (on_time IN (0, 1)),
    pre_grade       TEXT    CHECK (pre_grade IN ('green','yellow','red')),
    doc_sha256      TEXT    NOT NULL,
    doc_name        TEXT    NOT NULL,
    doc_format      TEXT,
    analysis_json   TEXT    NOT NULL,
    error_kind      TEXT,
    mail_message_id TEXT,
    created_at      TEXT    NOT NULL,
    CONSTRAINT submissions_version_unique UNIQUE (clinic_id, milestone, version)
);
CREATE INDEX submissions_doc ON submissions (clinic_id, doc_sha256);
CREATE INDEX submissions_received ON submissions (received_at, id);

CREATE TABLE outbox (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    kind                  TEXT    NOT NULL,
    dedupe_key            TEXT    NOT NULL UNIQUE,
    recipient             TEXT    NOT NULL,
    subject               TEXT    NOT NULL,
    raw                   BLOB    NOT NULL,
    mail_message_id       TEXT    NOT NULL,
    status                TEXT    NOT NULL CHECK (status IN ('pending','sending','sent','failed','dead')),
    attempts              INTEGER NOT NULL DEFAULT 0,
    next_attempt_at       TEXT    NOT NULL,
    last_error            TEXT,
    created_at            TEXT    NOT NULL,
    claimed_at            TEXT,
    last_attempt_at       TEXT,
    sent_at               TEXT,
    related_submission_id INTEGER REFERENCES submissions (id),
    related_message_id    INTEGER REFERENCES messages (id)
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient, created_at);
CREATE INDEX outbox_submission ON outbox (related_submission_id);

CREATE TABLE triage (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    message_row_id INTEGER NOT NULL REFERENCES messages (id),
    reason         TEXT    NOT NULL,
    created_at     TEXT    NOT NULL,
    resolved_at    TEXT
);
CREATE INDEX triage_open ON triage (resolved_at, created_at);

CREATE TABLE mailbox_state (
    key         TEXT    PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    updated_at  TEXT    NOT NULL
);

CREATE TABLE daemon_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
