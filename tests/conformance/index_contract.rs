//! The index port's contract, driven through the `Index` trait itself (no HTTP), on both
//! backends: dedup by content, takedowns releasing an object only with its last ticket, facet
//! counts kept in step by edits and yanks, idempotent revocation, ids in the order asked, and
//! a taken name.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use ticketbooth::domain::search::TicketFilter;
use ticketbooth::domain::tokens::NewToken;
use ticketbooth::index::{FacetCount, Index, IndexError, NewTicket, TicketEdit, User};

use crate::common::{TestServer, conformance};

/// The index under test, as the server holds it.
fn index(srv: &TestServer) -> &dyn Index {
    srv.state.index.as_ref()
}

async fn owner(srv: &TestServer, name: &str) -> User {
    let hash = format!("{name}-contract-token-hash-{name}-0123456789");
    index(srv)
        .create_token(name, hash.as_bytes())
        .await
        .unwrap()
}

/// A ticket row with content `sha` stored (if first) under `object_key`.
fn row(owner: &User, name: &str, sha: char, object_key: &str, tags: &[&str]) -> NewTicket {
    let mut t = crate::common::ticket_row(owner.id, name);
    t.meta.task = "contract".into();
    t.meta.tags = tags.iter().map(|t| t.to_string()).collect();
    t.sha256 = sha.to_string().repeat(64);
    t.object_key = object_key.to_owned();
    t.size_bytes = 10;
    t
}

/// A time both backends store exactly (Postgres keeps microseconds).
fn at(seconds_ago: i64) -> DateTime<Utc> {
    (Utc::now() - Duration::seconds(seconds_ago)).trunc_subsecs(0)
}

fn counts(pairs: &[(&str, u64)]) -> Vec<FacetCount> {
    pairs
        .iter()
        .map(|(value, count)| FacetCount {
            value: value.to_string(),
            count: *count,
        })
        .collect()
}

/// The task and tag facets of the contract's task, yanked tickets left out (all alice's).
async fn task_and_tags(srv: &TestServer) -> (Vec<FacetCount>, Vec<FacetCount>) {
    let filter = TicketFilter {
        task: Some("contract".into()),
        ..TicketFilter::default()
    };
    let facets = index(srv).facets(&filter).await.unwrap();
    // The counts kept on write answer that filter; an owner filter counts the tickets afresh.
    let fresh = TicketFilter {
        owner: Some("alice".into()),
        ..filter
    };
    let counted = index(srv).facets(&fresh).await.unwrap();
    assert_eq!((&facets.task, &facets.tag), (&counted.task, &counted.tag));
    (facets.task, facets.tag)
}

conformance! {
    async fn index_publish_of_known_content_returns_the_first_object(srv) {
        let alice = owner(&srv, "alice").await;
        let first = index(&srv).publish(&row(&alice, "one", 'a', "objects/first", &[])).await.unwrap();
        assert_eq!(first.object_key, "objects/first");
        let second = index(&srv).publish(&row(&alice, "two", 'a', "objects/second", &[])).await.unwrap();
        assert_eq!(second.object_key, "objects/first", "the second upload's own object is not used");
        let blob = index(&srv).blob_of(&second.ticket.id).await.unwrap().unwrap();
        assert_eq!(blob.object_key, "objects/first");
        let other = index(&srv).publish(&row(&alice, "three", 'b', "objects/third", &[])).await.unwrap();
        assert_eq!(other.object_key, "objects/third");
    }

    async fn index_take_down_releases_the_object_only_with_its_last_ticket(srv) {
        let alice = owner(&srv, "alice").await;
        let one = index(&srv).publish(&row(&alice, "one", 'c', "objects/shared", &[])).await.unwrap();
        let two = index(&srv).publish(&row(&alice, "two", 'c', "objects/unused", &[])).await.unwrap();
        let sha = one.ticket.sha256.clone();

        let first = index(&srv).take_down(&one.ticket.id, "dmca", "operator", at(2)).await.unwrap();
        assert_eq!(first.object_key, None, "another ticket still has the content");
        assert!(index(&srv).ticket(&one.ticket.id).await.unwrap().is_none());
        let kept = index(&srv).referenced_objects(&["objects/shared".to_owned()]).await.unwrap();
        assert!(kept.contains("objects/shared"));
        assert_eq!(index(&srv).blob_tickets(&sha).await.unwrap().len(), 1);

        let last = index(&srv).take_down(&two.ticket.id, "dmca", "operator", at(1)).await.unwrap();
        assert_eq!(last.object_key.as_deref(), Some("objects/shared"));
        assert!(index(&srv).referenced_objects(&["objects/shared".to_owned()]).await.unwrap().is_empty());
        assert!(index(&srv).blobs_page(None, 100).await.unwrap().iter().all(|b| b.sha256 != sha));
        let audit = index(&srv).takedowns().await.unwrap();
        assert_eq!(audit, vec![first, last]);
        assert!(matches!(
            index(&srv).take_down(&two.ticket.id, "again", "operator", at(0)).await,
            Err(IndexError::NotFound)
        ));
    }

    async fn index_facet_counts_follow_edits_and_yanks(srv) {
        let alice = owner(&srv, "alice").await;
        let one = index(&srv).publish(&row(&alice, "one", 'd', "objects/d", &["x", "y"])).await.unwrap();
        index(&srv).publish(&row(&alice, "two", 'e', "objects/e", &["x"])).await.unwrap();
        assert_eq!(task_and_tags(&srv).await, (counts(&[("contract", 2)]), counts(&[("x", 2), ("y", 1)])));

        let edit = TicketEdit { tags: Some(vec!["y".into(), "z".into()]), ..TicketEdit::default() };
        let edited = index(&srv).edit(&one.ticket.id, &edit).await.unwrap();
        assert_eq!(edited.tags, vec!["y".to_owned(), "z".to_owned()]);
        let (tasks, tags) = task_and_tags(&srv).await;
        assert_eq!(tasks, counts(&[("contract", 2)]));
        let mut tags: Vec<(String, u64)> = tags.into_iter().map(|c| (c.value, c.count)).collect();
        tags.sort();
        assert_eq!(tags, vec![("x".to_owned(), 1), ("y".to_owned(), 1), ("z".to_owned(), 1)]);

        let yanked = index(&srv).set_yanked(&one.ticket.id, true).await.unwrap();
        assert!(yanked.yanked);
        // Idempotent: a second yank moves no count.
        index(&srv).set_yanked(&one.ticket.id, true).await.unwrap();
        assert_eq!(task_and_tags(&srv).await, (counts(&[("contract", 1)]), counts(&[("x", 1)])));
        let all = TicketFilter { task: Some("contract".into()), include_yanked: true, ..TicketFilter::default() };
        assert_eq!(index(&srv).facets(&all).await.unwrap().task, counts(&[("contract", 2)]));

        index(&srv).set_yanked(&one.ticket.id, false).await.unwrap();
        let (tasks, tags) = task_and_tags(&srv).await;
        assert_eq!(tasks, counts(&[("contract", 2)]));
        assert_eq!(tags.iter().map(|c| c.count).sum::<u64>(), 3);
    }

    async fn index_revoke_is_idempotent_and_keeps_the_first_time(srv) {
        let spec = NewToken { label: Some("laptop".into()), ..NewToken::unrestricted() };
        let token = index(&srv)
            .create_token_with("carol", b"carol-contract-token-hash-0123456789ab", &spec)
            .await
            .unwrap();
        let (first, second) = (at(60), at(0));
        let revoked = index(&srv).revoke_token(token.id, None, first).await.unwrap().unwrap();
        assert_eq!(revoked.revoked_at, Some(first));
        let again = index(&srv).revoke_token(token.id, None, second).await.unwrap().unwrap();
        assert_eq!(again.revoked_at, Some(first), "the first revocation time stays");
        let (_, stored) = index(&srv)
            .token_by_hash(b"carol-contract-token-hash-0123456789ab")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.revoked_at, Some(first));
        assert!(index(&srv).revoke_token(i64::MAX, None, second).await.unwrap().is_none());
    }

    async fn index_tickets_by_ids_keeps_the_order_asked(srv) {
        let alice = owner(&srv, "alice").await;
        let mut ids = Vec::new();
        for (n, sha) in ['1', '2', '3', '4'].into_iter().enumerate() {
            let ticket = row(&alice, &format!("t{n}"), sha, &format!("objects/{sha}"), &[]);
            ids.push(index(&srv).publish(&ticket).await.unwrap().ticket.id);
        }
        let asked = vec![ids[2].clone(), ids[0].clone(), "no-such-id".to_owned(), ids[3].clone(), ids[1].clone()];
        let got: Vec<String> = index(&srv).tickets_by_ids(&asked).await.unwrap().into_iter().map(|t| t.id).collect();
        assert_eq!(got, vec![ids[2].clone(), ids[0].clone(), ids[3].clone(), ids[1].clone()]);
        assert!(index(&srv).tickets_by_ids(&[]).await.unwrap().is_empty());
    }

    async fn index_second_publish_of_a_name_is_name_taken(srv) {
        let alice = owner(&srv, "alice").await;
        let bob = owner(&srv, "bob").await;
        index(&srv).publish(&row(&alice, "same", 'f', "objects/f", &[])).await.unwrap();
        assert!(index(&srv).name_taken(alice.id, "same").await.unwrap());
        let again = index(&srv).publish(&row(&alice, "same", 'g', "objects/g", &[])).await;
        assert!(matches!(again, Err(IndexError::NameTaken)), "{again:?}");
        // The failed publish left nothing behind: not its blob row either.
        assert!(index(&srv).referenced_objects(&["objects/g".to_owned()]).await.unwrap().is_empty());
        // Another owner may use the name.
        index(&srv).publish(&row(&bob, "same", 'g', "objects/g", &[])).await.unwrap();
    }
}
