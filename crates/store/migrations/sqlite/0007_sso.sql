-- SAML single sign-on's state, shared by the people API's nodes: the
-- AuthnRequests sent and not yet answered (each bound to the browser that
-- started it by the SHA-256 of a cookie, answered once), and the assertions
-- already used (each kept until it expires, so that a replay is refused).
-- Times in microseconds since the epoch.
CREATE TABLE sso_requests (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    browser_sha256 BLOB NOT NULL,
    relay_state    TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX sso_requests_by_tenant ON sso_requests (tenant_id, expires_at);
CREATE INDEX sso_requests_by_expiry ON sso_requests (expires_at);

CREATE TABLE sso_assertions (
    tenant_id    TEXT NOT NULL,
    assertion_id TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, assertion_id)
);
CREATE INDEX sso_assertions_by_expiry ON sso_assertions (expires_at);

-- What the other owners of a tenant must know (an owner's break-glass login
-- while single sign-on is required): shown to them in GET /v1/me.
CREATE TABLE owner_alerts (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX owner_alerts_by_tenant ON owner_alerts (tenant_id, created_at);
