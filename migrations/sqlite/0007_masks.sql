-- The SQLite flavour of migrations/postgres/0007_masks.sql (comments there).

ALTER TABLE tickets ADD COLUMN architecture_fingerprint TEXT;
ALTER TABLE tickets ADD COLUMN structure TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE tickets ADD COLUMN mask_signature BLOB;

CREATE INDEX tickets_fingerprint_accuracy ON tickets (architecture_fingerprint, accuracy, seq, sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_unindexed_masks ON tickets (seq) WHERE structure = 'unknown';

CREATE TABLE ticket_bands (
    fingerprint     TEXT NOT NULL,
    band            INTEGER NOT NULL,
    hash            INTEGER NOT NULL,
    ticket_seq      INTEGER NOT NULL REFERENCES tickets (seq) ON DELETE CASCADE,
    PRIMARY KEY (fingerprint, band, hash, ticket_seq)
);
CREATE INDEX ticket_bands_ticket_idx ON ticket_bands (ticket_seq);

CREATE TABLE facet_counts_new (
    task            TEXT NOT NULL,
    dataset         TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    pruning_method  TEXT NOT NULL,
    yanked          INTEGER NOT NULL,
    verdict         TEXT NOT NULL DEFAULT 'unverified',
    structure       TEXT NOT NULL DEFAULT 'unknown',
    n               INTEGER NOT NULL,
    PRIMARY KEY (task, dataset, architecture, pruning_method, yanked, verdict, structure)
);
INSERT INTO facet_counts_new (task, dataset, architecture, pruning_method, yanked, verdict, n)
    SELECT task, dataset, architecture, pruning_method, yanked, verdict, n FROM facet_counts;
DROP TABLE facet_counts;
ALTER TABLE facet_counts_new RENAME TO facet_counts;

CREATE TABLE tag_counts_new (
    task            TEXT NOT NULL,
    dataset         TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    pruning_method  TEXT NOT NULL,
    yanked          INTEGER NOT NULL,
    verdict         TEXT NOT NULL DEFAULT 'unverified',
    structure       TEXT NOT NULL DEFAULT 'unknown',
    tag             TEXT NOT NULL,
    n               INTEGER NOT NULL,
    PRIMARY KEY (task, dataset, architecture, pruning_method, yanked, verdict, structure, tag)
);
DROP TABLE tag_counts;
ALTER TABLE tag_counts_new RENAME TO tag_counts;
DELETE FROM facet_counts;
INSERT INTO facet_counts (task, dataset, architecture, pruning_method, yanked, verdict, structure, n)
    SELECT task, dataset, architecture, pruning_method, yanked, verdict, structure, COUNT(*)
    FROM tickets GROUP BY task, dataset, architecture, pruning_method, yanked, verdict, structure;
DELETE FROM tag_counts;
INSERT INTO tag_counts (task, dataset, architecture, pruning_method, yanked, verdict, structure, tag, n)
    SELECT t.task, t.dataset, t.architecture, t.pruning_method, t.yanked, t.verdict, t.structure, g.tag, COUNT(*)
    FROM ticket_tags g JOIN tickets t ON t.seq = g.ticket_seq
    GROUP BY t.task, t.dataset, t.architecture, t.pruning_method, t.yanked, t.verdict, t.structure, g.tag;
