use super::*;

fn pairs(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

fn c(id: &str, sparsity: f64, accuracy: f64) -> Candidate {
    Candidate {
        id: id.into(),
        sparsity,
        accuracy,
    }
}

fn ids(v: &[Candidate]) -> Vec<&str> {
    v.iter().map(|c| c.id.as_str()).collect()
}
#[test]
fn frontier_is_exactly_the_pareto_set() {
    let f = pareto_frontier(vec![
        c("dense", 0.0, 0.92),
        c("l1", 0.2, 0.93),
        c("l2", 0.36, 0.925),
        c("worse", 0.3, 0.90),       // dominated by l2
        c("tie-sparse", 0.36, 0.91), // same sparsity as l2, less accurate
        c("l5", 0.67, 0.91),
        c("same-acc-less-sparse", 0.5, 0.91), // dominated by l5 (sparser, equal accuracy)
        c("l9", 0.87, 0.80),
    ]);
    assert_eq!(ids(&f), ["l1", "l2", "l5", "l9"]);
    // "dense" is dominated by l1 (sparser and more accurate).
    let dupes = pareto_frontier(vec![c("a", 0.5, 0.9), c("b", 0.5, 0.9), c("c", 0.4, 0.95)]);
    assert_eq!(ids(&dupes), ["c", "a", "b"]);
    assert!(pareto_frontier(vec![]).is_empty());
    assert_eq!(ids(&pareto_frontier(vec![c("x", 0.1, 0.1)])), ["x"]);
}

#[test]
fn search_parameters_are_validated_by_name() {
    for (q, field) in [
        ("min_sparsity=abc", "min_sparsity"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("sort=size", "sort"),
        ("order=up", "order"),
        ("cursor=garbage", "cursor"),
        ("task=Bad Task", "task"),
        ("colour=red", "colour"),
        ("task=a&task=b", "task"),
        ("include_yanked=maybe", "include_yanked"),
    ] {
        assert_eq!(parse_search(&pairs(q)).unwrap_err().field, field, "{q}");
    }
    let (f, p) = parse_search(&pairs(
        "tag=b&tag=A&tag=b&q=%20ResNet%20&sort=accuracy&order=asc&limit=5",
    ))
    .unwrap();
    assert_eq!(f.tags, ["a", "b"]);
    assert_eq!(f.q.as_deref(), Some("resnet"));
    assert_eq!(
        (p.sort, p.order, p.limit),
        (SortKey::Accuracy, Order::Asc, 5)
    );
}

#[test]
fn fraction_bounds_refuse_percentages_and_unknown_names_get_a_hint() {
    for (q, field, hint) in [
        ("min_accuracy=97", "min_accuracy", "did you mean 0.97?"),
        ("max_accuracy=99.5", "max_accuracy", "did you mean 0.995?"),
        ("min_sparsity=90", "min_sparsity", "did you mean 0.9?"),
        ("max_sparsity=-0.1", "max_sparsity", "got -0.1"),
        ("min_sparsity=1000", "min_sparsity", "got 1000"),
        ("taks=x", "taks", "did you mean 'task'?"),
        ("min_acc=0.9", "min_acc", "did you mean 'min_accuracy'?"),
    ] {
        let e = parse_search(&pairs(q)).unwrap_err();
        assert_eq!(e.field, field, "{q}");
        assert!(e.message.contains(hint), "{q}: {}", e.message);
        assert!(!e.message.starts_with(field), "{q}: {}", e.message);
    }
    assert_eq!(
        parse_filter_only(&pairs("min_sparsity=90"))
            .unwrap_err()
            .to_string(),
        "min_sparsity: must be a fraction in [0, 1]; 90 looks like a percentage (did you mean 0.9?)"
    );
    let (f, _) = parse_search(&pairs("min_accuracy=0&max_accuracy=1&min_sparsity=0.9")).unwrap();
    assert_eq!(
        (f.min_accuracy, f.max_accuracy, f.min_sparsity),
        (Some(0.0), Some(1.0), Some(0.9))
    );
    assert_eq!(
        parse_search(&pairs("colour=red")).unwrap_err().message,
        "unknown parameter"
    );
}

#[test]
fn cursors_are_bound_to_their_query() {
    let (f, p) = parse_search(&pairs("task=x&sort=accuracy")).unwrap();
    let after = After {
        value: Some(SortValue::Real(0.5)),
        seq: 42,
    };
    let cursor = encode_cursor(after, &f, &p);
    let (_, again) = parse_search(&pairs(&format!(
        "task=x&sort=accuracy&limit=7&cursor={cursor}"
    )))
    .unwrap();
    assert_eq!(again.after, Some(after));
    for other in [
        "task=y&sort=accuracy",
        "task=x&sort=sparsity",
        "task=x&sort=accuracy&order=asc",
    ] {
        let e = parse_search(&pairs(&format!("{other}&cursor={cursor}"))).unwrap_err();
        assert_eq!(e.field, "cursor", "{other}");
    }
}

#[test]
fn cursors_carry_floats_bit_exactly() {
    let (f, p) = parse_search(&pairs("sort=sparsity")).unwrap();
    // Values whose shortest decimal form has 16-17 digits: a decimal cursor lost them.
    for x in [
        0.9299999999999999,
        1.0 - 0.8f64.powi(7),
        0.1 + 0.2,
        f64::MIN_POSITIVE,
        1.0,
    ] {
        let after = After {
            value: Some(SortValue::Real(x)),
            seq: 3,
        };
        let cursor = encode_cursor(after, &f, &p);
        let (_, again) = parse_search(&pairs(&format!("sort=sparsity&cursor={cursor}"))).unwrap();
        match again.after.and_then(|a| a.value) {
            Some(SortValue::Real(y)) => assert_eq!(y.to_bits(), x.to_bits(), "{x}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_page_past_its_limit_says_where_the_next_begins() {
    let (f, p) = parse_search(&pairs("sort=accuracy&limit=2")).unwrap();
    let key = |x: &(f64, i64)| SortValues {
        accuracy: x.0,
        sparsity: 0.0,
        downloads: 0,
        reproductions: 0,
        seq: x.1,
    };
    let (items, cursor) = paginate(vec![(0.9, 5), (0.8, 4), (0.7, 3)], &f, &p, key);
    assert_eq!(items, [(0.9, 5), (0.8, 4)]);
    let (_, next) = parse_search(&pairs(&format!(
        "sort=accuracy&limit=2&cursor={}",
        cursor.unwrap()
    )))
    .unwrap();
    assert_eq!(
        next.after,
        Some(After {
            value: Some(SortValue::Real(0.8)),
            seq: 4
        })
    );
    let (items, cursor) = paginate(vec![(0.9, 5), (0.8, 4)], &f, &p, key);
    assert_eq!((items.len(), cursor), (2, None));
}
