-- The mask as a first-class object: the architecture fingerprint, N:M structure and kept-set
-- signature measured at ingest (docs/masks.md), and the LSH bands that find similar tickets.

-- sha256 hex of the network's shapes (NULL for rows from before this migration until
-- `ticketbooth reindex`).
ALTER TABLE tickets ADD COLUMN architecture_fingerprint TEXT;
-- 1:4 | 2:4 | 4:8 | unstructured; 'unknown' until `ticketbooth reindex` for older rows.
ALTER TABLE tickets ADD COLUMN structure TEXT NOT NULL DEFAULT 'unknown';
-- The MinHash signature of the kept-entry set: 128 little-endian u32 (512 bytes).
ALTER TABLE tickets ADD COLUMN mask_signature BYTEA;

-- "Tickets for my model": one fingerprint, most accurate first.
CREATE INDEX tickets_fingerprint_accuracy ON tickets (architecture_fingerprint, accuracy, seq) INCLUDE (sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_unindexed_masks ON tickets (seq) WHERE structure = 'unknown';

-- One row per (ticket, LSH band): tickets sharing a band with the same fingerprint are the
-- candidates for "similar tickets".
CREATE TABLE ticket_bands (
    fingerprint     TEXT NOT NULL,
    band            SMALLINT NOT NULL,
    hash            BIGINT NOT NULL,
    ticket_seq      BIGINT NOT NULL REFERENCES tickets (seq) ON DELETE CASCADE,
    PRIMARY KEY (fingerprint, band, hash, ticket_seq)
);
CREATE INDEX ticket_bands_ticket_idx ON ticket_bands (ticket_seq);

-- The facet counts gain the structure.
ALTER TABLE facet_counts ADD COLUMN structure TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE facet_counts DROP CONSTRAINT facet_counts_pkey;
ALTER TABLE facet_counts ADD PRIMARY KEY (task, dataset, architecture, pruning_method, yanked, verdict, structure);

-- The tag counts gain the verdict and the structure too, so facets under a verdict or structure
-- filter are sums of a few rows. Both count tables are rebuilt from the tickets, so they hold
-- whatever verdicts results have given since 0006.
ALTER TABLE tag_counts ADD COLUMN verdict TEXT NOT NULL DEFAULT 'unverified';
ALTER TABLE tag_counts ADD COLUMN structure TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE tag_counts DROP CONSTRAINT tag_counts_pkey;
ALTER TABLE tag_counts ADD PRIMARY KEY (task, dataset, architecture, pruning_method, yanked, verdict, structure, tag);
DELETE FROM facet_counts;
INSERT INTO facet_counts (task, dataset, architecture, pruning_method, yanked, verdict, structure, n)
    SELECT task, dataset, architecture, pruning_method, yanked, verdict, structure, COUNT(*)
    FROM tickets GROUP BY task, dataset, architecture, pruning_method, yanked, verdict, structure;
DELETE FROM tag_counts;
INSERT INTO tag_counts (task, dataset, architecture, pruning_method, yanked, verdict, structure, tag, n)
    SELECT t.task, t.dataset, t.architecture, t.pruning_method, t.yanked, t.verdict, t.structure, g.tag, COUNT(*)
    FROM ticket_tags g JOIN tickets t ON t.seq = g.ticket_seq
    GROUP BY t.task, t.dataset, t.architecture, t.pruning_method, t.yanked, t.verdict, t.structure, g.tag;
