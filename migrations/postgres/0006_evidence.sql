-- Evidence: results reported against tickets (reproductions, controls, dense baselines,
-- transfers), and the summary the server computes from them, stored with the ticket.

-- One training run reported against a ticket.
CREATE TABLE results (
    -- Insertion order (dump pages, listing order).
    seq             BIGSERIAL PRIMARY KEY,
    -- Opaque id (UUIDv7 text), used in URLs.
    id              TEXT NOT NULL UNIQUE,
    ticket_seq      BIGINT NOT NULL REFERENCES tickets (seq) ON DELETE CASCADE,
    -- Who reported it.
    user_id         BIGINT NOT NULL REFERENCES users (id),
    -- reproduction | random_reinit | random_prune | dense | transfer.
    kind            TEXT NOT NULL,
    -- A fraction in [0, 1] on `metric`.
    accuracy        DOUBLE PRECISION NOT NULL,
    metric          TEXT NOT NULL,
    -- -1 stands for "no seed", so that the unique key treats a missing seed as one value.
    seed            BIGINT NOT NULL,
    -- The ticket's dataset, except for a transfer.
    dataset         TEXT NOT NULL,
    -- layerwise | global, for random_prune only.
    scope           TEXT,
    steps           BIGINT,
    framework       TEXT,
    hardware        TEXT,
    code_url        TEXT,
    notes           TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT results_once_key UNIQUE (ticket_seq, user_id, kind, dataset, seed)
);
CREATE INDEX results_ticket_idx ON results (ticket_seq, seq);
-- The transfer matrix reads transfers only.
CREATE INDEX results_transfer_idx ON results (ticket_seq, dataset, metric) WHERE kind = 'transfer';

-- The evidence summary, recomputed in the transaction that adds or deletes a result. NULL
-- evidence (rows from before this migration, which have no results) is computed on read from
-- the ticket's own accuracy and dense_accuracy.
ALTER TABLE tickets ADD COLUMN evidence JSONB;
ALTER TABLE tickets ADD COLUMN verdict TEXT NOT NULL DEFAULT 'unverified';
ALTER TABLE tickets ADD COLUMN reproductions BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN reproductions_by_others BIGINT NOT NULL DEFAULT 0;
-- The mean of the ticket's accuracy and its reproductions in its metric (frontier
-- `accuracy=reproduced`).
ALTER TABLE tickets ADD COLUMN reproduced_accuracy DOUBLE PRECISION;
UPDATE tickets SET reproduced_accuracy = accuracy;
ALTER TABLE tickets ALTER COLUMN reproduced_accuracy SET NOT NULL;

CREATE INDEX tickets_verdict_accuracy ON tickets (verdict, accuracy, seq) INCLUDE (sparsity, reproductions) WHERE yanked = FALSE;
CREATE INDEX tickets_verdict_created ON tickets (verdict, seq) INCLUDE (sparsity, accuracy, reproductions) WHERE yanked = FALSE;
CREATE INDEX tickets_live_reproductions ON tickets (reproductions, seq) INCLUDE (sparsity, accuracy) WHERE yanked = FALSE;

-- Facet counts kept on write gain the verdict, so the verdict facet is a sum of a few rows.
ALTER TABLE facet_counts ADD COLUMN verdict TEXT NOT NULL DEFAULT 'unverified';
ALTER TABLE facet_counts DROP CONSTRAINT facet_counts_pkey;
ALTER TABLE facet_counts ADD PRIMARY KEY (task, dataset, architecture, pruning_method, yanked, verdict);

-- Takedown records name what was removed: a ticket, or one result (`result_id`).
ALTER TABLE takedowns ADD COLUMN kind TEXT NOT NULL DEFAULT 'ticket';
ALTER TABLE takedowns ADD COLUMN result_id TEXT;

-- Reporting results is its own scope; live tokens that may upload may report.
UPDATE api_tokens SET scopes = scopes || '["results"]'::jsonb
WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
  AND scopes @> '["upload"]'::jsonb AND NOT scopes @> '["results"]'::jsonb;

-- The open-data dump: the latest snapshot's object in the blob store.
CREATE TABLE dumps (
    id              BIGSERIAL PRIMARY KEY,
    object_key      TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    size_bytes      BIGINT NOT NULL,
    tickets         BIGINT NOT NULL,
    results         BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
