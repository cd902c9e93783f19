-- OpenID Connect sign-in (src/web/oidc/): one row per sign-in started at the provider and not
-- yet come back. The browser holds the state in a cookie; only its SHA-256 is stored. The row is
-- taken (deleted) when the provider sends the browser back, so a state works once; rows older
-- than their expiry are swept when a new sign-in starts. Times are RFC 3339 UTC text.
CREATE TABLE oidc_pending (
    state_hash    TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    next_path     TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
CREATE INDEX oidc_pending_expires ON oidc_pending (expires_at);
