//! Aligned tables for people, JSON lines for scripts.

use serde_json::Value;

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

/// Percent of weights remaining, as the papers plot it.
fn remaining(sparsity: f64) -> String {
    format!("{:.2}%", (1.0 - sparsity) * 100.0)
}

pub fn print_tickets(items: &Value, json: bool) {
    let items = items.as_array().cloned().unwrap_or_default();
    if json {
        for t in &items {
            println!("{t}");
        }
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
                remaining(t["sparsity"].as_f64().unwrap_or_default()),
                format!("{:.4}", t["accuracy"].as_f64().unwrap_or_default()),
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
            "REMAINING",
            "ACCURACY",
            "DOWNLOADS",
        ],
        &rows,
    );
}

pub fn print_ticket(t: &Value) {
    let fields = [
        "id",
        "owner",
        "name",
        "task",
        "dataset",
        "architecture",
        "pruning_method",
        "accuracy",
        "dense_accuracy",
        "metric",
        "sparsity",
        "params_total",
        "params_kept",
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
    ];
    let width = fields.iter().map(|f| f.len()).max().unwrap_or(0);
    for f in fields {
        println!("{f:<width$}  {}", text(&t[f]));
    }
    println!(
        "{:<width$}  {}",
        "remaining",
        remaining(t["sparsity"].as_f64().unwrap_or_default())
    );
    println!();
    let rows: Vec<Vec<String>> = t["tensors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|x| {
            let params = x["params"].as_u64().unwrap_or_default();
            let kept = x["kept"].as_u64().unwrap_or_default();
            vec![
                text(&x["name"]),
                text(&x["dtype"]),
                text(&x["shape"]),
                params.to_string(),
                kept.to_string(),
                if params > 0 {
                    format!("{:.2}%", kept as f64 * 100.0 / params as f64)
                } else {
                    "-".into()
                },
                if x["prunable"].as_bool().unwrap_or(false) {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]
        })
        .collect();
    print_table(
        &[
            "TENSOR", "DTYPE", "SHAPE", "PARAMS", "KEPT", "KEPT%", "PRUNABLE",
        ],
        &rows,
    );
}
