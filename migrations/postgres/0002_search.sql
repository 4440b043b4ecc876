-- Search, facets, browsing. Everything a list page needs is served by an index.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- What `q` matches: lowercased name, description, architecture, dataset and tags, kept by the
-- application on insert and edit. A trigram index serves substring matches (LIKE '%q%').
ALTER TABLE tickets ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
CREATE INDEX tickets_search_trgm ON tickets USING gin (search_text gin_trgm_ops);

-- One row per (tag, ticket): tag filters and tag facets.
CREATE TABLE ticket_tags (
    tag         TEXT NOT NULL,
    ticket_seq  BIGINT NOT NULL REFERENCES tickets (seq) ON DELETE CASCADE,
    PRIMARY KEY (tag, ticket_seq)
);
CREATE INDEX ticket_tags_ticket_idx ON ticket_tags (ticket_seq);

-- Facet counts kept on write, in the same transaction as the ticket change. A GROUP BY over a
-- popular task at 1M rows costs seconds; summing these rows costs microseconds. Used when the
-- filters are only task / dataset / architecture / pruning_method.
CREATE TABLE facet_counts (
    task            TEXT NOT NULL,
    dataset         TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    pruning_method  TEXT NOT NULL,
    yanked          BOOLEAN NOT NULL,
    n               BIGINT NOT NULL,
    PRIMARY KEY (task, dataset, architecture, pruning_method, yanked)
);
CREATE TABLE tag_counts (
    task            TEXT NOT NULL,
    dataset         TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    pruning_method  TEXT NOT NULL,
    yanked          BOOLEAN NOT NULL,
    tag             TEXT NOT NULL,
    n               BIGINT NOT NULL,
    PRIMARY KEY (task, dataset, architecture, pruning_method, yanked, tag)
);

-- Filter + sort indexes over live tickets (yanked ones leave lists unless asked for). Each ends
-- in the sort key and seq, the keyset tie-breaker, so a page is one index range scan. Each also
-- carries sparsity and accuracy, so range filters on them are checked inside an index-only scan
-- (a page's seqs are found first, then only those rows are read).
CREATE INDEX tickets_live_created ON tickets (seq) INCLUDE (sparsity, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_live_accuracy ON tickets (accuracy, seq) INCLUDE (sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_live_sparsity ON tickets (sparsity, seq) INCLUDE (accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_live_downloads ON tickets (downloads, seq) INCLUDE (sparsity, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_task_created ON tickets (task, seq) INCLUDE (sparsity, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_task_accuracy ON tickets (task, accuracy, seq) INCLUDE (sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_task_sparsity ON tickets (task, sparsity, seq) INCLUDE (accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_task_downloads ON tickets (task, downloads, seq) INCLUDE (sparsity, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_task_dataset_created ON tickets (task, dataset, seq) INCLUDE (sparsity, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_task_dataset_accuracy ON tickets (task, dataset, accuracy, seq) INCLUDE (sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_task_dataset_sparsity ON tickets (task, dataset, sparsity, seq) INCLUDE (accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_tda_accuracy ON tickets (task, dataset, architecture, accuracy, seq) INCLUDE (sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_tda_sparsity ON tickets (task, dataset, architecture, sparsity, seq) INCLUDE (accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_dataset_accuracy ON tickets (dataset, accuracy, seq) INCLUDE (sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_architecture_accuracy ON tickets (architecture, accuracy, seq) INCLUDE (sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_method_created ON tickets (pruning_method, seq) INCLUDE (sparsity, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_owner_created ON tickets (owner_id, seq);

-- task, dataset and architecture are strongly correlated (imagenet goes with resnet50); without
-- this the planner multiplies their selectivities and misjudges row counts.
CREATE STATISTICS tickets_task_dataset_arch (dependencies, ndistinct) ON task, dataset, architecture FROM tickets;
