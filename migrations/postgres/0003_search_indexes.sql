-- Index shapes found missing at 1M rows (docs/search.md): the headline query "dataset +
-- architecture, at least X sparse, most accurate first", "sparsest of an architecture", and a
-- frontier read that never leaves the index.
CREATE INDEX tickets_dataset_arch_accuracy ON tickets (dataset, architecture, accuracy, seq) INCLUDE (sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_architecture_sparsity ON tickets (architecture, sparsity, seq) INCLUDE (accuracy) WHERE yanked = FALSE;
DROP INDEX tickets_tda_sparsity;
CREATE INDEX tickets_tda_sparsity ON tickets (task, dataset, architecture, sparsity, seq) INCLUDE (accuracy, metric, id) WHERE yanked = FALSE;
