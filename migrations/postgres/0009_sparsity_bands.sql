-- "At least X sparse, most accurate first" within a task (and dataset), walked band by band
-- (src/index/sql/search.rs, `sparsity_bands`): within a band of width 1/20 the index gives the most
-- accurate entries first, so the anti-correlated shape no longer walks the accuracy index
-- past every dense ticket. An expression index, so nothing changes on write.
CREATE INDEX tickets_task_band_accuracy ON tickets (task, (floor(sparsity * 20)), accuracy, seq) INCLUDE (sparsity) WHERE yanked = FALSE;
CREATE INDEX tickets_task_dataset_band_accuracy ON tickets (task, dataset, (floor(sparsity * 20)), accuracy, seq) INCLUDE (sparsity) WHERE yanked = FALSE;
