use super::*;

#[test]
fn names_are_lowercased_slugs_of_single_hyphens() {
    assert_eq!(check_name("Alice").unwrap(), "alice");
    assert_eq!(check_name("mit-han-lab").unwrap(), "mit-han-lab");
    assert_eq!(check_name("a1").unwrap(), "a1");
    for bad in [
        "a", "-alice", "alice-", "al--ice", "al_ice", "al.ice", "ali ce", "élodie", "",
    ] {
        assert!(check_name(bad).is_err(), "{bad:?} should be refused");
    }
    assert!(check_name(&"a".repeat(MAX_NAME_LEN)).is_ok());
    assert!(check_name(&"a".repeat(MAX_NAME_LEN + 1)).is_err());
    let reserved = check_name("Admin").unwrap_err();
    assert!(reserved.contains("reserved"), "{reserved}");
}

#[test]
fn a_suggestion_is_a_valid_name_or_none() {
    assert_eq!(
        suggest_name(&[Some("Alice Example")]).as_deref(),
        Some("alice-example")
    );
    assert_eq!(
        suggest_name(&[None, Some("j.doe@lab.example")]).as_deref(),
        Some("j-doe")
    );
    assert_eq!(
        suggest_name(&[Some("__"), Some("bob")]).as_deref(),
        Some("bob")
    );
    assert_eq!(suggest_name(&[Some("admin")]), None);
    assert_eq!(suggest_name(&[None]), None);
}

#[test]
fn owners_admins_and_the_uploading_member_may_manage() {
    let personal = Stewardship {
        owner_id: 1,
        owner_kind: AccountKind::User,
        uploader_id: Some(1),
    };
    assert!(may_manage(personal, 1, None));
    assert!(!may_manage(personal, 2, None));
    // A role means nothing for a person's ticket.
    assert!(!may_manage(personal, 2, Some(Role::Admin)));

    let lab = Stewardship {
        owner_id: 10,
        owner_kind: AccountKind::Org,
        uploader_id: Some(2),
    };
    assert!(
        may_manage(lab, 2, Some(Role::Member)),
        "the uploader, a member"
    );
    assert!(may_manage(lab, 3, Some(Role::Admin)), "an admin");
    assert!(!may_manage(lab, 4, Some(Role::Member)), "another member");
    assert!(!may_manage(lab, 2, None), "the uploader after leaving");
    let old = Stewardship {
        uploader_id: None,
        ..lab
    };
    assert!(!may_manage(old, 2, Some(Role::Member)));
    assert!(may_manage(old, 3, Some(Role::Admin)));
}

#[test]
fn only_admins_change_members_and_the_last_admin_stays() {
    use MemberChange::*;
    let set = |target, role| Set { target, role };
    // An admin adds a member and promotes them.
    assert_eq!(
        check_member_change(1, Some(Role::Admin), set(2, Role::Member), None, 1),
        Ok(())
    );
    assert_eq!(
        check_member_change(
            1,
            Some(Role::Admin),
            set(2, Role::Admin),
            Some(Role::Member),
            1
        ),
        Ok(())
    );
    // A member or an outsider cannot.
    assert_eq!(
        check_member_change(2, Some(Role::Member), set(3, Role::Member), None, 1),
        Err(MemberDenied::NotAdmin)
    );
    assert_eq!(
        check_member_change(9, None, set(9, Role::Admin), None, 1),
        Err(MemberDenied::NotAdmin)
    );
    // The last admin cannot step down, leave, or be removed; with two admins they can.
    assert_eq!(
        check_member_change(
            1,
            Some(Role::Admin),
            set(1, Role::Member),
            Some(Role::Admin),
            1
        ),
        Err(MemberDenied::LastAdmin)
    );
    assert_eq!(
        check_member_change(
            1,
            Some(Role::Admin),
            Remove { target: 1 },
            Some(Role::Admin),
            1
        ),
        Err(MemberDenied::LastAdmin)
    );
    assert_eq!(
        check_member_change(
            1,
            Some(Role::Admin),
            Remove { target: 1 },
            Some(Role::Admin),
            2
        ),
        Ok(())
    );
    // A member may leave; may not remove another; nobody removes a non-member.
    assert_eq!(
        check_member_change(
            2,
            Some(Role::Member),
            Remove { target: 2 },
            Some(Role::Member),
            1
        ),
        Ok(())
    );
    assert_eq!(
        check_member_change(
            2,
            Some(Role::Member),
            Remove { target: 3 },
            Some(Role::Member),
            1
        ),
        Err(MemberDenied::NotAdmin)
    );
    assert_eq!(
        check_member_change(1, Some(Role::Admin), Remove { target: 5 }, None, 1),
        Err(MemberDenied::NotMember)
    );
}

#[test]
fn orcid_ids_carry_their_check_digit() {
    assert_eq!(
        orcid("0000-0002-1825-0097").as_deref(),
        Some("0000-0002-1825-0097")
    );
    assert_eq!(
        orcid("https://orcid.org/0000-0002-1694-233X").as_deref(),
        Some("0000-0002-1694-233X")
    );
    assert_eq!(
        orcid("0000-0001-5109-3700").as_deref(),
        Some("0000-0001-5109-3700")
    );
    for bad in [
        "0000-0002-1825-0098",
        "0000000218250097",
        "0000-0002-1825-009",
        "000a-0002-1825-0097",
        "alice-sub",
        "",
    ] {
        assert_eq!(orcid(bad), None, "{bad:?}");
    }
}

#[test]
fn return_paths_stay_on_this_site() {
    assert_eq!(safe_return_to(Some("/tickets/abc?x=1")), "/tickets/abc?x=1");
    for bad in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "evil",
        "/a\nb",
        "/a\\b",
    ] {
        assert_eq!(safe_return_to(Some(bad)), "/", "{bad:?}");
    }
    assert_eq!(safe_return_to(None), "/");
}

#[test]
fn secrets_compare_whole() {
    assert!(same_secret("abc", "abc"));
    assert!(!same_secret("abc", "abd"));
    assert!(!same_secret("abc", "abcd"));
    let a = secret().unwrap();
    assert_eq!(a.len(), 64);
    assert_ne!(a, secret().unwrap());
}
