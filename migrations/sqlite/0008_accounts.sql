-- The SQLite flavour of migrations/postgres/0008_accounts.sql (comments there).

ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'user';
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN orcid TEXT;

CREATE TABLE identities (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider        TEXT NOT NULL,
    issuer          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    email           TEXT,
    name            TEXT,
    orcid           TEXT,
    created_at      TEXT NOT NULL,
    last_login_at   TEXT NOT NULL,
    CONSTRAINT identities_subject_key UNIQUE (issuer, subject)
);
CREATE INDEX identities_user_idx ON identities (user_id);

CREATE TABLE sessions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash      BLOB NOT NULL UNIQUE,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expiry_idx ON sessions (expires_at);

CREATE TABLE sign_ins (
    state_hash      BLOB PRIMARY KEY,
    browser_hash    BLOB NOT NULL,
    provider        TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    pkce_verifier   TEXT NOT NULL,
    link_user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    return_to       TEXT,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL
);

CREATE TABLE pending_accounts (
    token_hash      BLOB PRIMARY KEY,
    csrf_token      TEXT NOT NULL,
    provider        TEXT NOT NULL,
    issuer          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    email           TEXT,
    name            TEXT,
    orcid           TEXT,
    return_to       TEXT,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL
);

CREATE TABLE org_members (
    org_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user_idx ON org_members (user_id);

ALTER TABLE tickets ADD COLUMN uploader_id INTEGER REFERENCES users (id);
UPDATE tickets SET uploader_id = owner_id;

CREATE INDEX results_user_idx ON results (user_id, seq);

UPDATE api_tokens SET scopes = json_insert(scopes, '$[#]', 'orgs')
WHERE EXISTS (SELECT 1 FROM json_each(api_tokens.scopes) WHERE value = 'tokens')
  AND NOT EXISTS (SELECT 1 FROM json_each(api_tokens.scopes) WHERE value = 'orgs');
