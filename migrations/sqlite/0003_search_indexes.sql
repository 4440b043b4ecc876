-- The SQLite flavour of migrations/postgres/0003_search_indexes.sql (no INCLUDE: trailing columns).
CREATE INDEX tickets_dataset_arch_accuracy ON tickets (dataset, architecture, accuracy, seq, sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_architecture_sparsity ON tickets (architecture, sparsity, seq, accuracy) WHERE yanked = FALSE;
DROP INDEX tickets_tda_sparsity;
CREATE INDEX tickets_tda_sparsity ON tickets (task, dataset, architecture, sparsity, seq, accuracy, metric, id) WHERE yanked = FALSE;
