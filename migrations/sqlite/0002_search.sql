-- Search, facets, browsing: the SQLite flavour of migrations/postgres/0002_search.sql.

-- What `q` matches: lowercased name, description, architecture, dataset and tags, kept by the
-- application on insert and edit. An FTS5 trigram table, kept in step by triggers, serves
-- substring matches of 3 or more characters.
ALTER TABLE tickets ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
CREATE VIRTUAL TABLE ticket_search USING fts5(
    search_text, content = 'tickets', content_rowid = 'seq', tokenize = 'trigram'
);
CREATE TRIGGER tickets_search_insert AFTER INSERT ON tickets BEGIN
    INSERT INTO ticket_search (rowid, search_text) VALUES (new.seq, new.search_text);
END;
CREATE TRIGGER tickets_search_delete AFTER DELETE ON tickets BEGIN
    INSERT INTO ticket_search (ticket_search, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
END;
CREATE TRIGGER tickets_search_update AFTER UPDATE OF search_text ON tickets BEGIN
    INSERT INTO ticket_search (ticket_search, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
    INSERT INTO ticket_search (rowid, search_text) VALUES (new.seq, new.search_text);
END;

-- One row per (tag, ticket): tag filters and tag facets.
CREATE TABLE ticket_tags (
    tag         TEXT NOT NULL,
    ticket_seq  INTEGER NOT NULL REFERENCES tickets (seq) ON DELETE CASCADE,
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
    yanked          INTEGER NOT NULL,
    n               INTEGER NOT NULL,
    PRIMARY KEY (task, dataset, architecture, pruning_method, yanked)
);
CREATE TABLE tag_counts (
    task            TEXT NOT NULL,
    dataset         TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    pruning_method  TEXT NOT NULL,
    yanked          INTEGER NOT NULL,
    tag             TEXT NOT NULL,
    n               INTEGER NOT NULL,
    PRIMARY KEY (task, dataset, architecture, pruning_method, yanked, tag)
);

-- Filter + sort indexes over live tickets (yanked ones leave lists unless asked for). Each ends
-- in the sort key and seq, the keyset tie-breaker, so a page is one index range scan. Each also
-- carries sparsity and accuracy (after the key: SQLite has no INCLUDE), so range filters on them
-- are checked inside a covering index scan.
CREATE INDEX tickets_live_created ON tickets (seq, sparsity, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_live_accuracy ON tickets (accuracy, seq, sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_live_sparsity ON tickets (sparsity, seq, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_live_downloads ON tickets (downloads, seq, sparsity, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_task_created ON tickets (task, seq, sparsity, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_task_accuracy ON tickets (task, accuracy, seq, sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_task_sparsity ON tickets (task, sparsity, seq, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_task_downloads ON tickets (task, downloads, seq, sparsity, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_task_dataset_created ON tickets (task, dataset, seq, sparsity, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_task_dataset_accuracy ON tickets (task, dataset, accuracy, seq, sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_task_dataset_sparsity ON tickets (task, dataset, sparsity, seq, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_tda_accuracy ON tickets (task, dataset, architecture, accuracy, seq, sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_tda_sparsity ON tickets (task, dataset, architecture, sparsity, seq, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_dataset_accuracy ON tickets (dataset, accuracy, seq, sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_architecture_accuracy ON tickets (architecture, accuracy, seq, sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_method_created ON tickets (pruning_method, seq, sparsity, accuracy) WHERE yanked = FALSE;
CREATE INDEX tickets_owner_created ON tickets (owner_id, seq);

-- SQLite learns column correlations from ANALYZE (run by PRAGMA optimize on connect).
