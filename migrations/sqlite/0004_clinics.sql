-- The clinic registry, SQLite flavour. Keep in step with migrations/postgres/0004_clinics.sql.
-- `clinics` is the current state (one row per clinic, cheap to read); `clinic_inhabitants`
-- holds the listed inhabitants per cycle year; `clinic_changes` keeps every change of every
-- field with who made it and when (never updated, never deleted).

CREATE TABLE clinics (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    emails      TEXT    NOT NULL,           -- addresses and @domains, lower case, sorted, ';'
    hsa_id      TEXT,
    org_nr      TEXT,
    payee       TEXT,                       -- bg:NNNN-NNNN, pg:NNNNNN-N or iban:SE…
    active      INTEGER NOT NULL CHECK (active IN (0, 1)),
    updated_at  TEXT    NOT NULL,
    updated_by  TEXT    NOT NULL
);

CREATE TABLE clinic_inhabitants (
    clinic_id       TEXT    NOT NULL REFERENCES clinics (id),
    year            INTEGER NOT NULL,
    listed          INTEGER NOT NULL CHECK (listed >= 0),
    reference_date  TEXT    NOT NULL,       -- YYYY-MM-DD
    PRIMARY KEY (clinic_id, year)
);

CREATE TABLE clinic_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id   TEXT    NOT NULL REFERENCES clinics (id),
    field       TEXT    NOT NULL,
    old_value   TEXT,
    new_value   TEXT,
    changed_by  TEXT    NOT NULL,
    changed_at  TEXT    NOT NULL
);
CREATE INDEX clinic_changes_clinic ON clinic_changes (clinic_id, id);
