-- Reviewer decisions, presentations and the audit log, SQLite flavour. Keep in step with
-- migrations/postgres/0007_reviews.sql.
-- `decisions` keeps every decision ever made (never updated except to link the decision
-- email's outbox row once, in the same transaction); the current decision of a clinic and
-- milestone is the latest row. `presentations`: one row per clinic and cycle year.
-- `audit_log` is append-only and hash-chained: `hash` = SHA-256 over the canonical form of
-- the row including `prev_hash` (see src/store/audit.rs); `prev_hash` is UNIQUE so two
-- writers can never fork the chain.

CREATE TABLE decisions (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id        INTEGER NOT NULL REFERENCES submissions (id),
    clinic_id            TEXT    NOT NULL,
    year                 INTEGER NOT NULL,
    milestone            INTEGER NOT NULL,
    grade                TEXT    NOT NULL CHECK (grade IN ('green','yellow','red')),
    sections_json        TEXT    NOT NULL,
    pre_grade            TEXT    CHECK (pre_grade IN ('green','yellow','red')),
    agreed_with_pregrade INTEGER NOT NULL CHECK (agreed_with_pregrade IN (0, 1)),
    comment              TEXT,
    decided_by           TEXT    NOT NULL,
    decided_at           TEXT    NOT NULL,
    mail_outbox_id       INTEGER REFERENCES outbox (id)
);
CREATE INDEX decisions_year ON decisions (year, clinic_id, milestone, id);
CREATE INDEX decisions_submission ON decisions (submission_id, id);

CREATE TABLE presentations (
    clinic_id     TEXT    NOT NULL,
    year          INTEGER NOT NULL,
    registered_by TEXT    NOT NULL,
    registered_at TEXT    NOT NULL,
    note          TEXT,
    PRIMARY KEY (clinic_id, year)
);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        TEXT    NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    detail    TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL UNIQUE,
    hash      TEXT    NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
