use super::*;

use schemas::{
    CollectionCreated, GroupChanged, SupportGrantChanged, TenantCreated, UserChanged, UserInvited, UserPasswordSet,
};

// ------------------------------------------------------------------ given

const T0: i64 = 1_800_000_000_000_000;
const HOUR: i64 = 3_600_000_000;
const BY: &str = "user:usr_olli";

fn tenant_created(id: &str) -> ConfigEvent {
    TenantCreated {
        tenant_id: id.into(),
        name: id.to_uppercase(),
        region: "eu".into(),
        created_at: 0,
    }
    .into()
}

fn collection(tenant: &str, id: &str) -> ConfigEvent {
    CollectionCreated {
        tenant_id: tenant.into(),
        collection: id.into(),
        name: id.into(),
        created_at: 0,
    }
    .into()
}

/// A 32-byte stand-in for an invitation token's hash.
fn hash(label: &str) -> Vec<u8> {
    let mut bytes = label.as_bytes().to_vec();
    bytes.resize(32, b'.');
    bytes
}

/// A user of `scope` invited at T0.
fn invited(scope: &str, user: &str, role: &str) -> ConfigEvent {
    UserInvited {
        tenant_id: scope.into(),
        user_id: user.into(),
        email: format!("{user}@example.com"),
        role: role.into(),
        invitation_sha256: hash(user),
        invited_at: T0,
        expires_at: T0 + 72 * HOUR,
        changed_by: BY.into(),
    }
    .into()
}

/// A user of `scope` invited at T0 who accepted an hour later.
fn active(scope: &str, user: &str, role: &str) -> [ConfigEvent; 2] {
    [
        invited(scope, user, role),
        UserPasswordSet {
            tenant_id: scope.into(),
            user_id: user.into(),
            sealed_hash: vec![0xAB; 40],
            kek_id: "kek-1".into(),
            cause: "invitation".into(),
            invitation_sha256: Some(hash(user)),
            set_at: T0 + HOUR,
            changed_by: user.into(),
        }
        .into(),
    ]
}

fn user_changed(scope: &str, user: &str, change: &str, role: Option<&str>) -> ConfigEvent {
    UserChanged {
        tenant_id: scope.into(),
        user_id: user.into(),
        change: change.into(),
        role: role.map(str::to_owned),
        changed_at: T0 + 3 * HOUR,
        changed_by: BY.into(),
    }
    .into()
}

fn group(tenant: &str, id: &str, change: &str, user: Option<&str>) -> ConfigEvent {
    GroupChanged {
        tenant_id: tenant.into(),
        group_id: id.into(),
        change: change.into(),
        name: Some(id.to_uppercase()),
        user_id: user.map(str::to_owned),
        changed_at: T0 + 2 * HOUR,
        changed_by: BY.into(),
    }
    .into()
}

/// A grant to `principal` ("usr_…" is a user, anything else a group).
fn grant(
    tenant: &str,
    id: &str,
    principal: &str,
    collection: Option<&str>,
    level: &str,
    tags: &[&str],
) -> AccessGrantChanged {
    let kind = if principal.starts_with("usr_") { "user" } else { "group" };
    AccessGrantChanged {
        tenant_id: tenant.into(),
        grant_id: id.into(),
        change: "granted".into(),
        principal_kind: Some(kind.into()),
        principal_id: Some(principal.into()),
        collection: collection.map(str::to_owned),
        level: Some(level.into()),
        tag_filter: tags.iter().map(|t| t.to_string()).collect(),
        changed_at: T0 + 4 * HOUR,
        changed_by: BY.into(),
    }
}

fn granted(
    tenant: &str,
    id: &str,
    principal: &str,
    collection: Option<&str>,
    level: &str,
    tags: &[&str],
) -> ConfigEvent {
    grant(tenant, id, principal, collection, level, tags).into()
}

fn revoked(tenant: &str, id: &str) -> ConfigEvent {
    AccessGrantChanged {
        tenant_id: tenant.into(),
        grant_id: id.into(),
        change: "revoked".into(),
        principal_kind: None,
        principal_id: None,
        collection: None,
        level: None,
        tag_filter: vec![],
        changed_at: T0 + 5 * HOUR,
        changed_by: "operator".into(),
    }
    .into()
}

fn restricted(tenant: &str, names: &[&str]) -> ConfigEvent {
    RestrictedTagsSet {
        tenant_id: tenant.into(),
        tag_names: names.iter().map(|n| n.to_string()).collect(),
        changed_at: T0 + 4 * HOUR,
        changed_by: BY.into(),
    }
    .into()
}

fn support_granted(tenant: &str, user: &str, at: i64, length: i64) -> ConfigEvent {
    SupportGrantChanged {
        tenant_id: tenant.into(),
        grant_id: "sg_1".into(),
        change: "granted".into(),
        support_user_id: Some(user.into()),
        reason: Some("ticket 4711".into()),
        expires_at: Some(at + length),
        changed_at: at,
        changed_by: BY.into(),
    }
    .into()
}

/// Tenants "acme" (collections "surveys" and "tickets"; an owner olli, an
/// admin adam, analysts aino and ari, a viewer vera, compliance cora, an
/// invited analyst ilona; the group "helsinki" with aino and vera) and
/// "globex" (collection "surveys", analyst gus), then `events`.
fn given(events: impl IntoIterator<Item = ConfigEvent>) -> Directory {
    let setup = [
        vec![
            tenant_created("acme"),
            tenant_created("globex"),
            collection("acme", "surveys"),
            collection("acme", "tickets"),
            collection("globex", "surveys"),
        ],
        active("acme", "usr_olli", "owner").to_vec(),
        active("acme", "usr_adam", "admin").to_vec(),
        active("acme", "usr_aino", "analyst").to_vec(),
        active("acme", "usr_ari", "analyst").to_vec(),
        active("acme", "usr_vera", "viewer").to_vec(),
        active("acme", "usr_cora", "compliance").to_vec(),
        vec![invited("acme", "usr_ilona", "analyst")],
        active("globex", "usr_gus", "analyst").to_vec(),
        vec![
            group("acme", "helsinki", "created", None),
            group("acme", "helsinki", "member_added", Some("usr_aino")),
            group("acme", "helsinki", "member_added", Some("usr_vera")),
        ],
    ]
    .concat();
    let mut d = Directory::default();
    for event in setup.into_iter().chain(events) {
        if let Err(e) = d.apply(&event) {
            panic!("the given event {event:?} is valid, but: {e}");
        }
    }
    d
}

// ------------------------------------------------------------ when / then

/// The name of the outcome's variant ("ok", "UnknownUser", …).
fn outcome(result: Result<(), ConfigError>) -> String {
    match result {
        Ok(()) => "ok".into(),
        Err(e) => format!("{e:?}")
            .split(['(', ' ', '{'])
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// Applies `event`; a refused event must leave the access state as it was.
fn when(d: &mut Directory, event: &ConfigEvent) -> String {
    let before = d.access.clone();
    let result = d.apply(event);
    if result.is_err() {
        assert_eq!(d.access, before, "a refused {event:?} changed the access state");
    }
    outcome(result)
}

/// A user's effective grants, short: `collection|*` `r|x` `tags`.
fn grants_of(d: &Directory, tenant: &str, user: &str, now: i64) -> Vec<String> {
    let mut out: Vec<String> = d
        .access(tenant, user, now)
        .grants
        .iter()
        .map(|g| {
            let tags: Vec<String> = g.tags.iter().map(ToString::to_string).collect();
            format!(
                "{} {} [{}]",
                g.collection.as_deref().unwrap_or("*"),
                if g.export { "x" } else { "r" },
                tags.join(",")
            )
        })
        .collect();
    out.sort();
    out
}

const NOW: i64 = T0 + 6 * HOUR;

// ------------------------------------------------------------ the checks

#[test]
fn grants_that_break_the_rules_are_refused() {
    let many: Vec<String> = (0..=MAX_TAG_FILTER).map(|i| format!("store:{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let fifty = &many[..MAX_TAG_FILTER];
    let cases: Vec<(&str, ConfigEvent, &str)> = vec![
        (
            "a user, all collections",
            granted("acme", "ag_new", "usr_aino", None, "read", &[]),
            "ok",
        ),
        (
            "a group, one collection, a filter",
            granted(
                "acme",
                "ag_new",
                "helsinki",
                Some("surveys"),
                "export",
                &["store:helsinki", "hr"],
            ),
            "ok",
        ),
        (
            "an invited user",
            granted("acme", "ag_new", "usr_ilona", None, "read", &[]),
            "ok",
        ),
        (
            "fifty tags",
            granted("acme", "ag_new", "usr_aino", None, "read", fifty),
            "ok",
        ),
        (
            "an unknown tenant",
            granted("initech", "ag_new", "usr_aino", None, "read", &[]),
            "UnknownTenant",
        ),
        (
            "the installation",
            granted(INSTALLATION, "ag_new", "usr_aino", None, "read", &[]),
            "UnknownTenant",
        ),
        (
            "an unknown user",
            granted("acme", "ag_new", "usr_nobody", None, "read", &[]),
            "UnknownUser",
        ),
        (
            "another tenant's user",
            granted("acme", "ag_new", "usr_gus", None, "read", &[]),
            "UnknownUser",
        ),
        (
            "an unknown group",
            granted("acme", "ag_new", "espoo", None, "read", &[]),
            "UnknownGroup",
        ),
        (
            "another tenant's group",
            granted("globex", "ag_new", "helsinki", None, "read", &[]),
            "UnknownGroup",
        ),
        (
            "an unknown collection",
            granted("acme", "ag_new", "usr_aino", Some("nps"), "read", &[]),
            "UnknownCollection",
        ),
        (
            "a collection id that is not one",
            granted("acme", "ag_new", "usr_aino", Some("No Such"), "read", &[]),
            "InvalidId",
        ),
        (
            "an unknown level",
            granted("acme", "ag_new", "usr_aino", None, "write", &[]),
            "InvalidAccess",
        ),
        (
            "no level",
            AccessGrantChanged {
                level: None,
                ..grant("acme", "ag_new", "usr_aino", None, "read", &[])
            }
            .into(),
            "InvalidAccess",
        ),
        (
            "an unknown principal kind",
            AccessGrantChanged {
                principal_kind: Some("role".into()),
                ..grant("acme", "ag_new", "usr_aino", None, "read", &[])
            }
            .into(),
            "InvalidAccess",
        ),
        (
            "no principal",
            AccessGrantChanged {
                principal_id: None,
                ..grant("acme", "ag_new", "usr_aino", None, "read", &[])
            }
            .into(),
            "InvalidId",
        ),
        (
            "fifty-one tags",
            granted("acme", "ag_new", "usr_aino", None, "read", &many),
            "InvalidAccess",
        ),
        (
            "a tag twice",
            granted(
                "acme",
                "ag_new",
                "usr_aino",
                None,
                "read",
                &["store:a", "hr", "store:a"],
            ),
            "InvalidAccess",
        ),
        (
            "an empty tag",
            granted("acme", "ag_new", "usr_aino", None, "read", &[""]),
            "InvalidAccess",
        ),
        (
            "an empty value",
            granted("acme", "ag_new", "usr_aino", None, "read", &["store:"]),
            "InvalidAccess",
        ),
        (
            "a control character",
            granted("acme", "ag_new", "usr_aino", None, "read", &["store:a\nb"]),
            "InvalidAccess",
        ),
        (
            "a grant id that exists",
            granted("acme", "ag_1", "usr_aino", None, "read", &[]),
            "InvalidAccess",
        ),
        (
            "a grant id with a space",
            granted("acme", "ag 2", "usr_aino", None, "read", &[]),
            "InvalidId",
        ),
        (
            "an unknown change",
            AccessGrantChanged {
                change: "extended".into(),
                ..grant("acme", "ag_1", "usr_aino", None, "read", &[])
            }
            .into(),
            "InvalidAccess",
        ),
        (
            "revoke an unknown grant",
            revoked("acme", "ag_nope"),
            "UnknownAccessGrant",
        ),
        (
            "revoke it in another tenant",
            revoked("globex", "ag_1"),
            "UnknownAccessGrant",
        ),
        ("revoke a revoked grant", revoked("acme", "ag_old"), "AccessGrantEnded"),
        ("revoke", revoked("acme", "ag_1"), "ok"),
    ];
    for (case, event, expected) in cases {
        let mut d = given([
            granted("acme", "ag_1", "usr_ari", None, "read", &[]),
            granted("acme", "ag_old", "usr_ari", None, "read", &[]),
            revoked("acme", "ag_old"),
        ]);
        assert_eq!(when(&mut d, &event), expected, "{case}");
    }
}

#[test]
fn refusals_say_what_was_wrong() {
    let mut d = given([
        granted("acme", "ag_1", "usr_ari", None, "read", &[]),
        revoked("acme", "ag_1"),
    ]);
    let message = |d: &mut Directory, e: ConfigEvent| d.apply(&e).map_err(|e| e.to_string()).expect_err("refused");
    let cases = [
        (
            revoked("acme", "ag_1"),
            "access grant 'ag_1' has ended already (revoked)",
        ),
        (revoked("acme", "ag_2"), "`vox grant list --tenant acme`"),
        (
            granted("acme", "ag_2", "usr_aino", None, "all", &[]),
            "'all' is not read or export",
        ),
        (
            granted("acme", "ag_2", "usr_aino", None, "read", &["x", "x"]),
            "'x' appears twice",
        ),
        (
            granted("acme", "ag_2", "usr_aino", None, "read", &[":v"]),
            "':v' is not a tag",
        ),
        (
            restricted("acme", &["hr:complaint"]),
            "'hr:complaint' is not a restricted tag name",
        ),
    ];
    for (event, expected) in cases {
        let got = message(&mut d, event);
        assert!(got.contains(expected), "{got}");
    }
}

#[test]
fn a_tenant_has_at_most_a_thousand_grants_in_force() {
    let mut d =
        given((0..MAX_ACTIVE_GRANTS).map(|i| granted("acme", &format!("ag_{i}"), "usr_aino", None, "read", &[])));
    assert_eq!(
        d.apply(&granted("acme", "ag_more", "usr_aino", None, "read", &[])),
        Err(ConfigError::TooManyAccessGrants {
            tenant: "acme".into(),
            limit: MAX_ACTIVE_GRANTS
        })
    );
    assert_eq!(
        when(&mut d, &granted("globex", "ag_more", "usr_gus", None, "read", &[])),
        "ok",
        "per tenant"
    );
    assert_eq!(when(&mut d, &revoked("acme", "ag_7")), "ok");
    assert_eq!(
        when(&mut d, &granted("acme", "ag_more", "usr_aino", None, "read", &[])),
        "ok",
        "a revoked grant does not count"
    );
    assert_eq!(
        d.access_grants("acme").count(),
        MAX_ACTIVE_GRANTS + 1,
        "revoked ones are kept"
    );
}

#[test]
fn restricted_tag_names_are_checked_and_replaced_whole() {
    let mut d = given([]);
    assert!(d.restricted_tags("acme").is_empty());
    assert_eq!(when(&mut d, &restricted("acme", &["legal", "hr", "legal"])), "ok");
    assert_eq!(d.restricted_tags("acme"), ["hr", "legal"], "sorted, without duplicates");
    assert!(d.restricted_tags("globex").is_empty(), "per tenant");
    assert_eq!(when(&mut d, &restricted("acme", &["medical"])), "ok");
    assert_eq!(d.restricted_tags("acme"), ["medical"], "replaced, not added to");
    let long = "n".repeat(128);
    let too_long = "n".repeat(129);
    let hundred: Vec<String> = (0..MAX_RESTRICTED_TAGS).map(|i| format!("t{i}")).collect();
    let hundred_and_one: Vec<String> = (0..=MAX_RESTRICTED_TAGS).map(|i| format!("t{i}")).collect();
    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let cases = [
        ("128 characters", restricted("acme", &[&long]), "ok"),
        (
            "a name with spaces and non-ASCII",
            restricted("acme", &["työ suhde"]),
            "ok",
        ),
        ("100 names", restricted("acme", &refs(&hundred)), "ok"),
        ("129 characters", restricted("acme", &[&too_long]), "InvalidAccess"),
        (
            "101 names",
            restricted("acme", &refs(&hundred_and_one)),
            "InvalidAccess",
        ),
        ("an empty name", restricted("acme", &[""]), "InvalidAccess"),
        (
            "a name with ':'",
            restricted("acme", &["hr:complaint"]),
            "InvalidAccess",
        ),
        ("a control character", restricted("acme", &["h\tr"]), "InvalidAccess"),
        ("an unknown tenant", restricted("initech", &["hr"]), "UnknownTenant"),
    ];
    for (case, event, expected) in cases {
        let mut d = d.clone();
        assert_eq!(when(&mut d, &event), expected, "{case}");
    }
    assert_eq!(when(&mut d, &restricted("acme", &[])), "ok");
    assert!(d.restricted_tags("acme").is_empty(), "cleared");
}

// ------------------------------------------------------- effective access

#[test]
fn roles_imply_grants_and_limit_them() {
    let d = given([
        granted(
            "acme",
            "ag_1",
            "helsinki",
            Some("surveys"),
            "export",
            &["store:helsinki"],
        ),
        granted("acme", "ag_2", "usr_cora", None, "export", &[]),
        granted("acme", "ag_3", "usr_olli", None, "read", &["hr"]),
        granted("acme", "ag_4", "usr_ilona", None, "export", &[]),
        restricted("acme", &["hr"]),
    ]);
    let cases: [(&str, &str, &[&str]); 8] = [
        (
            "an owner: everything, and what is granted",
            "usr_olli",
            &["* r [hr]", "* x []"],
        ),
        ("an admin: everything", "usr_adam", &["* x []"]),
        (
            "an analyst: their group's grant",
            "usr_aino",
            &["surveys x [store:helsinki]"],
        ),
        ("an analyst without grants: nothing", "usr_ari", &[]),
        (
            "a viewer: the group's grant, without export",
            "usr_vera",
            &["surveys r [store:helsinki]"],
        ),
        ("compliance: nothing, even when granted", "usr_cora", &[]),
        ("an invited user: nothing until they accept", "usr_ilona", &[]),
        ("nobody", "usr_nobody", &[]),
    ];
    for (case, user, expected) in cases {
        assert_eq!(grants_of(&d, "acme", user, NOW), expected, "{case}");
    }
    let olli = d.access("acme", "usr_olli", NOW);
    assert_eq!(
        (olli.tenant.as_str(), olli.restricted.as_slice()),
        ("acme", &["hr".to_string()][..])
    );
    assert!(
        grants_of(&d, "globex", "usr_olli", NOW).is_empty(),
        "not in another tenant"
    );
    assert!(
        grants_of(&d, "initech", "usr_olli", NOW).is_empty(),
        "nor an unknown one"
    );
    assert!(d.access("globex", "usr_olli", NOW).restricted.is_empty());
}

#[test]
fn what_an_owner_sees_follows_the_rule() {
    let d = given([
        restricted("acme", &["hr"]),
        granted("acme", "ag_1", "usr_aino", None, "read", &["hr:praise"]),
    ]);
    let tags = |t: &[(&str, &str)]| {
        t.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let plain = tags(&[("store", "espoo")]);
    let hr = tags(&[("hr", "praise")]);
    let item = |t| ::access::Item {
        tenant: "acme",
        collection: "surveys",
        tags: t,
    };
    let owner = d.access("acme", "usr_olli", NOW);
    assert!(::access::visible(&owner, &item(&plain)));
    assert!(!::access::visible(&owner, &item(&hr)), "restricted, not granted");
    let aino = d.access("acme", "usr_aino", NOW);
    assert!(!::access::visible(&aino, &item(&plain)), "her filter names hr only");
    assert!(::access::visible(&aino, &item(&hr)));
}

#[test]
fn disabled_and_deleted_users_lose_their_grants() {
    let mut d = given([granted("acme", "ag_1", "usr_ari", None, "read", &[])]);
    assert_eq!(grants_of(&d, "acme", "usr_ari", NOW), ["* r []"]);
    assert_eq!(when(&mut d, &user_changed("acme", "usr_ari", "disabled", None)), "ok");
    assert!(grants_of(&d, "acme", "usr_ari", NOW).is_empty(), "disabled");
    assert_eq!(when(&mut d, &user_changed("acme", "usr_ari", "enabled", None)), "ok");
    assert_eq!(grants_of(&d, "acme", "usr_ari", NOW), ["* r []"], "enabled again");
    assert_eq!(
        when(&mut d, &user_changed("acme", "usr_ari", "role", Some("viewer"))),
        "ok"
    );
    assert_eq!(grants_of(&d, "acme", "usr_ari", NOW), ["* r []"]);
    assert_eq!(when(&mut d, &user_changed("acme", "usr_ari", "deleted", None)), "ok");
    assert!(grants_of(&d, "acme", "usr_ari", NOW).is_empty(), "deleted");
    let g = d.access_grant("acme", "ag_1").expect("kept");
    assert_eq!(
        g.revoked,
        Some(Revocation {
            at: T0 + 3 * HOUR,
            by: BY.into(),
            because: RevokedBecause::UserDeleted
        }),
        "the user's deletion ended it"
    );
    assert_eq!(when(&mut d, &revoked("acme", "ag_1")), "AccessGrantEnded");
}

#[test]
fn group_membership_decides_at_once() {
    let mut d = given([granted("acme", "ag_1", "helsinki", Some("tickets"), "read", &[])]);
    assert_eq!(grants_of(&d, "acme", "usr_aino", NOW), ["tickets r []"]);
    assert!(grants_of(&d, "acme", "usr_ari", NOW).is_empty());
    assert_eq!(
        when(&mut d, &group("acme", "helsinki", "member_added", Some("usr_ari"))),
        "ok"
    );
    assert_eq!(grants_of(&d, "acme", "usr_ari", NOW), ["tickets r []"], "a new member");
    assert_eq!(
        when(&mut d, &group("acme", "helsinki", "member_removed", Some("usr_aino"))),
        "ok"
    );
    assert!(grants_of(&d, "acme", "usr_aino", NOW).is_empty(), "a removed member");
    assert_eq!(when(&mut d, &group("acme", "helsinki", "renamed", None)), "ok");
    assert_eq!(
        grants_of(&d, "acme", "usr_ari", NOW),
        ["tickets r []"],
        "a rename changes nothing"
    );
}

#[test]
fn a_deleted_group_takes_its_grants_along() {
    let mut d = given([
        granted("acme", "ag_1", "helsinki", None, "read", &[]),
        granted("acme", "ag_2", "usr_aino", Some("surveys"), "read", &[]),
    ]);
    assert_eq!(grants_of(&d, "acme", "usr_aino", NOW), ["* r []", "surveys r []"]);
    assert_eq!(when(&mut d, &group("acme", "helsinki", "deleted", None)), "ok");
    assert_eq!(
        grants_of(&d, "acme", "usr_aino", NOW),
        ["surveys r []"],
        "her own grant stays"
    );
    assert_eq!(
        d.access_grant("acme", "ag_1")
            .and_then(|g| g.revoked.as_ref())
            .map(|r| r.because),
        Some(RevokedBecause::GroupDeleted)
    );
    // The same id again is another group: it does not inherit the grant.
    assert_eq!(when(&mut d, &group("acme", "helsinki", "created", None)), "ok");
    assert_eq!(
        when(&mut d, &group("acme", "helsinki", "member_added", Some("usr_aino"))),
        "ok"
    );
    assert_eq!(grants_of(&d, "acme", "usr_aino", NOW), ["surveys r []"]);
    assert_eq!(d.access_grants("acme").filter(|g| g.is_active()).count(), 1);
}

#[test]
fn a_revoked_grant_is_kept_and_counts_no_more() {
    let mut d = given([
        granted(
            "acme",
            "ag_1",
            "usr_aino",
            Some("surveys"),
            "export",
            &["store:helsinki"],
        ),
        granted("acme", "ag_2", "usr_aino", Some("tickets"), "read", &[]),
    ]);
    assert_eq!(
        grants_of(&d, "acme", "usr_aino", NOW),
        ["surveys x [store:helsinki]", "tickets r []"]
    );
    assert_eq!(when(&mut d, &revoked("acme", "ag_1")), "ok");
    assert_eq!(grants_of(&d, "acme", "usr_aino", NOW), ["tickets r []"]);
    let g = d.access_grant("acme", "ag_1").expect("kept");
    assert_eq!(
        (
            g.principal.clone(),
            g.collection.as_ref().map(|c| c.as_str()),
            g.level,
            g.tag_filter_strings(),
            g.granted_at,
            g.granted_by.as_str(),
            g.revoked_at(),
            g.revoked.as_ref().map(|r| r.by.as_str()),
        ),
        (
            Principal::User(UserId::parse("usr_aino").expect("id")),
            Some("surveys"),
            AccessLevel::Export,
            vec!["store:helsinki".to_string()],
            T0 + 4 * HOUR,
            BY,
            Some(T0 + 5 * HOUR),
            Some("operator"),
        )
    );
    let ids: Vec<&str> = d.access_grants("acme").map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["ag_1", "ag_2"], "every grant, revoked ones too");
}

#[test]
fn support_users_read_everything_only_under_an_active_grant() {
    let start = T0 + 2 * HOUR;
    let d = given(
        [
            active(INSTALLATION, "usr_sam", "support").to_vec(),
            active(INSTALLATION, "usr_sue", "support").to_vec(),
            vec![
                support_granted("acme", "usr_sam", start, 10 * HOUR),
                user_changed(INSTALLATION, "usr_sue", "disabled", None),
            ],
        ]
        .concat(),
    );
    let cases = [
        ("under the grant", "acme", "usr_sam", start, vec!["* r []"]),
        (
            "before it ends",
            "acme",
            "usr_sam",
            start + 10 * HOUR - 1,
            vec!["* r []"],
        ),
        ("after it ended", "acme", "usr_sam", start + 10 * HOUR, vec![]),
        ("another tenant", "globex", "usr_sam", start, vec![]),
        ("without a grant", "acme", "usr_sue", start, vec![]),
        ("the installation itself", INSTALLATION, "usr_sam", start, vec![]),
    ];
    for (case, tenant, user, now, expected) in cases {
        assert_eq!(grants_of(&d, tenant, user, now), expected, "{case}");
    }
    let mut disabled = d.clone();
    assert_eq!(
        when(&mut disabled, &user_changed(INSTALLATION, "usr_sam", "disabled", None)),
        "ok"
    );
    assert!(
        grants_of(&disabled, "acme", "usr_sam", start).is_empty(),
        "a disabled support user"
    );
    let sam = d.access("acme", "usr_sam", start);
    assert!(!sam.may_export(), "support access is read only");
}

#[test]
fn folding_the_same_events_gives_the_same_state() {
    let events = [
        vec![
            granted(
                "acme",
                "ag_1",
                "helsinki",
                Some("surveys"),
                "export",
                &["store:helsinki", "hr"],
            ),
            granted("acme", "ag_2", "usr_ari", None, "read", &[]),
            granted("acme", "ag_3", "usr_aino", Some("tickets"), "read", &[]),
            restricted("acme", &["legal", "hr"]),
            revoked("acme", "ag_2"),
            // Refused (ag_2 is revoked, ag_1 exists): ignored alike by both.
            revoked("acme", "ag_2"),
            granted("acme", "ag_1", "usr_ari", None, "read", &[]),
            group("acme", "helsinki", "member_removed", Some("usr_vera")),
            restricted("globex", &["vip"]),
            user_changed("acme", "usr_aino", "deleted", None),
        ],
        active(INSTALLATION, "usr_sam", "support").to_vec(),
        vec![support_granted("acme", "usr_sam", T0 + 2 * HOUR, 10 * HOUR)],
    ]
    .concat();
    let fold = || {
        let mut d = given([]);
        let outcomes: Vec<String> = events.iter().map(|e| outcome(d.apply(e))).collect();
        (d, outcomes)
    };
    let (a, first) = fold();
    let (b, second) = fold();
    assert_eq!(first, second);
    assert_eq!(first.iter().filter(|o| *o != "ok").count(), 2, "{first:?}");
    assert_eq!(a.access, b.access);
    for user in [
        "usr_olli", "usr_adam", "usr_aino", "usr_ari", "usr_vera", "usr_cora", "usr_sam",
    ] {
        assert_eq!(a.access("acme", user, NOW), b.access("acme", user, NOW), "{user}");
    }
    assert_eq!(a.restricted_tags("acme"), ["hr", "legal"]);
    assert_eq!(
        a.access_grants("acme")
            .filter(|g| g.is_active())
            .map(|g| g.id.as_str())
            .collect::<Vec<_>>(),
        ["ag_1"],
        "ag_2 revoked, ag_3 ended with its user"
    );
}
