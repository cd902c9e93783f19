-- Decisions awaiting a second reviewer (the two-person rule, `[reviewers] two_person_rule`),
-- SQLite flavour. Keep in step with migrations/postgres/0010_pending_decisions.sql.
-- A pending decision is NOT a decision: nothing here counts for the board or the payouts and
-- nothing is in the outbox. It keeps the decision as proposed and its composed (possibly
-- edited) mail until a different reviewer countersigns it (then, in one transaction, the
-- decision row, the outbox row and the audit row are written and `state` becomes
-- 'countersigned' with `decision_id`) or rejects it ('rejected'). At most one pending row per
-- submission is open at a time.
CREATE TABLE pending_decisions (
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
    proposed_by          TEXT    NOT NULL,
    proposed_at          TEXT    NOT NULL,
    -- The submission's latest decision when proposed (0: none).
    follows              INTEGER NOT NULL,
    -- The composed decision mail (all NULL: no mail).
    mail_recipient       TEXT,
    mail_cc              TEXT,
    mail_subject         TEXT,
    mail_body            TEXT,
    mail_raw             BLOB,
    mail_message_id      TEXT,
    state                TEXT    NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending','countersigned','rejected')),
    resolved_by          TEXT,
    resolved_at          TEXT,
    resolve_comment      TEXT,
    decision_id          INTEGER REFERENCES decisions (id)
);
CREATE UNIQUE INDEX pending_decisions_open ON pending_decisions (submission_id)
    WHERE state = 'pending';
CREATE INDEX pending_decisions_state ON pending_decisions (state, id);
