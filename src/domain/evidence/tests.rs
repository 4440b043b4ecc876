use serde_json::json;

use super::*;

const SETUP: TicketSetup = TicketSetup {
    dataset: "cifar10",
    metric: "top1_accuracy",
};

fn obs(kind: ResultKind, accuracy: f64) -> Observation<'static> {
    Observation {
        kind,
        accuracy,
        metric: "top1_accuracy",
        by_owner: true,
    }
}

#[test]
fn a_result_defaults_to_the_tickets_dataset_and_metric() {
    let r = parse_result(
        &json!({"kind": "reproduction", "accuracy": 0.91, "seed": 3}),
        SETUP,
        "",
    )
    .unwrap();
    assert_eq!(r.kind, ResultKind::Reproduction);
    assert_eq!(r.dataset, "cifar10");
    assert_eq!(r.metric, "top1_accuracy");
    assert_eq!(r.seed, Some(3));
}

#[test]
fn bad_results_name_their_field() {
    let field = |v: serde_json::Value| parse_result(&v, SETUP, "").unwrap_err().field;
    assert_eq!(field(json!({"accuracy": 0.9})), "kind");
    assert_eq!(
        field(json!({"kind": "reproductoin", "accuracy": 0.9})),
        "kind"
    );
    assert_eq!(field(json!({"kind": "dense"})), "accuracy");
    assert_eq!(
        field(json!({"kind": "dense", "accuracy": 1.5e3})),
        "accuracy"
    );
    assert_eq!(
        field(json!({"kind": "dense", "accuracy": 0.9, "seed": -1})),
        "seed"
    );
    assert_eq!(
        field(json!({"kind": "dense", "accuracy": 0.9, "seed": 1.5})),
        "seed"
    );
    assert_eq!(
        field(json!({"kind": "dense", "accuracy": 0.9, "acuracy": 1})),
        "acuracy"
    );
    assert_eq!(
        field(json!({"kind": "dense", "accuracy": 0.9, "scope": "global"})),
        "scope"
    );
    assert_eq!(
        field(json!({"kind": "random_prune", "accuracy": 0.9, "scope": "both"})),
        "scope"
    );
    assert_eq!(
        field(json!({"kind": "dense", "accuracy": 0.9, "code_url": "ftp://x"})),
        "code_url"
    );
    assert_eq!(
        field(json!({"kind": "dense", "accuracy": 0.9, "notes": "x".repeat(2001)})),
        "notes"
    );
    assert_eq!(field(json!([1])), "result");
    // The percent hint, as for metadata.
    let e = parse_result(&json!({"kind": "dense", "accuracy": 97}), SETUP, "").unwrap_err();
    assert!(e.message.contains("did you mean 0.97"), "{}", e.message);
    let e = parse_result(&json!({"kind": "reproductoin", "accuracy": 0.9}), SETUP, "").unwrap_err();
    assert!(
        e.message.contains("did you mean 'reproduction'"),
        "{}",
        e.message
    );
}

#[test]
fn transfers_and_controls_are_told_apart_by_dataset() {
    let e = parse_result(
        &json!({"kind": "reproduction", "accuracy": 0.9, "dataset": "mnist"}),
        SETUP,
        "",
    )
    .unwrap_err();
    assert_eq!(e.field, "dataset");
    assert!(e.message.contains("transfer"), "{}", e.message);
    let e = parse_result(&json!({"kind": "transfer", "accuracy": 0.9}), SETUP, "").unwrap_err();
    assert_eq!(e.field, "dataset");
    let e = parse_result(
        &json!({"kind": "transfer", "accuracy": 0.9, "dataset": "cifar10"}),
        SETUP,
        "",
    )
    .unwrap_err();
    assert!(e.message.contains("reproduction"), "{}", e.message);
    let t = parse_result(
        &json!({"kind": "transfer", "accuracy": 0.9, "dataset": "SVHN"}),
        SETUP,
        "",
    )
    .unwrap();
    assert_eq!(t.dataset, "svhn");
    let c = parse_result(
        &json!({"kind": "random_prune", "accuracy": 0.9, "dataset": "cifar10", "scope": "global"}),
        SETUP,
        "",
    )
    .unwrap();
    assert_eq!(c.scope, Some(PruneScope::Global));
}

#[test]
fn upload_results_are_bounded_and_distinct() {
    let one = json!({"kind": "random_reinit", "accuracy": 0.8, "seed": 1});
    assert_eq!(
        parse_results(&json!([one.clone()]), SETUP).unwrap().len(),
        1
    );
    // In __metadata__, a JSON string.
    assert_eq!(
        parse_results(&json!(json!([one.clone()]).to_string()), SETUP)
            .unwrap()
            .len(),
        1
    );
    let e = parse_results(&json!([one.clone(), one.clone()]), SETUP).unwrap_err();
    assert_eq!(e.field, "results[1]");
    let e = parse_results(&json!([one.clone(), {"kind": "dense"}]), SETUP).unwrap_err();
    assert_eq!(e.field, "results[1].accuracy");
    let many: Vec<_> = (0..65)
        .map(|i| json!({"kind": "dense", "accuracy": 0.5, "seed": i}))
        .collect();
    assert_eq!(
        parse_results(&json!(many), SETUP).unwrap_err().field,
        "results"
    );
    assert_eq!(
        parse_results(&json!({"a": 1}), SETUP).unwrap_err().field,
        "results"
    );
}

#[test]
fn stats_match_a_direct_computation() {
    let xs = [0.91, 0.93, 0.95, 0.9];
    let s = Stats::of(&xs).unwrap();
    let mean = xs.iter().sum::<f64>() / 4.0;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 3.0;
    assert_eq!(s.n, 4);
    assert!((s.mean - mean).abs() < 1e-15);
    assert!((s.std.unwrap() - var.sqrt()).abs() < 1e-15);
    assert_eq!((s.min, s.max), (0.9, 0.95));
    assert_eq!(Stats::of(&[0.5]).unwrap().std, None);
    assert_eq!(Stats::of(&[]), None);
}

#[test]
fn the_verdict_follows_its_rules_in_order() {
    use ResultKind::*;
    let v = |acc: f64, dense: Option<f64>, rs: &[Observation]| {
        evidence(acc, dense, "top1_accuracy", rs).verdict
    };
    assert_eq!(v(0.98, None, &[]), Verdict::Unverified);
    // Dense results alone verify nothing.
    assert_eq!(
        v(0.98, Some(0.99), &[obs(Dense, 0.99)]),
        Verdict::Unverified
    );
    assert_eq!(v(0.98, None, &[obs(RandomReinit, 0.90)]), Verdict::Wins);
    // Exactly one point above a control is within one point (the tolerance).
    assert_eq!(
        v(0.98, None, &[obs(RandomReinit, 0.97)]),
        Verdict::NoBetterThanControls
    );
    assert_eq!(
        v(0.98, None, &[obs(RandomPrune, 0.99)]),
        Verdict::NoBetterThanControls
    );
    assert_eq!(
        v(
            0.98,
            None,
            &[obs(RandomReinit, 0.9), obs(RandomPrune, 0.975)]
        ),
        Verdict::NoBetterThanControls
    );
    // Half a point below dense is not below dense; a little more is.
    assert_eq!(
        v(0.98, Some(0.985), &[obs(RandomReinit, 0.9)]),
        Verdict::Wins
    );
    assert_eq!(
        v(0.98, Some(0.9851), &[obs(RandomReinit, 0.9)]),
        Verdict::BelowDense
    );
    // below_dense comes before no_better_than_controls.
    assert_eq!(
        v(0.90, Some(0.99), &[obs(RandomReinit, 0.95)]),
        Verdict::BelowDense
    );
    // The dense accuracy is the mean of dense_accuracy and the dense results.
    assert_eq!(
        v(0.98, Some(0.98), &[obs(RandomReinit, 0.9), obs(Dense, 1.0)]),
        Verdict::BelowDense
    );
    // Reproductions move the ticket's mean.
    assert_eq!(
        v(
            0.98,
            None,
            &[obs(RandomReinit, 0.95), obs(Reproduction, 0.90)]
        ),
        Verdict::NoBetterThanControls
    );
}

#[test]
fn other_metrics_are_left_out_and_reproductions_counted() {
    use ResultKind::*;
    let mut other = obs(RandomReinit, 0.2);
    other.metric = "top5_accuracy";
    let mut theirs = obs(Reproduction, 0.96);
    theirs.by_owner = false;
    let mut theirs_top5 = obs(Reproduction, 0.99);
    theirs_top5.metric = "top5_accuracy";
    theirs_top5.by_owner = false;
    let e = evidence(
        0.98,
        None,
        "top1_accuracy",
        &[other, theirs, theirs_top5, obs(Transfer, 0.5)],
    );
    assert_eq!(e.verdict, Verdict::Unverified);
    assert_eq!(e.margin, None);
    assert_eq!(e.random_reinit, None);
    assert_eq!(e.ticket.n, 2);
    assert!((e.ticket.mean - 0.97).abs() < 1e-12);
    assert_eq!((e.reproductions, e.reproductions_by_others), (2, 2));
    let e = evidence(
        0.98,
        None,
        "top1_accuracy",
        &[obs(RandomReinit, 0.9), obs(RandomPrune, 0.92)],
    );
    assert!((e.margin.unwrap() - 0.06).abs() < 1e-12);
}

#[test]
fn transfer_rows_group_into_ordered_cells() {
    let cells = transfer_cells([
        ("mnist".into(), "svhn".into(), 0.8, "b".into()),
        ("cifar10".into(), "svhn".into(), 0.7, "a".into()),
        ("cifar10".into(), "svhn".into(), 0.9, "a".into()),
        ("cifar10".into(), "cifar100".into(), 0.5, "c".into()),
    ]);
    let keys: Vec<_> = cells
        .iter()
        .map(|c| (c.source.as_str(), c.target.as_str(), c.n))
        .collect();
    assert_eq!(
        keys,
        [
            ("cifar10", "cifar100", 1),
            ("cifar10", "svhn", 2),
            ("mnist", "svhn", 1)
        ]
    );
    assert!((cells[1].mean - 0.8).abs() < 1e-12);
    assert_eq!(cells[1].tickets, ["a"]);
}
