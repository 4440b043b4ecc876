#!/usr/bin/env bash
# EXPLAIN (ANALYZE) of the main search queries on a seeded Postgres database; the output is what
# docs/search.md quotes.   bash bench/explain.sh postgres://.../tb_bench_1000000
set -euo pipefail
cd "$(dirname "$0")/.."
DB=$1
BIN=target/release/ticketbooth
[ -x "$BIN" ] || cargo build --release --quiet
QUERIES=(
  "tickets task=image-classification"
  "tickets task=image-classification&dataset=cifar10&architecture=resnet20&sort=accuracy"
  "tickets dataset=cifar10&architecture=resnet20&min_sparsity=0.9&sort=accuracy&limit=1"
  "tickets task=image-classification&dataset=cifar10&min_sparsity=0.9&sort=accuracy"
  "tickets architecture=resnet50&min_accuracy=0.7&max_sparsity=0.95&sort=sparsity"
  "tickets q=wrn-28"
  "tickets tag=rewinding&sort=downloads"
  "facets task=image-classification&dataset=cifar10"
  "facets task=image-classification&min_sparsity=0.9"
  "tasks "
  "frontier task=image-classification&dataset=cifar10&architecture=resnet20"
)
for entry in "${QUERIES[@]}"; do
  echo "### GET /api/v1/${entry%% *}?${entry#* }"
  echo '```'
  "$BIN" sql "${entry%% *}" "${entry#* }" | while IFS= read -r statement; do
    psql "$DB" -qAt -c "EXPLAIN (ANALYZE, COSTS OFF) ${statement%;}"
  done
  echo '```'
done
