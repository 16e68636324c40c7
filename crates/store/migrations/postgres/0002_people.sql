-- Operational state of the people API (logins, sessions, second factor, login throttling,
-- support access). Not a projection: Store::reset leaves these tables alone, and nothing here
-- is rebuilt from the log. Times are microseconds since the Unix epoch; `scope` is a tenant id,
-- or '-' for installation-level support users. Hashes are SHA-256 values: a token or code itself
-- is never stored.

-- Browser sessions, personal API tokens, enrolment links and pending second-factor challenges,
-- looked up by the hash of their secret. A row is live while revoked_at is NULL, expires_at is in
-- the future and (with an idle timeout) it was used less than idle_micros ago.
CREATE TABLE sessions (
    token_sha256 BYTEA NOT NULL PRIMARY KEY CHECK (octet_length(token_sha256) = 32),
    id           TEXT NOT NULL UNIQUE,
    scope        TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('session', 'token', 'enrol', 'challenge')),
    name         TEXT,
    created_at   BIGINT NOT NULL,
    -- The user's credential epoch (sessions_not_before in the directory) the login saw: a
    -- session whose epoch is older than the user's current one is no longer valid.
    epoch        BIGINT NOT NULL DEFAULT 0,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    idle_micros  BIGINT CHECK (idle_micros >= 0),
    revoked_at   BIGINT,
    attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_by_user ON sessions (scope, user_id);

-- The newest TOTP time step accepted per user: a code is accepted at most once, and never one
-- older than the newest accepted.
CREATE TABLE totp_steps (
    scope     TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    last_step BIGINT NOT NULL,
    PRIMARY KEY (scope, user_id)
);

-- A TOTP enrolment waiting for its first code: the seed, sealed by the caller. One per user.
CREATE TABLE totp_pending (
    scope       TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    sealed_seed BYTEA NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, user_id)
);

-- Recovery codes already used, by hash: each is accepted once.
CREATE TABLE recovery_codes_used (
    scope       TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    code_sha256 BYTEA NOT NULL CHECK (octet_length(code_sha256) = 32),
    used_at     BIGINT NOT NULL,
    PRIMARY KEY (scope, user_id, code_sha256)
);

-- Failed logins per account name, shared by every node: growing lockouts.
CREATE TABLE login_throttle (
    scope        TEXT NOT NULL,
    account      TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, account)
);

-- Each request a support user made under a tenant's access grant.
CREATE TABLE support_uses (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    grant_id     TEXT NOT NULL,
    scope        TEXT NOT NULL,
    support_user TEXT NOT NULL,
    at           BIGINT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL
);
CREATE INDEX support_uses_by_grant ON support_uses (scope, grant_id, at);
