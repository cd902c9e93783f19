-- Scheduler runs: one row per (job, due slot). UNIQUE(job, due_at) makes a due time run at
-- most once even with two daemons on one database; a run that crashed mid-way (finished_at
-- NULL) is taken over once its lease has expired. Times are RFC 3339 UTC text.
CREATE TABLE job_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job         TEXT    NOT NULL,
    due_at      TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    outcome     TEXT,
    owner       TEXT    NOT NULL,
    lease_until TEXT    NOT NULL,
    attempts    BIGINT  NOT NULL DEFAULT 1,
    CONSTRAINT job_runs_slot_unique UNIQUE (job, due_at)
);
CREATE INDEX job_runs_job ON job_runs (job, due_at);

-- Reminder units skipped while `[reminders] paused = true`: recorded so that they are not
-- sent later in a burst when the pause ends.
CREATE TABLE job_skips (
    unit_key   TEXT PRIMARY KEY,
    job        TEXT NOT NULL,
    due_at     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
