-- The reviewers' desk: local accounts, sessions and sign-in attempts. Times are RFC 3339 UTC
-- text; flags are INTEGER 0/1 (see src/store/mod.rs).
CREATE TABLE users (
    username      TEXT    PRIMARY KEY,
    role          TEXT    NOT NULL CHECK (role IN ('reviewer', 'admin', 'finance', 'coach')),
    password_hash TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

-- One row per signed-in browser. The cookie carries a random 256-bit id; only its SHA-256 is
-- stored, so a copy of the database does not sign anyone in.
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES users (username),
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX sessions_username ON sessions (username);

-- Every sign-in attempt, for the per-username and per-address rate limits.
CREATE TABLE login_attempts (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    username  TEXT    NOT NULL,
    client_ip TEXT    NOT NULL,
    at        TEXT    NOT NULL,
    ok        INTEGER NOT NULL
);
CREATE INDEX login_attempts_username ON login_attempts (username, at);
CREATE INDEX login_attempts_ip ON login_attempts (client_ip, at);
