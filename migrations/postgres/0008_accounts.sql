-- Accounts: sign-in with OpenID Connect, browser sessions, organizations (docs/accounts.md).

-- A user and an organization share one namespace of owner slugs, so both are rows here.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'user';
ALTER TABLE users ADD COLUMN display_name TEXT;
-- The ORCID iD of an ORCID sign-in (a provider with KIND=orcid): verified by that provider.
ALTER TABLE users ADD COLUMN orcid TEXT;

-- Who signs in as whom: one row per (issuer, subject), as OpenID Connect defines identity.
CREATE TABLE identities (
    id              BIGSERIAL PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The configured provider's id (`local`, `orcid`...), for display.
    provider        TEXT NOT NULL,
    issuer          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    email           TEXT,
    name            TEXT,
    orcid           TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    last_login_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT identities_subject_key UNIQUE (issuer, subject)
);
CREATE INDEX identities_user_idx ON identities (user_id);

-- Browser sessions, here so that every replica sees them. Only the cookie's sha256 is stored.
CREATE TABLE sessions (
    id              BIGSERIAL PRIMARY KEY,
    token_hash      BYTEA NOT NULL UNIQUE,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Sent back by the page in X-CSRF-Token on every state-changing request.
    csrf_token      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    last_seen_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expiry_idx ON sessions (expires_at);

-- A sign-in under way, from the redirect to the provider to its callback: any replica may
-- finish it, once (the row is deleted as it is used). Keyed by the sha256 of `state`; bound to
-- the browser that started it by the sha256 of a cookie set then.
CREATE TABLE sign_ins (
    state_hash      BYTEA PRIMARY KEY,
    browser_hash    BYTEA NOT NULL,
    provider        TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    pkce_verifier   TEXT NOT NULL,
    -- Set when a signed-in user links a second provider to their account.
    link_user_id    BIGINT REFERENCES users (id) ON DELETE CASCADE,
    return_to       TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);

-- A first sign-in whose user has still to pick a username. Keyed by the sha256 of its cookie.
CREATE TABLE pending_accounts (
    token_hash      BYTEA PRIMARY KEY,
    csrf_token      TEXT NOT NULL,
    provider        TEXT NOT NULL,
    issuer          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    email           TEXT,
    name            TEXT,
    orcid           TEXT,
    return_to       TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);

-- Organization membership: role 'admin' or 'member'.
CREATE TABLE org_members (
    org_id          BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user_idx ON org_members (user_id);

-- Who published a ticket; the owner may be an organization. Older rows: the owner did.
ALTER TABLE tickets ADD COLUMN uploader_id BIGINT REFERENCES users (id);
UPDATE tickets SET uploader_id = owner_id;

-- A profile lists the results a user reported.
CREATE INDEX results_user_idx ON results (user_id, seq);

-- Managing organizations is its own scope; live tokens that may manage tokens get it.
UPDATE api_tokens SET scopes = scopes || '["orgs"]'::jsonb
WHERE scopes ? 'tokens' AND NOT scopes ? 'orgs';
