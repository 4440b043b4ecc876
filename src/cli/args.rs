//! The client commands' flags: where to talk to (`ClientArgs`), and what to upload, search,
//! plot or download. Fraction flags are checked with the server's own rule before any request.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Where the client commands talk to. Flags and environment win over `ticketbooth login`.
#[derive(Args, Clone, Default)]
pub struct ClientArgs {
    /// Registry base URL (default: the one saved by `login`, else http://127.0.0.1:8080).
    #[arg(long, env = "TICKETBOOTH_URL")]
    pub server: Option<String>,
    /// API token (default: the one saved by `login`).
    #[arg(long, env = "TICKETBOOTH_TOKEN")]
    pub token: Option<String>,
}

// Tokens are secrets: never print them.
impl std::fmt::Debug for ClientArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientArgs")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

#[derive(Debug, Args, Clone)]
pub struct UploadArgs {
    /// The .safetensors file (a PyTorch checkpoint must be converted first:
    /// `safetensors.torch.save_file(model.state_dict(), path)`).
    pub file: PathBuf,
    /// A JSON file of metadata (flags override it; it overrides the file's __metadata__).
    #[arg(long, value_name = "PATH")]
    pub metadata: Option<PathBuf>,
    /// The ticket's name, a slug unique among your tickets (e.g. lenet-imp-l7).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Accuracy of the trained ticket on the metric, a fraction in [0, 1] (0.981, not 98.1).
    #[arg(long, value_name = "FRACTION", allow_negative_numbers = true)]
    pub accuracy: Option<f64>,
    /// Accuracy of the dense network on the same setup, a fraction in [0, 1].
    #[arg(long, value_name = "FRACTION", allow_negative_numbers = true)]
    pub dense_accuracy: Option<f64>,
    /// What the accuracy measures, a slug (default: top1_accuracy).
    #[arg(long)]
    pub metric: Option<String>,
    /// The parent ticket (one IMP round earlier): id or owner/name.
    #[arg(long)]
    pub parent: Option<String>,
    /// What the ticket is good for, in markdown (at most 64 KiB).
    #[arg(long)]
    pub description: Option<String>,
    /// Comma-separated tags (slugs, at most 32).
    #[arg(long)]
    pub tags: Option<String>,
    /// Training hyperparameters as a JSON object, e.g. '{"lr": 0.1, "batch_size": 128}'.
    #[arg(long, value_name = "JSON")]
    pub hyperparameters: Option<String>,
    /// The license the ticket is published under (e.g. MIT, CC-BY-4.0).
    #[arg(long)]
    pub license: Option<String>,
    /// The paper the ticket comes from, an http(s) URL.
    #[arg(long, value_name = "URL")]
    pub paper_url: Option<String>,
    /// The code that found the ticket, an http(s) URL.
    #[arg(long, value_name = "URL")]
    pub code_url: Option<String>,
    /// Print the whole ticket JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// What a ticket is for and how it was found: metadata on upload, filters in a search.
#[derive(Debug, Args, Clone)]
pub struct ShapeArgs {
    /// The task, a slug (e.g. image-classification).
    #[arg(long)]
    pub task: Option<String>,
    /// The dataset, a slug (e.g. cifar10, mnist).
    #[arg(long)]
    pub dataset: Option<String>,
    /// The architecture, a slug (e.g. resnet20, lenet-300-100).
    #[arg(long)]
    pub architecture: Option<String>,
    /// How the ticket was found, a slug (e.g. imp, imp-rewind, snip, random).
    #[arg(long)]
    pub pruning_method: Option<String>,
}

impl ShapeArgs {
    pub fn pairs(&self) -> [(&'static str, Option<String>); 4] {
        [
            ("task", self.task.clone()),
            ("dataset", self.dataset.clone()),
            ("architecture", self.architecture.clone()),
            ("pruning_method", self.pruning_method.clone()),
        ]
    }
}

#[derive(Debug, Args, Clone)]
pub struct SearchArgs {
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Only this user's tickets.
    #[arg(long)]
    pub owner: Option<String>,
    /// A tag the tickets must have; repeat for several (all must match).
    #[arg(long)]
    pub tag: Vec<String>,
    /// At least this sparsity (share of weights removed), a fraction in [0, 1]: 0.9 is 10% of
    /// weights remaining.
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, allow_negative_numbers = true)]
    pub min_sparsity: Option<f64>,
    /// At most this sparsity, a fraction in [0, 1].
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, allow_negative_numbers = true)]
    pub max_sparsity: Option<f64>,
    /// At least this accuracy, a fraction in [0, 1] (0.97, not 97).
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, allow_negative_numbers = true)]
    pub min_accuracy: Option<f64>,
    /// At most this accuracy, a fraction in [0, 1].
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, allow_negative_numbers = true)]
    pub max_accuracy: Option<f64>,
    /// Free text: a case-insensitive substring of name, description, architecture, dataset or
    /// tags.
    #[arg(long, visible_alias = "q", value_name = "TEXT")]
    pub query: Option<String>,
    /// Sort by created (default), accuracy, sparsity or downloads.
    #[arg(long, value_parser = ["created", "accuracy", "sparsity", "downloads"])]
    pub sort: Option<String>,
    /// Sort order: desc (default) or asc.
    #[arg(long, value_parser = ["asc", "desc"])]
    pub order: Option<String>,
    /// How many tickets to show, 1 to 100.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: u32,
    /// JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// A fraction flag, checked before any request with the server's own rule: `97` is refused
/// with "did you mean 0.97?" (a usage error, exit 2).
fn parse_fraction(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .trim()
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite())
        .ok_or_else(|| "must be a number, a fraction in [0, 1]".to_owned())?;
    crate::domain::metadata::check_fraction(x)
}

#[derive(Debug, Args, Clone)]
pub struct FrontierArgs {
    /// The task, a slug (e.g. image-classification).
    #[arg(long)]
    pub task: String,
    /// Only tickets found on this dataset.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Only tickets of this architecture.
    #[arg(long)]
    pub architecture: Option<String>,
    /// Compare tickets on this metric (default: top1_accuracy).
    #[arg(long)]
    pub metric: Option<String>,
    /// JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args, Clone)]
pub struct DownloadArgs {
    /// Ticket id or owner/name.
    pub ticket: String,
    /// Where to write it (default: ./<name>.safetensors, or ./<name>.<part>.safetensors for a
    /// part, tensors or the packed form).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Only the masks (every *_mask tensor) or the weights (every other tensor), as a
    /// safetensors file the server makes from the stored one.
    #[arg(long, value_parser = ["masks", "weights"], conflicts_with_all = ["tensors", "packed"])]
    pub part: Option<String>,
    /// Only these tensors (comma-separated names), as a safetensors file.
    #[arg(long, value_name = "NAMES", conflicts_with = "packed")]
    pub tensors: Option<String>,
    /// The packed form: each mask as bits and each masked weight as its kept values
    /// (docs/masks.md; `ticketbooth.unpack` in Python restores it).
    #[arg(long)]
    pub packed: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args, Clone)]
pub struct CompareArgs {
    /// The first ticket: id or owner/name.
    pub a: String,
    /// The second ticket: id or owner/name.
    pub b: String,
    /// Print the server's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args, Clone)]
pub struct CompatibleArgs {
    /// A safetensors file of your model (only its header is read and sent, never the weights).
    pub file: PathBuf,
    /// How many tickets to list, most accurate first (1-100).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub limit: u64,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ticketbooth result ...`.
#[derive(Debug, Subcommand, Clone)]
pub enum ResultCommand {
    /// Report a result against a ticket: a reproduction, a control (random_reinit,
    /// random_prune), the dense baseline, or a transfer to another dataset.
    Add(ResultAddArgs),
}

#[derive(Debug, Args, Clone)]
pub struct ResultAddArgs {
    /// Ticket id or owner/name.
    pub ticket: String,
    /// reproduction, random_reinit, random_prune, dense or transfer.
    #[arg(long)]
    pub kind: String,
    /// The accuracy reached, a fraction in [0, 1].
    #[arg(long, value_parser = parse_fraction)]
    pub accuracy: f64,
    /// The run's random seed (one result per kind, dataset and seed).
    #[arg(long)]
    pub seed: Option<i64>,
    /// The dataset trained on (required for a transfer; default: the ticket's).
    #[arg(long)]
    pub dataset: Option<String>,
    /// The metric (default: the ticket's).
    #[arg(long)]
    pub metric: Option<String>,
    /// For random_prune: layerwise or global.
    #[arg(long)]
    pub scope: Option<String>,
    /// Training steps the run took.
    #[arg(long)]
    pub steps: Option<i64>,
    /// The framework it ran on (`pytorch`, `jax`...).
    #[arg(long)]
    pub framework: Option<String>,
    /// The hardware it ran on (`1xA100`...).
    #[arg(long)]
    pub hardware: Option<String>,
    /// The code that produced it, an http(s) URL.
    #[arg(long)]
    pub code_url: Option<String>,
    /// Anything a reader should know (at most 2,000 characters).
    #[arg(long)]
    pub notes: Option<String>,
    /// Print the JSON answer instead.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}
