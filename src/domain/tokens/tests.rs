use super::*;

fn record(scopes: &[Scope]) -> TokenRecord {
    TokenRecord {
        id: 1,
        user: "alice".into(),
        label: None,
        scopes: scopes.to_vec(),
        created_at: Utc::now(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        minted_by: None,
    }
}

#[test]
fn tokens_are_prefixed_random_and_hashed() {
    let a = generate().unwrap();
    let b = generate().unwrap();
    assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64);
    assert_ne!(a, b);
    assert_ne!(hash(&a), hash(&b));
    assert_eq!(hash(&a), hash(&a.clone()));
}

#[test]
fn scopes_parse_and_print() {
    assert_eq!("upload".parse::<Scope>().unwrap(), Scope::Upload);
    assert_eq!(" yank".parse::<Scope>().unwrap(), Scope::Yank);
    let err = "admin".parse::<Scope>().unwrap_err();
    assert!(
        err.contains("'admin'") && err.contains("upload,yank"),
        "{err}"
    );
    assert_eq!(
        normalize(vec![Scope::Yank, Scope::Upload, Scope::Yank]),
        vec![Scope::Upload, Scope::Yank]
    );
    assert_eq!(join(&Scope::ALL), "upload,yank,tokens,results,orgs");
    assert_eq!(
        serde_json::to_string(&Scope::ALL).unwrap(),
        r#"["upload","yank","tokens","results","orgs"]"#
    );
}

#[test]
fn scope_checks_name_the_missing_scope() {
    let t = record(&[Scope::Yank]);
    assert_eq!(require(&t, Scope::Yank), Ok(()));
    let denied = require(&t, Scope::Upload).unwrap_err();
    assert_eq!(denied, Denied::MissingScope(Scope::Upload));
    assert!(denied.to_string().contains("'upload'"));
}

#[test]
fn revoked_and_expired_tokens_are_unusable() {
    let now = Utc::now();
    let mut t = record(&Scope::ALL);
    assert_eq!(usable(&t, now), Ok(()));
    t.expires_at = Some(now + Duration::seconds(1));
    assert_eq!(usable(&t, now), Ok(()));
    // Expiry is exclusive: at the instant itself the token is refused.
    t.expires_at = Some(now);
    assert_eq!(usable(&t, now), Err(Denied::Expired(now)));
    assert!(usable(&t, now).unwrap_err().to_string().contains("expired"));
    // Revocation wins over expiry in the message: it is the more recent decision.
    t.revoked_at = Some(now - Duration::seconds(5));
    assert!(matches!(usable(&t, now), Err(Denied::Revoked(_))));
    assert!(usable(&t, now).unwrap_err().to_string().contains("revoked"));
}

#[test]
fn use_is_recorded_at_most_once_a_minute() {
    let now = Utc::now();
    let mut t = record(&Scope::ALL);
    assert!(needs_touch(&t, now));
    t.last_used_at = Some(now - Duration::seconds(59));
    assert!(!needs_touch(&t, now));
    t.last_used_at = Some(now - Duration::seconds(60));
    assert!(needs_touch(&t, now));
}

#[test]
fn labels_are_one_short_line() {
    assert!(check_label("ci on main").is_ok());
    assert!(check_label(&"x".repeat(MAX_LABEL_CHARS)).is_ok());
    assert!(
        check_label(&"é".repeat(MAX_LABEL_CHARS)).is_ok(),
        "characters, not bytes"
    );
    assert!(check_label(&"x".repeat(MAX_LABEL_CHARS + 1)).is_err());
    assert!(check_label("two\nlines").is_err());
    assert!(check_label("\u{1b}[31mred").is_err());
}

#[test]
fn expiries_are_future_and_bounded() {
    let now = Utc::now();
    assert!(check_expiry(now + Duration::days(90), now).is_ok());
    assert!(check_expiry(now, now).is_err());
    assert!(check_expiry(now - Duration::days(1), now).is_err());
    assert!(check_expiry(now + Duration::days(MAX_LIFETIME_DAYS + 1), now).is_err());
}

#[test]
fn a_new_token_inherits_the_callers_scopes_and_expiry_by_default() {
    let now = Utc::now();
    let mut caller = record(&[Scope::Upload]);
    let t = plan(TokenRequest::default(), &caller, now).unwrap();
    assert_eq!(t.scopes, vec![Scope::Upload]);
    assert_eq!(t.expires_at, None);
    caller.expires_at = Some(now + Duration::days(3));
    let t = plan(TokenRequest::default(), &caller, now).unwrap();
    assert_eq!(t.expires_at, caller.expires_at);
    let t = plan(
        TokenRequest {
            expires_in_days: Some(1),
            label: Some("short".into()),
            ..Default::default()
        },
        &caller,
        now,
    )
    .unwrap();
    assert_eq!(t.expires_at, Some(now + Duration::days(1)));
    assert_eq!(t.label.as_deref(), Some("short"));
    let t = plan(
        TokenRequest {
            label: Some(String::new()),
            ..Default::default()
        },
        &caller,
        now,
    )
    .unwrap();
    assert_eq!(t.label, None);
}

#[test]
fn a_new_token_cannot_escalate() {
    let now = Utc::now();
    let mut caller = record(&[Scope::Yank]);
    let more = TokenRequest {
        scopes: Some(vec![Scope::Yank, Scope::Upload]),
        ..Default::default()
    };
    match plan(more, &caller, now) {
        Err(RequestError::Escalation { field, message }) => {
            assert_eq!(field, "scopes");
            assert!(message.contains("'upload'"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    caller.expires_at = Some(now + Duration::days(3));
    let longer = TokenRequest {
        expires_in_days: Some(30),
        ..Default::default()
    };
    assert!(matches!(
        plan(longer, &caller, now),
        Err(RequestError::Escalation {
            field: "expires_at",
            ..
        })
    ));
}

#[test]
fn malformed_requests_name_the_field() {
    let now = Utc::now();
    let caller = record(&Scope::ALL);
    let field_of = |req| match plan(req, &caller, now) {
        Err(RequestError::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field_of(TokenRequest {
            scopes: Some(vec![]),
            ..Default::default()
        }),
        "scopes"
    );
    assert_eq!(
        field_of(TokenRequest {
            expires_in_days: Some(1),
            expires_at: Some(now + Duration::days(1)),
            ..Default::default()
        }),
        "expires_at"
    );
    assert_eq!(
        field_of(TokenRequest {
            expires_in_days: Some(0),
            ..Default::default()
        }),
        "expires_in_days"
    );
    assert_eq!(
        field_of(TokenRequest {
            expires_at: Some(now - Duration::days(1)),
            ..Default::default()
        }),
        "expires_at"
    );
    assert_eq!(
        field_of(TokenRequest {
            label: Some("a\tb".into()),
            ..Default::default()
        }),
        "label"
    );
}

#[test]
fn a_session_token_is_bounded_by_the_session_lifetime_setting() {
    let now = Utc::now();
    let all = plan_for_session(TokenRequest::default(), now, 90).unwrap();
    assert_eq!(all.scopes, Scope::ALL.to_vec());
    assert_eq!(all.expires_at, Some(now + Duration::days(90)));
    assert_eq!(
        all.minted_by, None,
        "it belongs to the account, not to a token"
    );
    let short = plan_for_session(
        TokenRequest {
            scopes: Some(vec![Scope::Yank, Scope::Upload, Scope::Yank]),
            expires_in_days: Some(7),
            ..Default::default()
        },
        now,
        90,
    )
    .unwrap();
    assert_eq!(short.scopes, vec![Scope::Upload, Scope::Yank]);
    assert_eq!(short.expires_at, Some(now + Duration::days(7)));
    let long = plan_for_session(
        TokenRequest {
            expires_in_days: Some(91),
            ..Default::default()
        },
        now,
        90,
    );
    assert!(matches!(
        long,
        Err(RequestError::Invalid {
            field: "expires_at",
            ..
        })
    ));
    let none = plan_for_session(
        TokenRequest {
            scopes: Some(vec![]),
            ..Default::default()
        },
        now,
        90,
    );
    assert!(matches!(
        none,
        Err(RequestError::Invalid {
            field: "scopes",
            ..
        })
    ));
}
