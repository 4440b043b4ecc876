//! Aligned tables for people, JSON lines for scripts. People read one unit everywhere: "% of
//! weights remaining" for size and percent with 2 decimals for accuracy; JSON keeps the
//! server's full-precision fractions.

use serde_json::Value;

use crate::domain::inspector::TensorReport;

pub(crate) fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A share as a percentage the way the web page writes it: 1 decimal from 10%, 2 from 1%,
/// 2 significant digits below (so a ticket at 0.012% does not read as 0.0%).
pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p >= 10.0 {
        format!("{p:.1}%")
    } else if p >= 1.0 {
        format!("{p:.2}%")
    } else if p > 0.0 {
        let decimals = (1 - p.log10().floor() as i32).max(0) as usize;
        format!("{p:.decimals$}%")
    } else {
        "0%".into()
    }
}

/// "13.4% of weights remaining", from the measured sparsity.
pub fn remaining(sparsity: f64) -> String {
    format!("{} of weights remaining", percent(1.0 - sparsity))
}

/// An accuracy fraction for people: `0.9812` -> "98.12%".
pub fn accuracy(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{:.2}%", x * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// What a verdict means, in words (the rule is docs/evidence.md's).
fn verdict_rule(verdict: &str) -> &'static str {
    match verdict {
        "wins" => {
            "beats every recorded control by more than 1 point, and is not more than 0.5 points below dense"
        }
        "no_better_than_controls" => {
            "a control (random re-init or random pruning) is within 1 point of it, or above"
        }
        "below_dense" => "more than 0.5 points below the dense network's accuracy",
        _ => "no control (random re-init or random pruning) reported yet",
    }
}

/// The evidence on a ticket: the verdict with its rule, and the statistics per kind.
pub fn print_evidence(e: &Value) {
    let verdict = e["verdict"].as_str().unwrap_or("unverified");
    let margin = e["margin"]
        .as_f64()
        .map(|m| format!(" (margin {:+.2} points over the best control)", m * 100.0))
        .unwrap_or_default();
    println!("Evidence: {verdict}{margin}");
    println!("  {}", verdict_rule(verdict));
    let rows: Vec<Vec<String>> = ["ticket", "random_reinit", "random_prune", "dense"]
        .into_iter()
        .filter(|k| e[*k].is_object())
        .map(|k| {
            let s = &e[k];
            let std = s["std"]
                .as_f64()
                .map(|x| format!("{:.2}", x * 100.0))
                .unwrap_or_else(|| "-".into());
            vec![
                k.to_owned(),
                text(&s["n"]),
                accuracy(&s["mean"]),
                std,
                accuracy(&s["min"]),
                accuracy(&s["max"]),
            ]
        })
        .collect();
    print_table(&["", "N", "MEAN", "STD (PTS)", "MIN", "MAX"], &rows);
    println!(
        "Reproductions: {} ({} by others)",
        text(&e["reproductions"]),
        text(&e["reproductions_by_others"])
    );
}

/// A table of tickets; when there are none, says so with the filters that were used.
pub fn print_tickets(items: &Value, json: bool, filters: &[(&str, String)]) {
    let items = items.as_array().cloned().unwrap_or_default();
    if json {
        for t in &items {
            println!("{t}");
        }
        if items.is_empty() {
            eprintln!("{}", no_match(filters));
        }
        return;
    }
    if items.is_empty() {
        println!("{}", no_match(filters));
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|t| {
            vec![
                text(&t["id"]),
                format!("{}/{}", text(&t["owner"]), text(&t["name"])),
                text(&t["task"]),
                text(&t["dataset"]),
                text(&t["architecture"]),
                percent(1.0 - t["sparsity"].as_f64().unwrap_or_default()),
                accuracy(&t["accuracy"]),
                text(&t["downloads"]),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "NAME",
            "TASK",
            "DATASET",
            "ARCHITECTURE",
            "WEIGHTS REMAINING",
            "ACCURACY",
            "DOWNLOADS",
        ],
        &rows,
    );
}

/// "no tickets match task=x min_accuracy=0.9", or that nothing narrowed the search.
pub fn no_match(filters: &[(&str, String)]) -> String {
    if filters.is_empty() {
        return "no tickets match (no filters: the registry has no tickets yet)".into();
    }
    let used: Vec<String> = filters.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("no tickets match {}", used.join(" "))
}

/// One row of a ticket's layerwise profile: a parameter and how much of it survives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRow {
    /// The parameter's name: `P` for a `P_orig`/`P_mask` pair.
    pub name: String,
    pub shape: Vec<u64>,
    pub kept: u64,
    pub total: u64,
}

/// A ticket's tensors as people think of them: what was pruned, and what was not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    pub rows: Vec<ProfileRow>,
    /// Tensors that are not pruned (biases, norms, unpruned layers), with their entry counts.
    pub not_pruned: Vec<(String, u64)>,
}

/// Groups the per-tensor table into parameter rows. A tensor `X_mask` is the mask of `X_orig`
/// or `X` (same shape): the row is named `X`, kept and total come from the mask, and the
/// weight tensor it masks is not listed again. A prunable tensor without a mask (pruned
/// entries stored as zeros) is a row of its own. Everything else is "not pruned". Order is the
/// table's (data-offset order), each row where its first tensor stands.
pub fn profile(tensors: &[TensorReport]) -> Profile {
    use std::collections::HashSet;
    let names: HashSet<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    // Weight tensors some mask covers: `X_orig` if present, else `X`.
    let mut masked: HashSet<String> = HashSet::new();
    for t in tensors {
        if let Some(prefix) = t.name.strip_suffix("_mask") {
            let orig = format!("{prefix}_orig");
            if names.contains(orig.as_str()) {
                masked.insert(orig);
            } else if names.contains(prefix) {
                masked.insert(prefix.to_owned());
            }
        }
    }
    let mut out = Profile::default();
    let mut seen: HashSet<String> = HashSet::new();
    for t in tensors {
        let row_name = if let Some(prefix) = t.name.strip_suffix("_mask") {
            Some(prefix.to_owned())
        } else if masked.contains(&t.name) {
            // The masked weight: its row is the mask's.
            let prefix = t.name.strip_suffix("_orig").unwrap_or(&t.name).to_owned();
            if seen.insert(prefix.clone()) {
                // The weight comes first in the file: reserve the row's place.
                out.rows.push(ProfileRow {
                    name: prefix,
                    shape: t.shape.clone(),
                    kept: 0,
                    total: 0,
                });
            }
            continue;
        } else if t.prunable {
            Some(t.name.clone())
        } else {
            None
        };
        let Some(name) = row_name else {
            out.not_pruned.push((t.name.clone(), t.params));
            continue;
        };
        let row = ProfileRow {
            name: name.clone(),
            shape: t.shape.clone(),
            kept: t.kept,
            total: t.params,
        };
        if seen.insert(name.clone()) {
            out.rows.push(row);
        } else if let Some(slot) = out.rows.iter_mut().find(|r| r.name == name) {
            *slot = row;
        }
    }
    out
}

pub fn print_ticket(t: &Value) {
    let sparsity = t["sparsity"].as_f64().unwrap_or_default();
    // Sparsity rounded, for comparing with --min-sparsity; --json has it in full.
    let weights = format!(
        "{} ({} of {} prunable weights kept; sparsity {sparsity:.4})",
        remaining(sparsity),
        text(&t["params_kept"]),
        text(&t["params_total"]),
    );
    let fields: Vec<(&str, String)> = [
        "id",
        "owner",
        "name",
        "task",
        "dataset",
        "architecture",
        "pruning_method",
    ]
    .into_iter()
    .map(|f| (f, text(&t[f])))
    .chain([
        ("weights", weights),
        ("accuracy", accuracy(&t["accuracy"])),
        ("dense_accuracy", accuracy(&t["dense_accuracy"])),
    ])
    .chain(
        [
            "metric",
            "sha256",
            "size_bytes",
            "parent_id",
            "tags",
            "license",
            "paper_url",
            "code_url",
            "created_at",
            "downloads",
            "yanked",
            "description",
        ]
        .into_iter()
        .map(|f| (f, text(&t[f]))),
    )
    .collect();
    let width = fields.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
    for (f, v) in &fields {
        println!("{f:<width$}  {v}");
    }
    println!();
    print_evidence(&t["evidence"]);
    println!();
    let tensors: Vec<TensorReport> =
        serde_json::from_value(t["tensors"].clone()).unwrap_or_default();
    print_profile(&profile(&tensors));
}

fn print_profile(p: &Profile) {
    println!("Layerwise profile (one row per pruned parameter):");
    let rows: Vec<Vec<String>> = p
        .rows
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                format!("{:?}", r.shape),
                format!("{} / {}", r.kept, r.total),
                if r.total > 0 {
                    percent(r.kept as f64 / r.total as f64)
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    print_table(&["PARAMETER", "SHAPE", "KEPT / TOTAL", "REMAINING"], &rows);
    if !p.not_pruned.is_empty() {
        let list: Vec<String> = p
            .not_pruned
            .iter()
            .map(|(name, n)| format!("{name} ({n})"))
            .collect();
        println!();
        println!("Not pruned: {}", list.join(", "));
    }
}

/// A comparison: one row per layer, then the whole; shares as percentages.
pub fn print_comparison(c: &Value) {
    let share = |v: &Value| v.as_f64().map_or_else(|| "-".to_owned(), percent);
    let row = |name: String, f: &Value| {
        vec![
            name,
            text(&f["entries"]),
            text(&f["kept_a"]),
            text(&f["kept_b"]),
            text(&f["intersection"]),
            share(&f["iou"]),
            share(&f["expected_iou"]),
            share(&f["sign_agreement"]),
        ]
    };
    let mut rows: Vec<Vec<String>> = c["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| row(text(&l["name"]), l))
        .collect();
    rows.push(row("(all layers)".into(), &c["overall"]));
    println!(
        "a: {}/{}  b: {}/{}",
        text(&c["a"]["owner"]),
        text(&c["a"]["name"]),
        text(&c["b"]["owner"]),
        text(&c["b"]["name"])
    );
    print_table(
        &[
            "LAYER",
            "ENTRIES",
            "KEPT A",
            "KEPT B",
            "BOTH",
            "IOU",
            "IOU BY CHANCE",
            "SAME SIGN",
        ],
        &rows,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, shape: &[u64], kept: u64, prunable: bool) -> TensorReport {
        TensorReport {
            structure: None,
            name: name.into(),
            dtype: "F32".into(),
            shape: shape.to_vec(),
            params: shape.iter().product(),
            kept,
            prunable,
        }
    }

    fn row(name: &str, shape: &[u64], kept: u64, total: u64) -> ProfileRow {
        ProfileRow {
            name: name.into(),
            shape: shape.to_vec(),
            kept,
            total,
        }
    }

    #[test]
    fn masked_pairs_are_one_row_named_for_the_parameter() {
        // The torch-prune layout: P_orig + P_mask, a bias, and one P + P_mask (no _orig).
        let p = profile(&[
            t("fc1.bias", &[300], 300, false),
            t("fc1.weight_orig", &[300, 784], 235_200, false),
            t("fc1.weight_mask", &[300, 784], 47_040, true),
            t("fc2.weight", &[100, 300], 30_000, false),
            t("fc2.weight_mask", &[100, 300], 6_000, true),
            t("bn.weight", &[100], 100, false),
            t("fc3.weight", &[10, 100], 1000, false),
        ]);
        assert_eq!(
            p.rows,
            [
                row("fc1.weight", &[300, 784], 47_040, 235_200),
                row("fc2.weight", &[100, 300], 6_000, 30_000),
            ]
        );
        // An unmasked layer in a masked file is not pruned, like the bias and the norm.
        assert_eq!(
            p.not_pruned,
            [
                ("fc1.bias".to_owned(), 300),
                ("bn.weight".to_owned(), 100),
                ("fc3.weight".to_owned(), 1000)
            ]
        );
    }

    #[test]
    fn zeros_layout_rows_are_the_prunable_tensors() {
        let p = profile(&[
            t("conv.weight", &[8, 3, 3, 3], 20, true),
            t("conv.bias", &[8], 8, false),
            t("fc.weight", &[10, 8], 80, true),
        ]);
        assert_eq!(
            p.rows,
            [
                row("conv.weight", &[8, 3, 3, 3], 20, 216),
                row("fc.weight", &[10, 8], 80, 80)
            ]
        );
        assert_eq!(p.not_pruned, [("conv.bias".to_owned(), 8)]);
        assert_eq!(profile(&[]), Profile::default());
    }

    #[test]
    fn one_unit_for_people() {
        assert_eq!(remaining(0.866), "13.4% of weights remaining");
        assert_eq!(percent(0.05), "5.00%");
        assert_eq!(percent(0.0012), "0.12%");
        assert_eq!(percent(0.000123), "0.012%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(1.0), "100.0%");
        assert_eq!(accuracy(&Value::from(0.98123)), "98.12%");
        assert_eq!(accuracy(&Value::Null), "-");
        assert_eq!(
            no_match(&[("task", "x".into()), ("min_accuracy", "0.9".into())]),
            "no tickets match task=x min_accuracy=0.9"
        );
    }
}
