-- Intake attempts, SQLite flavour. Keep in step with migrations/postgres/0002_intake_attempts.sql.
-- One row per inbound message (source key), written and committed BEFORE the message is
-- parsed, so a message that panics, hangs or kills the process is known at the next start
-- (state still 'running') and is quarantined after `[limits] max_attempts` tries without
-- being parsed again. See docs/architecture.md, "Poison mail".

CREATE TABLE intake_attempts (
    source_key  TEXT    NOT NULL PRIMARY KEY,
    sha256      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL CHECK (attempts >= 0),
    -- times a process died holding the message (from then on it is parsed in a probe)
    deaths      INTEGER NOT NULL DEFAULT 0 CHECK (deaths >= 0),
    state       TEXT    NOT NULL CHECK (state IN ('running','failed','done','quarantined')),
    last_error  TEXT,
    started_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
CREATE INDEX intake_attempts_state ON intake_attempts (state, updated_at);
