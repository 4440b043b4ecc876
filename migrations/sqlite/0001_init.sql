-- The registry's index. Blobs live in the object store; this maps them to tickets.
-- SQLite flavour of migrations/postgres: same tables, same names; JSON is TEXT, time is RFC 3339 TEXT.

-- People and bots who publish tickets.
CREATE TABLE users (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Public handle, a slug; tickets are addressed as owner/name.
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- API tokens. Only the sha256 of a token is stored, never the token.
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- One row per distinct content: identical uploads share one object.
CREATE TABLE blobs (
    sha256      TEXT PRIMARY KEY,
    -- Key in the object store. Chosen at upload time, before the hash is known.
    object_key  TEXT NOT NULL UNIQUE,
    size_bytes  INTEGER NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE tickets (
    -- Insertion order: the tie-breaker and "created" key of keyset pagination.
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Opaque id (UUIDv7 text), used in URLs and in parent_id.
    id              TEXT NOT NULL UNIQUE,
    owner_id        INTEGER NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    task            TEXT NOT NULL,
    dataset         TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    pruning_method  TEXT NOT NULL,
    -- Trained ticket's score on `metric`, a fraction in [0, 1].
    accuracy        REAL NOT NULL,
    dense_accuracy  REAL,
    metric          TEXT NOT NULL,
    -- Markdown.
    description     TEXT,
    -- JSON array of slugs.
    tags            TEXT NOT NULL,
    -- The ticket one IMP round earlier, if any.
    parent_id       TEXT REFERENCES tickets (id),
    hyperparameters TEXT,
    paper_url       TEXT,
    code_url        TEXT,
    license         TEXT,
    sha256          TEXT NOT NULL REFERENCES blobs (sha256),
    size_bytes      INTEGER NOT NULL,
    -- Measured by the server: 1 - params_kept / params_total.
    sparsity        REAL NOT NULL,
    params_total    INTEGER NOT NULL,
    params_kept     INTEGER NOT NULL,
    -- Per-tensor counts in data-offset order: [{name, dtype, shape, params, kept, prunable}].
    tensors         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    downloads       INTEGER NOT NULL DEFAULT 0,
    yanked          INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT tickets_owner_name_key UNIQUE (owner_id, name)
);

CREATE INDEX tickets_parent_id_idx ON tickets (parent_id);
CREATE INDEX tickets_sha256_idx ON tickets (sha256);
