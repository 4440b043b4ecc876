-- The SQLite flavour of migrations/postgres/0006_evidence.sql (comments there).

CREATE TABLE results (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    ticket_seq      INTEGER NOT NULL REFERENCES tickets (seq) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users (id),
    kind            TEXT NOT NULL,
    accuracy        REAL NOT NULL,
    metric          TEXT NOT NULL,
    seed            INTEGER NOT NULL,
    dataset         TEXT NOT NULL,
    scope           TEXT,
    steps           INTEGER,
    framework       TEXT,
    hardware        TEXT,
    code_url        TEXT,
    notes           TEXT,
    created_at      TEXT NOT NULL,
    CONSTRAINT results_once_key UNIQUE (ticket_seq, user_id, kind, dataset, seed)
);
CREATE INDEX results_ticket_idx ON results (ticket_seq, seq);
CREATE INDEX results_transfer_idx ON results (ticket_seq, dataset, metric) WHERE kind = 'transfer';

ALTER TABLE tickets ADD COLUMN evidence TEXT;
ALTER TABLE tickets ADD COLUMN verdict TEXT NOT NULL DEFAULT 'unverified';
ALTER TABLE tickets ADD COLUMN reproductions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN reproductions_by_others INTEGER NOT NULL DEFAULT 0;
-- SQLite cannot add a NOT NULL column without a constant default; every write sets it.
ALTER TABLE tickets ADD COLUMN reproduced_accuracy REAL NOT NULL DEFAULT 0;
UPDATE tickets SET reproduced_accuracy = accuracy;

CREATE INDEX tickets_verdict_accuracy ON tickets (verdict, accuracy, seq, sparsity, reproductions) WHERE yanked = FALSE;
CREATE INDEX tickets_verdict_created ON tickets (verdict, seq, sparsity, accuracy, reproductions) WHERE yanked = FALSE;
CREATE INDEX tickets_live_reproductions ON tickets (reproductions, seq, sparsity, accuracy) WHERE yanked = FALSE;

-- A primary key cannot change in place: the table is rebuilt with the verdict in its key.
CREATE TABLE facet_counts_new (
    task            TEXT NOT NULL,
    dataset         TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    pruning_method  TEXT NOT NULL,
    yanked          INTEGER NOT NULL,
    verdict         TEXT NOT NULL DEFAULT 'unverified',
    n               INTEGER NOT NULL,
    PRIMARY KEY (task, dataset, architecture, pruning_method, yanked, verdict)
);
INSERT INTO facet_counts_new (task, dataset, architecture, pruning_method, yanked, n)
    SELECT task, dataset, architecture, pruning_method, yanked, n FROM facet_counts;
DROP TABLE facet_counts;
ALTER TABLE facet_counts_new RENAME TO facet_counts;

ALTER TABLE takedowns ADD COLUMN kind TEXT NOT NULL DEFAULT 'ticket';
ALTER TABLE takedowns ADD COLUMN result_id TEXT;

UPDATE api_tokens SET scopes = json_insert(scopes, '$[#]', 'results')
WHERE revoked_at IS NULL
  AND (expires_at IS NULL OR julianday(expires_at) > julianday('now'))
  AND EXISTS (SELECT 1 FROM json_each(api_tokens.scopes) WHERE value = 'upload')
  AND NOT EXISTS (SELECT 1 FROM json_each(api_tokens.scopes) WHERE value = 'results');

CREATE TABLE dumps (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    object_key      TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    size_bytes      INTEGER NOT NULL,
    tickets         INTEGER NOT NULL,
    results         INTEGER NOT NULL,
    created_at      TEXT NOT NULL
);
