use super::*;
use serde_json::json;

fn base() -> Map<String, Value> {
    json!({
        "name": "ResNet20-IMP-L5", "task": "image-classification", "dataset": "cifar10",
        "architecture": "resnet20", "pruning_method": "imp-rewind", "accuracy": 0.912
    })
    .as_object()
    .cloned()
    .unwrap()
}

fn resolve_json(m: &Map<String, Value>) -> Result<TicketMetadata, InvalidMetadata> {
    resolve(Some(m), &BTreeMap::new())
}

fn with(key: &str, v: Value) -> Map<String, Value> {
    let mut m = base();
    m.insert(key.into(), v);
    m
}

#[test]
fn valid_metadata_is_normalized() {
    let m = resolve_json(&with("tags", json!(["LTH", "imp", "lth"]))).unwrap();
    assert_eq!(m.name, "resnet20-imp-l5");
    assert_eq!(m.metric, DEFAULT_METRIC);
    assert_eq!(m.tags, ["lth", "imp"]);
    assert_eq!(m.dense_accuracy, None);
}

#[test]
fn missing_required_field_is_named() {
    let mut m = base();
    m.remove("dataset");
    let e = resolve_json(&m).unwrap_err();
    assert_eq!(e.field, "dataset");
}

#[test]
fn percentage_accuracy_gets_a_hint() {
    let e = resolve_json(&with("accuracy", json!(93.4))).unwrap_err();
    assert_eq!(e.field, "accuracy");
    assert_eq!(
        e.to_string(),
        "accuracy: must be a fraction in [0, 1]; 93.4 looks like a percentage (did you mean 0.934?)"
    );
    assert!(resolve_json(&with("accuracy", json!(-0.1))).is_err());
    assert!(resolve_json(&with("accuracy", json!("0.9"))).is_err());
    assert!(resolve_json(&with("dense_accuracy", json!(1.5))).is_err());
    assert_eq!(
        resolve_json(&with("accuracy", json!(1))).unwrap().accuracy,
        1.0
    );
}

#[test]
fn unknown_key_is_named_with_a_suggestion() {
    let e = parse_json_part(br#"{"acuracy": 0.9}"#).unwrap_err();
    assert_eq!(e.field, "acuracy");
    assert!(e.message.contains("did you mean 'accuracy'"));
    for (typo, meant) in [
        ("hyperparams", "hyperparameters"),
        ("taks", "task"),
        ("paper", "paper_url"),
        ("Dataset", "dataset"),
    ] {
        let e = parse_json_part(format!(r#"{{"{typo}": 1}}"#).as_bytes()).unwrap_err();
        assert_eq!(e.field, typo);
        assert!(
            e.message.contains(&format!("did you mean '{meant}'")),
            "{typo}: {}",
            e.message
        );
    }
    assert_eq!(closest("colour", FIELDS), None);
    assert_eq!(closest("x", FIELDS), None);
    // A huge key gets no suggestion, at once.
    let started = std::time::Instant::now();
    assert_eq!(closest(&"task".repeat(250_000), FIELDS), None);
    assert!(started.elapsed() < std::time::Duration::from_millis(50));
    assert!(parse_json_part(b"[1]").is_err());
    assert!(parse_json_part(b"{oops").is_err());
}

#[test]
fn file_metadata_fills_gaps_and_json_wins() {
    let file: BTreeMap<String, String> = [
        ("name", "from-file"),
        ("task", "image-classification"),
        ("dataset", "mnist"),
        ("architecture", "lenet-300-100"),
        ("pruning_method", "imp"),
        ("accuracy", "0.98"),
        ("tags", "a, b,,c"),
        ("hyperparameters", r#"{"lr": 0.1}"#),
        ("format", "pt"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let only_file = resolve(None, &file).unwrap();
    assert_eq!(only_file.accuracy, 0.98);
    assert_eq!(only_file.tags, ["a", "b", "c"]);
    assert_eq!(only_file.hyperparameters.unwrap()["lr"], json!(0.1));
    let json = json!({"name": "from-json", "dataset": null})
        .as_object()
        .cloned()
        .unwrap();
    let merged = resolve(Some(&json), &file).unwrap();
    assert_eq!(merged.name, "from-json");
    assert_eq!(merged.dataset, "mnist", "JSON null falls back to the file");
}

#[test]
fn edits_touch_only_descriptive_fields() {
    let e = parse_edit(&json!({"description": "new", "tags": ["A"], "license": null})).unwrap();
    assert_eq!(e.description, Some(Some("new".into())));
    assert_eq!(e.tags, Some(vec!["a".to_string()]));
    assert_eq!(e.license, Some(None));
    assert_eq!(e.paper_url, None);
    for (body, field) in [
        (json!({"accuracy": 0.99}), "accuracy"),
        (json!({"sparsity": 0.1}), "sparsity"),
        (json!({"paper_url": "nope"}), "paper_url"),
    ] {
        assert_eq!(parse_edit(&body).unwrap_err().field, field);
    }
    assert!(
        parse_edit(&json!({"accuracy": 1}))
            .unwrap_err()
            .message
            .contains("new upload")
    );
    assert!(parse_edit(&json!([1])).is_err());
}

#[test]
fn bad_optional_fields_are_rejected() {
    for (k, v) in [
        ("paper_url", json!("javascript:alert(1)")),
        ("code_url", json!("ftp://x.org/a")),
        ("tags", json!("a,b")),
        (
            "tags",
            json!((0..33).map(|i| format!("t{i}")).collect::<Vec<_>>()),
        ),
        ("hyperparameters", json!([1, 2])),
        ("description", json!("x".repeat(MAX_DESCRIPTION_BYTES + 1))),
        ("name", json!("-leading-dash")),
        ("task", json!("image classification")),
        ("metric", json!(5)),
    ] {
        let e = resolve_json(&with(k, v)).unwrap_err();
        assert_eq!(e.field, k, "{}", e.message);
    }
}
