-- Payouts (docs/payouts.md). A batch is sealed once per due date (the local date of the run):
-- its lines, the blocked clinics, the header (payer, file format) and the files rendered
-- from it are written in one transaction with the finance mail's outbox rows. Nothing here
-- is ever updated after the seal except files_written_at. What was paid is the sum of the
-- sealed lines; corrections and reclaims are new lines in later batches.
CREATE TABLE payout_batches (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    number           BIGINT  NOT NULL,
    due_date         TEXT    NOT NULL,
    sealed_at        TEXT    NOT NULL,
    header_json      TEXT    NOT NULL,
    blocked_json     TEXT    NOT NULL,
    line_count       BIGINT  NOT NULL,
    total_ore        BIGINT  NOT NULL,
    transfer_ore     BIGINT  NOT NULL,
    sha256           TEXT    NOT NULL,
    files_written_at TEXT,
    CONSTRAINT payout_batches_number_unique UNIQUE (number),
    CONSTRAINT payout_batches_due_unique UNIQUE (due_date)
);

CREATE TABLE payout_lines (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id    BIGINT  NOT NULL REFERENCES payout_batches (id),
    seq         BIGINT  NOT NULL,
    clinic_id   TEXT    NOT NULL,
    year        BIGINT  NOT NULL,
    instalment  BIGINT  NOT NULL,
    kind        TEXT    NOT NULL,
    amount_ore  BIGINT  NOT NULL,
    payee       TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    org_nr      TEXT,
    reference   TEXT    NOT NULL,
    CONSTRAINT payout_lines_seq_unique UNIQUE (batch_id, seq)
);
CREATE INDEX payout_lines_clinic ON payout_lines (clinic_id, year, instalment);

-- The files exactly as sealed (UTF-8 text); delivery writes these bytes.
CREATE TABLE payout_files (
    batch_id BIGINT NOT NULL REFERENCES payout_batches (id),
    name     TEXT   NOT NULL,
    sha256   TEXT   NOT NULL,
    content  TEXT   NOT NULL,
    CONSTRAINT payout_files_pk PRIMARY KEY (batch_id, name)
);

-- Reclaim proposals (återkrav) of instalment 1 and the reviewer's decision on each.
CREATE TABLE payout_reclaims (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id   TEXT    NOT NULL,
    year        BIGINT  NOT NULL,
    state       TEXT    NOT NULL,
    amount_ore  BIGINT  NOT NULL,
    proposed_at TEXT    NOT NULL,
    decided_by  TEXT,
    decided_at  TEXT,
    reason      TEXT,
    CONSTRAINT payout_reclaims_unique UNIQUE (clinic_id, year)
);
