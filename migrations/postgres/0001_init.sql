-- The registry's index. Blobs live in the object store; this maps them to tickets.

-- People and bots who publish tickets.
CREATE TABLE users (
    id          BIGSERIAL PRIMARY KEY,
    -- Public handle, a slug; tickets are addressed as owner/name.
    name        TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- API tokens. Only the sha256 of a token is stored, never the token.
CREATE TABLE api_tokens (
    id          BIGSERIAL PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  BYTEA NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per distinct content: identical uploads share one object.
CREATE TABLE blobs (
    sha256      TEXT PRIMARY KEY,
    -- Key in the object store. Chosen at upload time, before the hash is known.
    object_key  TEXT NOT NULL UNIQUE,
    size_bytes  BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE tickets (
    -- Opaque id (UUIDv7 text), used in URLs and in parent_id.
    id              TEXT PRIMARY KEY,
    -- Insertion order: the tie-breaker and "created" key of keyset pagination.
    seq             BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    owner_id        BIGINT NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    task            TEXT NOT NULL,
    dataset         TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    pruning_method  TEXT NOT NULL,
    -- Trained ticket's score on `metric`, a fraction in [0, 1].
    accuracy        DOUBLE PRECISION NOT NULL,
    dense_accuracy  DOUBLE PRECISION,
    metric          TEXT NOT NULL,
    -- Markdown.
    description     TEXT,
    -- JSON array of slugs.
    tags            JSONB NOT NULL,
    -- The ticket one IMP round earlier, if any.
    parent_id       TEXT REFERENCES tickets (id),
    hyperparameters JSONB,
    paper_url       TEXT,
    code_url        TEXT,
    license         TEXT,
    sha256          TEXT NOT NULL REFERENCES blobs (sha256),
    size_bytes      BIGINT NOT NULL,
    -- Measured by the server: 1 - params_kept / params_total.
    sparsity        DOUBLE PRECISION NOT NULL,
    params_total    BIGINT NOT NULL,
    params_kept     BIGINT NOT NULL,
    -- Per-tensor counts in data-offset order: [{name, dtype, shape, params, kept, prunable}].
    tensors         JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    downloads       BIGINT NOT NULL DEFAULT 0,
    yanked          BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT tickets_owner_name_key UNIQUE (owner_id, name)
);

CREATE INDEX tickets_parent_id_idx ON tickets (parent_id);
CREATE INDEX tickets_sha256_idx ON tickets (sha256);
