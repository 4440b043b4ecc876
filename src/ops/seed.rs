//! Synthetic tickets for benchmarks and demos, inserted straight through the index layer.
//! Every one belongs to the user `synthetic`, so they are never mistaken for real tickets,
//! and all share one small real blob, so downloads work.

use chrono::Utc;

use crate::domain::evidence::{NewResult, PruneScope, ResultKind};
use crate::domain::masks::signature::SignatureBuilder;
use crate::domain::ticket::MaskFacts;
use serde_json::json;

use crate::blobs::BlobStore;
use crate::domain::inspector::Inspector;
use crate::domain::metadata::TicketMetadata;
use crate::domain::tokens;
use crate::index::{DynIndex, NewTicket};

pub const OWNER: &str = "synthetic";

/// (task, weight, [(dataset, [(architecture, dense accuracy)])])
type Shape = (
    &'static str,
    u32,
    &'static [(&'static str, &'static [(&'static str, f64)])],
);

const SHAPES: &[Shape] = &[
    (
        "image-classification",
        60,
        &[
            (
                "cifar10",
                &[
                    ("resnet20", 0.92),
                    ("resnet56", 0.94),
                    ("vgg16", 0.935),
                    ("conv-6", 0.80),
                ],
            ),
            ("mnist", &[("lenet-300-100", 0.98), ("lenet-5", 0.99)]),
            ("cifar100", &[("resnet32", 0.70), ("wrn-28-10", 0.80)]),
            ("imagenet", &[("resnet50", 0.761), ("mobilenet-v2", 0.72)]),
            ("tiny-imagenet", &[("resnet18", 0.60)]),
        ],
    ),
    (
        "text-classification",
        15,
        &[
            ("sst2", &[("bert-base", 0.92), ("distilbert", 0.90)]),
            ("mnli", &[("bert-base", 0.84)]),
        ],
    ),
    (
        "language-modeling",
        10,
        &[(
            "wikitext-103",
            &[("gpt2-small", 0.35), ("transformer-xl", 0.38)],
        )],
    ),
    (
        "object-detection",
        10,
        &[("coco", &[("faster-rcnn-r50", 0.37), ("yolov3", 0.33)])],
    ),
    (
        "speech-recognition",
        5,
        &[("librispeech", &[("deepspeech2", 0.90)])],
    ),
];

const METHODS: &[(&str, u32)] = &[
    ("imp", 30),
    ("imp-rewind", 25),
    ("lr-rewind", 10),
    ("snip", 10),
    ("grasp", 8),
    ("synflow", 7),
    ("random", 5),
    ("magnitude", 5),
];

const TAGS: &[&str] = &[
    "lth",
    "rewinding",
    "structured",
    "global",
    "layerwise",
    "reproduction",
    "baseline",
];

/// splitmix64: small, fast and repeatable; statistical quality is plenty for fake data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut pick = (self.next() % u64::from(total)) as u32;
        for (item, w) in items {
            if pick < *w {
                return item;
            }
            pick -= w;
        }
        &items[items.len() - 1].0
    }
}

/// Results for a synthetic ticket of this accuracy: controls a little or a lot below it (so
/// verdicts vary), reproductions around it, dense runs at the dense accuracy; result i has
/// seed i, so none repeats another.
fn synthetic_results(
    rng: &mut Rng,
    accuracy: f64,
    dense: f64,
    dataset: &str,
    n: usize,
) -> Vec<NewResult> {
    const KINDS: [ResultKind; 5] = [
        ResultKind::RandomReinit,
        ResultKind::RandomPrune,
        ResultKind::Reproduction,
        ResultKind::Reproduction,
        ResultKind::Dense,
    ];
    // How far below the ticket this ticket's controls land: within a point for about a third.
    let gap = 0.03 * rng.unit();
    (0..n)
        .map(|i| {
            let kind = KINDS[i % KINDS.len()];
            let noise = 0.004 * (rng.unit() - 0.5);
            let value = match kind {
                ResultKind::Dense => dense + noise,
                ResultKind::Reproduction => accuracy + noise,
                _ => accuracy - gap + noise,
            };
            NewResult {
                kind,
                accuracy: value.clamp(0.0, 1.0),
                metric: crate::domain::metadata::DEFAULT_METRIC.to_owned(),
                seed: Some(i as i64),
                dataset: dataset.to_owned(),
                scope: (kind == ResultKind::RandomPrune).then_some(PruneScope::Layerwise),
                steps: None,
                framework: None,
                hardware: None,
                code_url: None,
                notes: None,
            }
        })
        .collect()
}

/// Positions a synthetic ticket's kept-set signature is drawn from.
const MASK_UNIVERSE: u64 = 4096;

/// A small valid ticket file: the blob every synthetic ticket points at.
fn shared_file() -> Vec<u8> {
    let header = r#"{"fc.weight":{"dtype":"F32","shape":[8,8],"data_offsets":[0,256]}}"#;
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    for i in 0..64u32 {
        let x: f32 = if i % 5 == 0 { i as f32 + 1.0 } else { 0.0 };
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Inserts `count` tickets as IMP-like runs: each run walks pruning levels from dense to
/// sparse, each level's parent the one before, accuracy rising a little then falling off.
pub async fn seed(
    index: &DynIndex,
    blobs: &BlobStore,
    count: u64,
    seed: u64,
    results_per_ticket: usize,
) -> anyhow::Result<()> {
    let owner = index
        .create_token(OWNER, &tokens::hash(&tokens::generate()?))
        .await?;
    let bytes = shared_file();
    let mut inspector = Inspector::default();
    inspector.feed(&bytes)?;
    let inspection = inspector.finish()?;
    let mut writer = blobs.begin().await?;
    writer.write(bytes.clone().into()).await?;
    let blob = writer.finish().await?;
    let object_key = blob.key().to_owned();
    let sha256 = blob.sha256().to_owned();
    blob.keep();

    let mut rng = Rng(seed);
    let run_prefix = format!("s{seed}");
    let mut batch = Vec::with_capacity(1000);
    let mut inserted = 0u64;
    let mut run = 0u64;
    let started = std::time::Instant::now();
    while inserted < count {
        run += 1;
        let (task, _, datasets) = rng
            .weighted(&SHAPES.iter().map(|s| (s, s.1)).collect::<Vec<_>>())
            .to_owned();
        let (dataset, archs) = datasets[rng.below(datasets.len())];
        let (arch, dense) = archs[rng.below(archs.len())];
        let method = *rng.weighted(METHODS);
        let levels = 3 + rng.below(18) as u32;
        let tag = TAGS[rng.below(TAGS.len())];
        let mut parent: Option<String> = None;
        // A run's masks are nested, as IMP's are: each level keeps the top-scored entries of
        // one random order of MASK_UNIVERSE positions; other runs draw their own order.
        let mut order: Vec<(u64, u64)> = (0..MASK_UNIVERSE).map(|i| (rng.next(), i)).collect();
        order.sort_unstable();
        for level in 0..levels {
            if inserted >= count {
                break;
            }
            let sparsity = 1.0 - 0.8f64.powi(level as i32);
            // Tickets hold the dense accuracy to ~80% sparsity, then fall off; plus noise.
            let drop = (sparsity - 0.8).max(0.0) * 1.5 * dense;
            let accuracy = (dense + 0.01 * (rng.unit() - 0.5) - drop).clamp(0.0, 1.0);
            let id = uuid::Uuid::now_v7().to_string();
            let params_total = 1_000_000u64;
            batch.push(NewTicket {
                id: id.clone(),
                owner_id: owner.id,
                uploader_id: None,
                meta: TicketMetadata {
                    owner: None,
                    name: format!("{run_prefix}-run{run}-l{level}"),
                    task: task.to_string(),
                    dataset: dataset.to_owned(),
                    architecture: arch.to_owned(),
                    pruning_method: method.to_owned(),
                    accuracy,
                    dense_accuracy: Some(dense),
                    metric: crate::domain::metadata::DEFAULT_METRIC.to_owned(),
                    description: Some(format!(
                        "Synthetic {method} ticket for {arch} on {dataset}, level {level}."
                    )),
                    tags: vec![tag.to_owned(), "synthetic".to_owned()],
                    parent_id: parent.clone(),
                    hyperparameters: json!({"lr": 0.1, "batch_size": 128}).as_object().cloned(),
                    paper_url: None,
                    code_url: None,
                    license: Some("CC-BY-4.0".into()),
                    results: synthetic_results(
                        &mut rng,
                        accuracy,
                        dense,
                        dataset,
                        results_per_ticket,
                    ),
                },
                sha256: sha256.clone(),
                size_bytes: bytes.len() as u64,
                object_key: object_key.clone(),
                params_total,
                params_kept: ((1.0 - sparsity) * params_total as f64).round() as u64,
                tensors: inspection.tensors.clone(),
                created_at: Utc::now(),
                description_html: Some(format!(
                    "<p>Synthetic {method} ticket for {arch} on {dataset}, level {level}.</p>"
                )),
                masks: MaskFacts {
                    fingerprint: inspection.fingerprint.clone(),
                    structure: inspection.structure.clone(),
                    signature: {
                        let keep = ((1.0 - sparsity) * MASK_UNIVERSE as f64).round() as usize;
                        let mut b = SignatureBuilder::default();
                        for (_, i) in &order[..keep] {
                            b.add(*i);
                        }
                        b.finish()
                    },
                },
            });
            parent = Some(id);
            inserted += 1;
        }
        // Whole runs per batch, so a parent is always inserted before its children.
        if batch.len() >= 1000 || inserted >= count {
            index.insert_many(&batch).await?;
            batch.clear();
            if inserted % 100_000 < 1000 {
                tracing::info!(inserted, elapsed = ?started.elapsed(), "seeding");
            }
        }
    }
    tracing::info!(inserted, elapsed = ?started.elapsed(), "seeded");
    Ok(())
}
