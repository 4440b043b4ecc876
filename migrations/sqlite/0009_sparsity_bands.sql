-- "At least X sparse, most accurate first" within a task (and dataset), walked band by band
-- (src/index/sql/search.rs, `sparsity_bands`): within a band of width 1/20 the index gives the most
-- accurate entries first. The expression must match the query's exactly; CAST truncates,
-- which for a sparsity (never negative) is floor.
CREATE INDEX tickets_task_band_accuracy ON tickets (task, CAST(sparsity * 20 AS INTEGER), accuracy, seq, sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_task_dataset_band_accuracy ON tickets (task, dataset, CAST(sparsity * 20 AS INTEGER), accuracy, seq, sparsity) WHERE yanked = FALSE;
