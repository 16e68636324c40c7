use super::*;

use schemas::{ByteString, ConfigEvent, TenantCreated};

// ------------------------------------------------------------------ given

const T0: i64 = 1_800_000_000_000_000;
const HOUR: i64 = 3_600_000_000;
const BY: &str = "usr_boss";

/// A 32-byte stand-in for an invitation token's SHA-256, readable in tests.
fn hash(label: &str) -> Vec<u8> {
    assert!(label.len() <= 32, "a label of at most 32 bytes");
    let mut bytes = label.as_bytes().to_vec();
    bytes.resize(32, b'.');
    bytes
}

fn tenant_created(id: &str) -> ConfigEvent {
    TenantCreated {
        tenant_id: id.into(),
        name: id.to_uppercase(),
        region: "eu".into(),
        created_at: 0,
    }
    .into()
}

/// The tenants "acme" and "globex", then `events` (each must be valid).
fn given(events: impl IntoIterator<Item = ConfigEvent>) -> Directory {
    let mut d = Directory::default();
    for event in [tenant_created("acme"), tenant_created("globex")]
        .into_iter()
        .chain(events)
    {
        if let Err(e) = d.apply(&event) {
            panic!("the given event {event:?} is valid, but: {e}");
        }
    }
    d
}

/// An invitation at T0 that expires after the longest invitation.
fn invitation(scope: &str, user: &str, email: &str, role: &str, token: &str) -> UserInvited {
    UserInvited {
        tenant_id: scope.into(),
        user_id: user.into(),
        email: email.into(),
        role: role.into(),
        invitation_sha256: hash(token),
        invited_at: T0,
        expires_at: T0 + INVITATION_MICROS,
        changed_by: BY.into(),
    }
}

fn invited(scope: &str, user: &str, email: &str, role: &str, token: &str) -> ConfigEvent {
    invitation(scope, user, email, role, token).into()
}

fn password_set(scope: &str, user: &str, cause: &str, token: Option<&str>, at: i64) -> UserPasswordSet {
    UserPasswordSet {
        tenant_id: scope.into(),
        user_id: user.into(),
        sealed_hash: vec![0xAB; 40],
        kek_id: "kek-1".into(),
        cause: cause.into(),
        invitation_sha256: token.map(hash),
        set_at: at,
        changed_by: user.into(),
    }
}

/// The invitee sets a password with the invitation `token`.
fn accepted(scope: &str, user: &str, token: &str, at: i64) -> ConfigEvent {
    password_set(scope, user, "invitation", Some(token), at).into()
}

fn password_changed(scope: &str, user: &str, cause: &str, at: i64) -> ConfigEvent {
    password_set(scope, user, cause, None, at).into()
}

/// A user invited at T0 who accepted an hour later.
fn active(scope: &str, user: &str, email: &str, role: &str) -> [ConfigEvent; 2] {
    let token = format!("{scope}/{user}");
    [
        invited(scope, user, email, role, &token),
        accepted(scope, user, &token, T0 + HOUR),
    ]
}

fn user_changed(scope: &str, user: &str, change: &str, role: Option<&str>, at: i64) -> ConfigEvent {
    UserChanged {
        tenant_id: scope.into(),
        user_id: user.into(),
        change: change.into(),
        role: role.map(str::to_owned),
        changed_at: at,
        changed_by: BY.into(),
    }
    .into()
}

fn changed(scope: &str, user: &str, change: &str, at: i64) -> ConfigEvent {
    user_changed(scope, user, change, None, at)
}

fn role_changed(scope: &str, user: &str, role: &str) -> ConfigEvent {
    user_changed(scope, user, "role", Some(role), T0 + 2 * HOUR)
}

fn totp_enrolled(scope: &str, user: &str, codes: usize, hash_bytes: usize) -> ConfigEvent {
    UserTotpSet {
        tenant_id: scope.into(),
        user_id: user.into(),
        sealed_seed: Some(vec![0xBC; 24]),
        kek_id: Some("kek-1".into()),
        recovery_sha256: vec![ByteString(vec![0xCD; hash_bytes]); codes],
        changed_at: T0 + 2 * HOUR,
        changed_by: user.into(),
    }
    .into()
}

fn totp_removed(scope: &str, user: &str) -> ConfigEvent {
    UserTotpSet {
        tenant_id: scope.into(),
        user_id: user.into(),
        sealed_seed: None,
        kek_id: None,
        recovery_sha256: vec![],
        changed_at: T0 + 3 * HOUR,
        changed_by: BY.into(),
    }
    .into()
}

fn group_changed(tenant: &str, group: &str, change: &str, name: Option<&str>, user: Option<&str>) -> ConfigEvent {
    GroupChanged {
        tenant_id: tenant.into(),
        group_id: group.into(),
        change: change.into(),
        name: name.map(str::to_owned),
        user_id: user.map(str::to_owned),
        changed_at: T0 + 2 * HOUR,
        changed_by: BY.into(),
    }
    .into()
}

fn group_created(tenant: &str, group: &str, name: &str) -> ConfigEvent {
    group_changed(tenant, group, "created", Some(name), None)
}

fn member_added(tenant: &str, group: &str, user: &str) -> ConfigEvent {
    group_changed(tenant, group, "member_added", None, Some(user))
}

fn member_removed(tenant: &str, group: &str, user: &str) -> ConfigEvent {
    group_changed(tenant, group, "member_removed", None, Some(user))
}

fn grant(tenant: &str, grant: &str, support_user: &str, length: Option<i64>, at: i64) -> SupportGrantChanged {
    SupportGrantChanged {
        tenant_id: tenant.into(),
        grant_id: grant.into(),
        change: "granted".into(),
        support_user_id: Some(support_user.into()),
        reason: Some("ticket 4711: exports fail".into()),
        expires_at: length.map(|l| at + l),
        changed_at: at,
        changed_by: "usr_olli".into(),
    }
}

fn granted(tenant: &str, id: &str, support_user: &str, length: i64, at: i64) -> ConfigEvent {
    grant(tenant, id, support_user, Some(length), at).into()
}

fn grant_revoked(tenant: &str, grant: &str, at: i64) -> ConfigEvent {
    SupportGrantChanged {
        tenant_id: tenant.into(),
        grant_id: grant.into(),
        change: "revoked".into(),
        support_user_id: None,
        reason: None,
        expires_at: None,
        changed_at: at,
        changed_by: "usr_olli".into(),
    }
    .into()
}

/// The name of the outcome's variant ("ok", "InvalidInvitation", …), for
/// tables; cases whose error carries data that matters assert it whole.
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

/// Applies `event` and returns its outcome; a refused event must leave
/// the directory exactly as it was.
fn when(d: &mut Directory, event: &ConfigEvent) -> String {
    let before = format!("{d:?}");
    let result = d.apply(event);
    if result.is_err() {
        assert_eq!(format!("{d:?}"), before, "a refused {event:?} changed the directory");
    }
    outcome(result)
}

fn status(d: &Directory, scope: &str, user: &str) -> Option<UserStatus> {
    d.user(scope, user).map(|u| u.status)
}

fn group_names<'a>(groups: impl Iterator<Item = &'a Group>) -> Vec<&'a str> {
    groups.map(|g| g.name.as_str()).collect()
}

// ------------------------------------------------------------ invitations

#[test]
fn an_invitation_is_accepted_once_and_then_stops_working() {
    let mut d = given([invited("acme", "usr_aino", "aino@acme.fi", "analyst", "token-1")]);
    let pending = d.invitation(&hash("token-1")).expect("the invitation finds its user");
    assert_eq!((pending.id.as_str(), pending.status), ("usr_aino", UserStatus::Invited));
    assert_eq!(pending.password, None);

    assert_eq!(when(&mut d, &accepted("acme", "usr_aino", "token-1", T0 + HOUR)), "ok");

    let aino = d.user("acme", "usr_aino").expect("aino");
    assert_eq!(aino.status, UserStatus::Active);
    assert_eq!(aino.role, Role::Analyst);
    assert_eq!(aino.password, Some(Sealed(vec![0xAB; 40])));
    assert_eq!(aino.invitation, None);
    assert!(
        d.invitation(&hash("token-1")).is_none(),
        "a used invitation is no longer pending"
    );
    assert_eq!(
        d.apply(&accepted("acme", "usr_aino", "token-1", T0 + 2 * HOUR)),
        Err(ConfigError::InvalidInvitation),
        "an invitation works once"
    );
}

#[test]
fn an_invitation_is_accepted_only_with_its_token_before_it_expires() {
    let expires = T0 + INVITATION_MICROS;
    let cases = [
        (
            "the right token just before expiry",
            accepted("acme", "usr_aino", "token-1", expires - 1),
            "ok",
        ),
        (
            "at the expiry",
            accepted("acme", "usr_aino", "token-1", expires),
            "InvalidInvitation",
        ),
        (
            "after the expiry",
            accepted("acme", "usr_aino", "token-1", expires + HOUR),
            "InvalidInvitation",
        ),
        (
            "a wrong token",
            accepted("acme", "usr_aino", "token-2", T0 + HOUR),
            "InvalidInvitation",
        ),
        (
            "another user's token",
            accepted("acme", "usr_aino", "token-ilona", T0 + HOUR),
            "InvalidInvitation",
        ),
        (
            "no token",
            password_set("acme", "usr_aino", "invitation", None, T0 + HOUR).into(),
            "InvalidInvitation",
        ),
        (
            "the user in another tenant",
            accepted("globex", "usr_aino", "token-1", T0 + HOUR),
            "UnknownUser",
        ),
        (
            "an unknown user",
            accepted("acme", "usr_nobody", "token-1", T0 + HOUR),
            "UnknownUser",
        ),
        (
            "an unknown tenant",
            accepted("initech", "usr_aino", "token-1", T0 + HOUR),
            "UnknownTenant",
        ),
    ];
    for (case, event, expected) in cases {
        let mut d = given([
            invited("acme", "usr_aino", "aino@acme.fi", "viewer", "token-1"),
            invited("acme", "usr_ilona", "ilona@acme.fi", "viewer", "token-ilona"),
        ]);
        assert_eq!(when(&mut d, &event), expected, "{case}");
        let still_pending = expected != "ok";
        assert_eq!(d.invitation(&hash("token-1")).is_some(), still_pending, "{case}");
        let status = if still_pending {
            UserStatus::Invited
        } else {
            UserStatus::Active
        };
        assert_eq!(d.user("acme", "usr_aino").map(|u| u.status), Some(status), "{case}");
    }
}

#[test]
fn a_disabled_invitee_cannot_accept_and_an_enabled_one_can() {
    let mut d = given([
        invited("acme", "usr_aino", "aino@acme.fi", "viewer", "token-1"),
        changed("acme", "usr_aino", "disabled", T0 + HOUR),
    ]);
    assert_eq!(
        when(&mut d, &accepted("acme", "usr_aino", "token-1", T0 + 2 * HOUR)),
        "InvalidInvitation"
    );
    assert_eq!(
        when(&mut d, &changed("acme", "usr_aino", "enabled", T0 + 3 * HOUR)),
        "ok"
    );
    assert_eq!(
        status(&d, "acme", "usr_aino"),
        Some(UserStatus::Invited),
        "enabling someone who never accepted makes them an invitee again, not active"
    );
    assert_eq!(
        when(&mut d, &accepted("acme", "usr_aino", "token-1", T0 + 4 * HOUR)),
        "ok"
    );
    assert_eq!(status(&d, "acme", "usr_aino"), Some(UserStatus::Active));
}

#[test]
fn invitations_that_do_not_fit_are_refused() {
    let long_email = format!("{}@acme.fi", "a".repeat(MAX_EMAIL_BYTES - "@acme.fi".len()));
    let too_long_email = format!("a{long_email}");
    let invite = |scope: &str, email: &str, role: &str| invitation(scope, "usr_aino", email, role, "token-1");
    let cases: [(&str, UserInvited, &str); 10] = [
        ("a viewer of a tenant", invite("acme", "aino@acme.fi", "viewer"), "ok"),
        (
            "a support user of the installation",
            invite(INSTALLATION, "aino@vox.dev", "support"),
            "ok",
        ),
        ("an e-mail of 254 bytes", invite("acme", &long_email, "viewer"), "ok"),
        (
            "an unknown tenant",
            invite("initech", "aino@acme.fi", "viewer"),
            "UnknownTenant",
        ),
        (
            "a user id with a space",
            UserInvited {
                user_id: "usr aino".into(),
                ..invite("acme", "aino@acme.fi", "viewer")
            },
            "InvalidId",
        ),
        (
            "an unknown role",
            invite("acme", "aino@acme.fi", "superuser"),
            "InvalidPeople",
        ),
        (
            "a role in capitals",
            invite("acme", "aino@acme.fi", "Viewer"),
            "InvalidPeople",
        ),
        (
            "an e-mail of 255 bytes",
            invite("acme", &too_long_email, "viewer"),
            "InvalidPeople",
        ),
        (
            "a token hash of 31 bytes",
            UserInvited {
                invitation_sha256: vec![7; 31],
                ..invite("acme", "aino@acme.fi", "viewer")
            },
            "InvalidPeople",
        ),
        (
            "an expiry at the invitation's time",
            UserInvited {
                expires_at: T0,
                ..invite("acme", "aino@acme.fi", "viewer")
            },
            "InvalidPeople",
        ),
    ];
    for (case, event, expected) in cases {
        let mut d = given([]);
        assert_eq!(when(&mut d, &event.into()), expected, "{case}");
    }
    for email in [
        "",
        "aino",
        "@acme.fi",
        "aino@",
        "aino@acme",
        "aino@.acme.fi",
        "aino@acme.fi.",
        "aino@x@acme.fi",
        "aino @acme.fi",
        "aino@acme.fi\n",
        "aino\u{7}@acme.fi",
    ] {
        let mut d = given([]);
        assert_eq!(
            when(&mut d, &invite("acme", email, "viewer").into()),
            "InvalidPeople",
            "{email:?} is not an e-mail address"
        );
    }
}

#[test]
fn an_invitation_lasts_at_most_72_hours() {
    let mut d = given([]);
    let event = UserInvited {
        expires_at: T0 + INVITATION_MICROS + 1,
        ..invitation("acme", "usr_aino", "aino@acme.fi", "viewer", "token-1")
    };
    assert_eq!(when(&mut d, &event.into()), "InvalidPeople");
}

// ---------------------------------------------------------------- e-mails

#[test]
fn emails_are_unique_per_scope_and_compare_case_insensitively() {
    let mut d = given([invited("acme", "usr_aino", "Aino@Acme.fi", "viewer", "token-1")]);
    assert_eq!(
        d.apply(&invited("acme", "usr_other", "aino@acme.fi", "viewer", "token-2")),
        Err(ConfigError::EmailTaken {
            scope: "acme".into(),
            email: "Aino@Acme.fi".into()
        })
    );
    assert_eq!(
        when(
            &mut d,
            &invited("globex", "usr_other", "aino@acme.fi", "viewer", "token-3")
        ),
        "ok",
        "another tenant may have the same e-mail"
    );
    assert_eq!(
        when(
            &mut d,
            &invited(INSTALLATION, "usr_other", "AINO@acme.fi", "support", "token-4")
        ),
        "ok",
        "and so may the installation"
    );
    for email in ["aino@acme.fi", "AINO@ACME.FI", "Aino@Acme.fi"] {
        let found = d
            .user_by_email("acme", email)
            .map(|u| (u.id.as_str(), u.email.as_str()));
        assert_eq!(found, Some(("usr_aino", "Aino@Acme.fi")), "{email}");
    }
    assert_eq!(
        d.user_by_email("globex", "aino@acme.fi").map(|u| u.id.as_str()),
        Some("usr_other")
    );
    assert!(d.user_by_email("acme", "ilona@acme.fi").is_none());
    assert!(d.user_by_email("initech", "aino@acme.fi").is_none());
}

#[test]
fn a_pending_user_is_invited_again_and_the_old_invitation_stops_working() {
    let mut d = given([invited("acme", "usr_aino", "aino@acme.fi", "viewer", "token-1")]);
    let again = UserInvited {
        invited_at: T0 + HOUR,
        expires_at: T0 + HOUR + INVITATION_MICROS,
        ..invitation("acme", "usr_aino", "AINO@acme.fi", "analyst", "token-2")
    };
    assert_eq!(when(&mut d, &again.into()), "ok");

    assert!(d.invitation(&hash("token-1")).is_none(), "the old invitation is gone");
    let aino = d.invitation(&hash("token-2")).expect("the new one finds the same user");
    assert_eq!((aino.id.as_str(), aino.role), ("usr_aino", Role::Analyst));
    assert_eq!(
        aino.invitation.as_ref().map(|i| i.expires_at),
        Some(T0 + HOUR + INVITATION_MICROS)
    );
    assert_eq!(d.users("acme").count(), 1);
    assert_eq!(
        when(&mut d, &accepted("acme", "usr_aino", "token-1", T0 + 2 * HOUR)),
        "InvalidInvitation"
    );
    assert_eq!(
        when(&mut d, &accepted("acme", "usr_aino", "token-2", T0 + 2 * HOUR)),
        "ok"
    );
}

#[test]
fn an_email_of_an_active_or_disabled_user_is_not_invited_again() {
    let cases = [("the same user", "usr_aino"), ("a new user", "usr_other")];
    let states: [(&str, Vec<ConfigEvent>); 2] = [
        ("active", active("acme", "usr_aino", "aino@acme.fi", "viewer").to_vec()),
        (
            "disabled",
            [
                active("acme", "usr_aino", "aino@acme.fi", "viewer").to_vec(),
                vec![changed("acme", "usr_aino", "disabled", T0 + 2 * HOUR)],
            ]
            .concat(),
        ),
    ];
    for (state, events) in &states {
        for (case, id) in cases {
            let mut d = given(events.clone());
            assert_eq!(
                d.apply(&invited("acme", id, "Aino@acme.fi", "viewer", "token-2")),
                Err(ConfigError::EmailTaken {
                    scope: "acme".into(),
                    email: "aino@acme.fi".into()
                }),
                "{state} user, invited again as {case}"
            );
        }
    }
    let mut d = given(active("acme", "usr_aino", "aino@acme.fi", "viewer"));
    assert_eq!(
        when(
            &mut d,
            &invited("acme", "usr_aino", "other@acme.fi", "viewer", "token-2")
        ),
        "InvalidPeople",
        "a user id is not taken over with another e-mail"
    );
}

// ----------------------------------------------------------- roles and matrix

#[test]
fn roles_belong_to_their_scope() {
    let cases = [
        ("acme", "owner", "ok"),
        ("acme", "admin", "ok"),
        ("acme", "analyst", "ok"),
        ("acme", "viewer", "ok"),
        ("acme", "compliance", "ok"),
        ("acme", "support", "InvalidPeople"),
        (INSTALLATION, "support", "ok"),
        (INSTALLATION, "owner", "InvalidPeople"),
        (INSTALLATION, "admin", "InvalidPeople"),
        (INSTALLATION, "analyst", "InvalidPeople"),
        (INSTALLATION, "viewer", "InvalidPeople"),
        (INSTALLATION, "compliance", "InvalidPeople"),
    ];
    for (scope, role, expected) in cases {
        let mut d = given([]);
        let invite = invited(scope, "usr_aino", "aino@acme.fi", role, "token-1");
        assert_eq!(when(&mut d, &invite), expected, "invite a {role} to {scope}");

        let start = if scope == INSTALLATION { "support" } else { "viewer" };
        let mut d = given(active(scope, "usr_aino", "aino@acme.fi", start));
        assert_eq!(
            when(&mut d, &role_changed(scope, "usr_aino", role)),
            expected,
            "make a {start} of {scope} a {role}"
        );
        if expected == "ok" {
            assert_eq!(d.user(scope, "usr_aino").map(|u| u.role.as_str()), Some(role));
        }
    }
    let mut d = given(active("acme", "usr_aino", "aino@acme.fi", "viewer"));
    assert_eq!(
        when(&mut d, &user_changed("acme", "usr_aino", "role", None, T0 + 2 * HOUR)),
        "InvalidPeople",
        "a role change names the role"
    );
}

#[test]
fn the_permission_matrix_is_as_documented() {
    assert_eq!(
        Permission::ALL.map(Permission::as_str),
        [
            "manage_users",
            "list_users",
            "manage_groups",
            "manage_rules",
            "manage_clients",
            "read_feedback",
            "export",
            "read_audit",
            "manage_support",
            "manage_policy",
        ],
        "the columns below"
    );
    let expected = "
owner       x x x x x x x x x x
admin       x x x x x x x . x .
analyst     . . . . . x x . . .
viewer      . . . . . x . . . .
compliance  . x . . . . . x . .
support     . x . . . x . . . .
";
    let roles = Role::TENANT.into_iter().chain([Role::Support]);
    let actual: String = roles
        .map(|role| {
            let cells: Vec<&str> = Permission::ALL.map(|p| if role.may(p) { "x" } else { "." }).to_vec();
            format!("{:<11} {}\n", role.as_str(), cells.join(" "))
        })
        .collect();
    assert_eq!(format!("\n{actual}"), expected);
    for role in Role::TENANT.into_iter().chain([Role::Support]) {
        assert_eq!(Role::parse(role.as_str()), Some(role));
        assert_eq!(role.to_string(), role.as_str());
    }
}

// ----------------------------------------------------------------- owners

#[test]
fn the_last_active_owner_cannot_be_demoted_disabled_or_deleted() {
    let owner = || active("acme", "usr_olli", "olli@acme.fi", "owner");
    let no_other_active_owner: [(&str, Vec<ConfigEvent>); 4] = [
        ("alone", vec![]),
        (
            "with an owner who has not accepted",
            vec![invited("acme", "usr_oona", "oona@acme.fi", "owner", "token-oona")],
        ),
        (
            "with a disabled owner",
            [
                active("acme", "usr_oona", "oona@acme.fi", "owner").to_vec(),
                vec![changed("acme", "usr_oona", "disabled", T0 + 2 * HOUR)],
            ]
            .concat(),
        ),
        (
            "with an active owner of another tenant",
            active("globex", "usr_oona", "oona@acme.fi", "owner").to_vec(),
        ),
    ];
    let changes = [
        ("demoted", role_changed("acme", "usr_olli", "admin")),
        ("disabled", changed("acme", "usr_olli", "disabled", T0 + 3 * HOUR)),
        ("deleted", changed("acme", "usr_olli", "deleted", T0 + 3 * HOUR)),
    ];
    for (setting, others) in &no_other_active_owner {
        for (change, event) in &changes {
            let mut d = given(owner().into_iter().chain(others.clone()));
            let before = format!("{d:?}");
            assert_eq!(
                d.apply(event),
                Err(ConfigError::LastOwner { tenant: "acme".into() }),
                "{change} {setting}"
            );
            assert_eq!(format!("{d:?}"), before);
        }
    }
    let another_active_owner: [(&str, Vec<ConfigEvent>); 2] = [
        ("an owner", active("acme", "usr_oona", "oona@acme.fi", "owner").to_vec()),
        (
            "an admin made owner",
            [
                active("acme", "usr_oona", "oona@acme.fi", "admin").to_vec(),
                vec![role_changed("acme", "usr_oona", "owner")],
            ]
            .concat(),
        ),
    ];
    for (setting, other) in &another_active_owner {
        for (change, event) in &changes {
            let mut d = given(owner().into_iter().chain(other.clone()));
            assert_eq!(when(&mut d, event), "ok", "{change} with {setting}");
            assert_eq!(
                when(&mut d, &changed("acme", "usr_oona", "disabled", T0 + 4 * HOUR)),
                "LastOwner",
                "and then the other is the last ({change}, {setting})"
            );
        }
    }
}

// ------------------------------------------------------- status and sessions

#[test]
fn session_cutoff_moves_forward_to_the_event_time() {
    let later = T0 + 5 * HOUR;
    let disabled = || changed("acme", "usr_aino", "disabled", later);
    let cases: [(&str, Vec<ConfigEvent>, ConfigEvent, i64, UserStatus); 8] = [
        ("disabled", vec![], disabled(), later, UserStatus::Disabled),
        (
            "sessions revoked",
            vec![],
            changed("acme", "usr_aino", "sessions_revoked", later),
            later,
            UserStatus::Active,
        ),
        (
            "password changed",
            vec![],
            password_changed("acme", "usr_aino", "change", later),
            later,
            UserStatus::Active,
        ),
        (
            "password rehashed at a login (not a change)",
            vec![],
            password_changed("acme", "usr_aino", "rehash", later),
            T0,
            UserStatus::Active,
        ),
        (
            "role changed",
            vec![],
            role_changed("acme", "usr_aino", "analyst"),
            T0,
            UserStatus::Active,
        ),
        (
            // Sessions from before the disabling stay invalid; none could be
            // made while disabled, so the cutoff need not move again.
            "enabled after being disabled",
            vec![disabled()],
            changed("acme", "usr_aino", "enabled", later + HOUR),
            later,
            UserStatus::Active,
        ),
        (
            "an older password change after a revocation",
            vec![changed("acme", "usr_aino", "sessions_revoked", later)],
            password_changed("acme", "usr_aino", "change", T0 + 2 * HOUR),
            later,
            UserStatus::Active,
        ),
        (
            "an older revocation after a disabling",
            vec![disabled()],
            changed("acme", "usr_aino", "sessions_revoked", T0 + 2 * HOUR),
            later,
            UserStatus::Disabled,
        ),
    ];
    for (case, before, event, cutoff, expected_status) in cases {
        let mut d = given(
            active("acme", "usr_aino", "aino@acme.fi", "viewer")
                .into_iter()
                .chain(before),
        );
        assert_eq!(when(&mut d, &event), "ok", "{case}");
        let aino = d.user("acme", "usr_aino").expect("aino");
        assert_eq!(
            (aino.sessions_not_before, aino.status),
            (cutoff, expected_status),
            "{case}"
        );
    }
}

#[test]
fn status_changes_that_do_not_fit_are_refused() {
    let cases = [
        (
            "enable an active user",
            changed("acme", "usr_aino", "enabled", T0 + 2 * HOUR),
            "InvalidPeople",
        ),
        (
            "enable an invited user",
            changed("acme", "usr_ilona", "enabled", T0 + 2 * HOUR),
            "InvalidPeople",
        ),
        (
            "disable a disabled user",
            changed("acme", "usr_dora", "disabled", T0 + 3 * HOUR),
            "InvalidPeople",
        ),
        (
            "an unknown change",
            changed("acme", "usr_aino", "archived", T0 + 2 * HOUR),
            "InvalidPeople",
        ),
        (
            "a user of another tenant",
            changed("globex", "usr_aino", "disabled", T0 + 2 * HOUR),
            "UnknownUser",
        ),
        (
            "an unknown tenant",
            changed("initech", "usr_aino", "disabled", T0 + 2 * HOUR),
            "UnknownTenant",
        ),
        (
            "enable a disabled user",
            changed("acme", "usr_dora", "enabled", T0 + 3 * HOUR),
            "ok",
        ),
        (
            "disable an invited user",
            changed("acme", "usr_ilona", "disabled", T0 + 3 * HOUR),
            "ok",
        ),
    ];
    for (case, event, expected) in cases {
        let mut d = given(
            [
                active("acme", "usr_aino", "aino@acme.fi", "viewer").to_vec(),
                active("acme", "usr_dora", "dora@acme.fi", "viewer").to_vec(),
                vec![
                    changed("acme", "usr_dora", "disabled", T0 + 2 * HOUR),
                    invited("acme", "usr_ilona", "ilona@acme.fi", "viewer", "token-ilona"),
                ],
            ]
            .concat(),
        );
        assert_eq!(when(&mut d, &event), expected, "{case}");
    }
}

#[test]
fn password_changes_need_an_active_user_and_a_known_cause() {
    let cases = [
        (
            "change by an active user",
            password_changed("acme", "usr_aino", "change", T0 + 3 * HOUR),
            "ok",
        ),
        (
            "rehash for an active user",
            password_changed("acme", "usr_aino", "rehash", T0 + 3 * HOUR),
            "ok",
        ),
        (
            "change by an invited user",
            password_changed("acme", "usr_ilona", "change", T0 + 3 * HOUR),
            "UserNotActive",
        ),
        (
            "rehash for an invited user",
            password_changed("acme", "usr_ilona", "rehash", T0 + 3 * HOUR),
            "UserNotActive",
        ),
        (
            "change by a disabled user",
            password_changed("acme", "usr_dora", "change", T0 + 3 * HOUR),
            "UserNotActive",
        ),
        (
            "an unknown cause",
            password_changed("acme", "usr_aino", "reset", T0 + 3 * HOUR),
            "InvalidPeople",
        ),
        (
            "an empty sealed hash",
            UserPasswordSet {
                sealed_hash: vec![],
                ..password_set("acme", "usr_aino", "change", None, T0 + 3 * HOUR)
            }
            .into(),
            "InvalidPeople",
        ),
        (
            "a user of another tenant",
            password_changed("globex", "usr_aino", "change", T0 + 3 * HOUR),
            "UnknownUser",
        ),
    ];
    for (case, event, expected) in cases {
        let mut d = given(
            [
                active("acme", "usr_aino", "aino@acme.fi", "viewer").to_vec(),
                active("acme", "usr_dora", "dora@acme.fi", "viewer").to_vec(),
                vec![
                    changed("acme", "usr_dora", "disabled", T0 + 2 * HOUR),
                    invited("acme", "usr_ilona", "ilona@acme.fi", "viewer", "token-ilona"),
                ],
            ]
            .concat(),
        );
        assert_eq!(when(&mut d, &event), expected, "{case}");
    }
}

#[test]
fn deleting_a_user_frees_the_email_and_leaves_the_groups() {
    let mut d = given(
        [
            active("acme", "usr_aino", "aino@acme.fi", "viewer").to_vec(),
            active("acme", "usr_ilona", "ilona@acme.fi", "viewer").to_vec(),
            vec![
                group_created("acme", "research", "Research"),
                group_created("acme", "ops", "Ops"),
                member_added("acme", "research", "usr_aino"),
                member_added("acme", "ops", "usr_aino"),
                member_added("acme", "ops", "usr_ilona"),
            ],
        ]
        .concat(),
    );
    assert_eq!(
        when(&mut d, &changed("acme", "usr_aino", "deleted", T0 + 3 * HOUR)),
        "ok"
    );

    assert!(d.user("acme", "usr_aino").is_none());
    assert!(d.user_by_email("acme", "aino@acme.fi").is_none());
    let aino = UserId::parse("usr_aino").expect("a user id");
    assert_eq!(d.groups_of("acme", &aino).count(), 0);
    let members: Vec<_> = d.groups("acme").map(|g| (g.name.as_str(), g.members.len())).collect();
    assert_eq!(members, [("Ops", 1), ("Research", 0)], "the groups stay, without her");
    assert_eq!(
        when(&mut d, &changed("acme", "usr_aino", "deleted", T0 + 4 * HOUR)),
        "UnknownUser",
        "deleted once"
    );
    assert_eq!(
        when(
            &mut d,
            &invited("acme", "usr_aino2", "Aino@acme.fi", "viewer", "token-2")
        ),
        "ok",
        "the e-mail is free again"
    );
}

#[test]
fn deleting_an_invited_user_ends_the_invitation() {
    let mut d = given([invited("acme", "usr_aino", "aino@acme.fi", "viewer", "token-1")]);
    assert_eq!(when(&mut d, &changed("acme", "usr_aino", "deleted", T0 + HOUR)), "ok");
    assert!(d.invitation(&hash("token-1")).is_none());
    assert_eq!(
        when(&mut d, &accepted("acme", "usr_aino", "token-1", T0 + 2 * HOUR)),
        "UnknownUser"
    );
}

// ------------------------------------------------------------------- TOTP

#[test]
fn totp_enrolment_needs_an_active_user_and_1_to_20_recovery_hashes() {
    let cases = [
        ("one recovery code", totp_enrolled("acme", "usr_aino", 1, 32), "ok"),
        ("twenty recovery codes", totp_enrolled("acme", "usr_aino", 20, 32), "ok"),
        (
            "no recovery code",
            totp_enrolled("acme", "usr_aino", 0, 32),
            "InvalidPeople",
        ),
        (
            "21 recovery codes",
            totp_enrolled("acme", "usr_aino", 21, 32),
            "InvalidPeople",
        ),
        (
            "a 31-byte hash",
            totp_enrolled("acme", "usr_aino", 10, 31),
            "InvalidPeople",
        ),
        (
            "a 33-byte hash",
            totp_enrolled("acme", "usr_aino", 10, 33),
            "InvalidPeople",
        ),
        (
            "an invited user",
            totp_enrolled("acme", "usr_ilona", 10, 32),
            "UserNotActive",
        ),
        (
            "a disabled user",
            totp_enrolled("acme", "usr_dora", 10, 32),
            "UserNotActive",
        ),
        (
            "a user of another tenant",
            totp_enrolled("globex", "usr_aino", 10, 32),
            "UnknownUser",
        ),
        (
            "an unknown tenant",
            totp_enrolled("initech", "usr_aino", 10, 32),
            "UnknownTenant",
        ),
        ("a support user", totp_enrolled(INSTALLATION, "usr_sam", 10, 32), "ok"),
    ];
    for (case, event, expected) in cases {
        let mut d = given(
            [
                active("acme", "usr_aino", "aino@acme.fi", "viewer").to_vec(),
                active("acme", "usr_dora", "dora@acme.fi", "viewer").to_vec(),
                active(INSTALLATION, "usr_sam", "sam@vox.dev", "support").to_vec(),
                vec![
                    changed("acme", "usr_dora", "disabled", T0 + HOUR),
                    invited("acme", "usr_ilona", "ilona@acme.fi", "viewer", "token-ilona"),
                ],
            ]
            .concat(),
        );
        assert_eq!(when(&mut d, &event), expected, "{case}");
        let ConfigEvent::UserTotpSet(set) = &event else {
            unreachable!("a TOTP event")
        };
        let totp = d.user(&set.tenant_id, &set.user_id).and_then(|u| u.totp.as_ref());
        if expected == "ok" {
            let totp = totp.expect("enrolled");
            assert_eq!(totp.seed, Sealed(vec![0xBC; 24]), "{case}");
            assert_eq!(totp.recovery, vec![vec![0xCD; 32]; set.recovery_sha256.len()], "{case}");
            assert_eq!(totp.enrolled_at, T0 + 2 * HOUR, "{case}");
        } else {
            assert!(totp.is_none(), "{case}");
        }
    }
}

#[test]
fn removing_totp_clears_it() {
    let mut d = given(
        [
            active("acme", "usr_aino", "aino@acme.fi", "viewer").to_vec(),
            vec![totp_enrolled("acme", "usr_aino", 10, 32)],
        ]
        .concat(),
    );
    assert!(d.user("acme", "usr_aino").and_then(|u| u.totp.as_ref()).is_some());
    assert_eq!(when(&mut d, &totp_removed("acme", "usr_aino")), "ok");
    assert_eq!(d.user("acme", "usr_aino").map(|u| u.totp.is_none()), Some(true));
    assert_eq!(
        when(&mut d, &totp_removed("acme", "usr_aino")),
        "ok",
        "removing none is no error"
    );
}

// ----------------------------------------------------------------- policy

#[test]
fn two_factor_policy_is_per_tenant() {
    let policy = |tenant: &str, required: bool| -> ConfigEvent {
        TenantPolicySet {
            tenant_id: tenant.into(),
            two_factor_required: required,
            changed_at: T0,
            changed_by: BY.into(),
        }
        .into()
    };
    let mut d = given([]);
    assert!(!d.two_factor_required("acme"), "not required until a tenant says so");
    assert_eq!(when(&mut d, &policy("acme", true)), "ok");
    assert!(d.two_factor_required("acme"));
    assert!(!d.two_factor_required("globex"));
    assert_eq!(when(&mut d, &policy("acme", false)), "ok");
    assert!(!d.two_factor_required("acme"));
    assert_eq!(when(&mut d, &policy("initech", true)), "UnknownTenant");
    assert_eq!(when(&mut d, &policy(INSTALLATION, true)), "UnknownTenant");
}

// ----------------------------------------------------------------- groups

#[test]
fn groups_are_created_renamed_filled_emptied_and_deleted() {
    let mut d = given(
        [
            active("acme", "usr_aino", "aino@acme.fi", "viewer").to_vec(),
            active("acme", "usr_ilona", "ilona@acme.fi", "viewer").to_vec(),
        ]
        .concat(),
    );
    let aino = UserId::parse("usr_aino").expect("a user id");
    let steps = [
        group_created("acme", "research", "  Research  "),
        group_created("acme", "ops", "Ops"),
        member_added("acme", "research", "usr_aino"),
        member_added("acme", "research", "usr_ilona"),
        member_added("acme", "ops", "usr_aino"),
        group_changed("acme", "research", "renamed", Some("User research"), None),
        member_removed("acme", "ops", "usr_aino"),
    ];
    for step in &steps {
        assert_eq!(when(&mut d, step), "ok", "{step:?}");
    }
    let research = d.group("acme", "research").expect("research");
    assert_eq!(research.name, "User research");
    let members: Vec<&str> = research.members.iter().map(UserId::as_str).collect();
    assert_eq!(members, ["usr_aino", "usr_ilona"]);
    assert_eq!(group_names(d.groups_of("acme", &aino)), ["User research"]);
    assert_eq!(group_names(d.groups("acme")), ["Ops", "User research"]);
    assert_eq!(d.groups("globex").count(), 0, "groups are per tenant");

    assert_eq!(
        when(&mut d, &group_changed("acme", "research", "deleted", None, None)),
        "ok"
    );
    assert!(d.group("acme", "research").is_none());
    assert_eq!(d.groups_of("acme", &aino).count(), 0);
    assert_eq!(
        when(&mut d, &group_created("acme", "research", "Research again")),
        "ok",
        "a deleted group's id can be used again, empty"
    );
    assert_eq!(d.group("acme", "research").map(|g| g.members.len()), Some(0));
}

#[test]
fn group_changes_that_do_not_fit_are_refused() {
    let cases = [
        (
            "a group that exists",
            group_created("acme", "research", "Research"),
            "GroupExists",
        ),
        (
            "the same id in another tenant",
            group_created("globex", "research", "Research"),
            "ok",
        ),
        (
            "a name of 200 characters",
            group_created("acme", "big", &"é".repeat(MAX_NAME_CHARS)),
            "ok",
        ),
        (
            "a name of 201 characters",
            group_created("acme", "big", &"é".repeat(MAX_NAME_CHARS + 1)),
            "InvalidPeople",
        ),
        ("a blank name", group_created("acme", "blank", "   "), "InvalidPeople"),
        (
            "no name",
            group_changed("acme", "blank", "created", None, None),
            "InvalidPeople",
        ),
        (
            "a control character",
            group_created("acme", "tab", "a\tb"),
            "InvalidPeople",
        ),
        (
            "a group id in capitals",
            group_created("acme", "Research2", "R"),
            "InvalidId",
        ),
        (
            "an unknown tenant",
            group_created("initech", "research", "R"),
            "UnknownTenant",
        ),
        (
            "rename to a blank name",
            group_changed("acme", "research", "renamed", Some(""), None),
            "InvalidPeople",
        ),
        (
            "rename an unknown group",
            group_changed("acme", "nope", "renamed", Some("N"), None),
            "UnknownGroup",
        ),
        (
            "delete an unknown group",
            group_changed("acme", "nope", "deleted", None, None),
            "UnknownGroup",
        ),
        (
            "add to an unknown group",
            member_added("acme", "nope", "usr_aino"),
            "UnknownGroup",
        ),
        (
            "add an unknown user",
            member_added("acme", "research", "usr_nobody"),
            "UnknownUser",
        ),
        (
            "add another tenant's user",
            member_added("acme", "research", "usr_gina"),
            "UnknownUser",
        ),
        (
            "add without a user",
            group_changed("acme", "research", "member_added", None, None),
            "UnknownUser",
        ),
        (
            "add a member again",
            member_added("acme", "research", "usr_aino"),
            "InvalidPeople",
        ),
        (
            "remove a non-member",
            member_removed("acme", "research", "usr_ilona"),
            "InvalidPeople",
        ),
        (
            "an unknown change",
            group_changed("acme", "research", "archived", None, None),
            "InvalidPeople",
        ),
        ("add a user", member_added("acme", "research", "usr_ilona"), "ok"),
        ("remove a member", member_removed("acme", "research", "usr_aino"), "ok"),
    ];
    for (case, event, expected) in cases {
        let mut d = given(
            [
                active("acme", "usr_aino", "aino@acme.fi", "viewer").to_vec(),
                active("acme", "usr_ilona", "ilona@acme.fi", "viewer").to_vec(),
                active("globex", "usr_gina", "gina@globex.com", "viewer").to_vec(),
                vec![
                    group_created("acme", "research", "Research"),
                    member_added("acme", "research", "usr_aino"),
                ],
            ]
            .concat(),
        );
        assert_eq!(when(&mut d, &event), expected, "{case}");
    }
}

// --------------------------------------------------------- support grants

fn with_support_staff() -> Directory {
    given(
        [
            active("acme", "usr_olli", "olli@acme.fi", "owner").to_vec(),
            active(INSTALLATION, "usr_sam", "sam@vox.dev", "support").to_vec(),
            active(INSTALLATION, "usr_sue", "sue@vox.dev", "support").to_vec(),
        ]
        .concat(),
    )
}

#[test]
fn a_support_grant_is_active_inside_its_window_until_revoked() {
    let start = T0 + 2 * HOUR;
    let end = start + 72 * HOUR;
    let mut d = with_support_staff();
    assert_eq!(
        when(&mut d, &granted("acme", "sg_1", "usr_sam", 72 * HOUR, start)),
        "ok"
    );

    let active_grant = |d: &Directory, tenant: &str, user: &str, now: i64| {
        d.active_support_grant(tenant, user, now).map(|g| g.id.to_string())
    };
    let cases = [
        ("when granted", "acme", "usr_sam", start, Some("sg_1")),
        ("just before the end", "acme", "usr_sam", end - 1, Some("sg_1")),
        ("at the end", "acme", "usr_sam", end, None),
        ("after the end", "acme", "usr_sam", end + HOUR, None),
        ("another support user", "acme", "usr_sue", start, None),
        ("another tenant", "globex", "usr_sam", start, None),
    ];
    for (case, tenant, user, now, expected) in cases {
        assert_eq!(active_grant(&d, tenant, user, now).as_deref(), expected, "{case}");
    }
    let g = d.support_grant("acme", "sg_1").expect("the grant");
    assert_eq!(
        (
            g.support_user.as_str(),
            g.granted_at,
            g.expires_at,
            g.granted_by.as_str(),
            g.revoked_at
        ),
        ("usr_sam", start, end, "usr_olli", None)
    );

    assert_eq!(when(&mut d, &grant_revoked("acme", "sg_1", start + HOUR)), "ok");
    assert_eq!(active_grant(&d, "acme", "usr_sam", start + HOUR), None, "revoked");
    assert_eq!(
        d.support_grant("acme", "sg_1").and_then(|g| g.revoked_at),
        Some(start + HOUR),
        "kept, with its revocation"
    );
    assert_eq!(d.support_grants("acme").count(), 1);
    assert_eq!(
        when(&mut d, &grant_revoked("acme", "sg_1", start + 2 * HOUR)),
        "InvalidPeople"
    );
}

#[test]
fn the_latest_ending_active_grant_is_the_one_in_use() {
    let mut d = with_support_staff();
    for event in [
        granted("acme", "sg_1", "usr_sam", 10 * HOUR, T0),
        granted("acme", "sg_2", "usr_sam", 20 * HOUR, T0),
        granted("acme", "sg_3", "usr_sam", 30 * HOUR, T0),
        grant_revoked("acme", "sg_3", T0 + HOUR),
    ] {
        assert_eq!(when(&mut d, &event), "ok", "{event:?}");
    }
    let in_use = |now| d.active_support_grant("acme", "usr_sam", now).map(|g| g.id.to_string());
    assert_eq!(in_use(T0 + 2 * HOUR).as_deref(), Some("sg_2"));
    assert_eq!(in_use(T0 + 20 * HOUR).as_deref(), None);
}

#[test]
fn support_grants_that_do_not_fit_are_refused() {
    let at = T0 + 2 * HOUR;
    let cases: [(&str, ConfigEvent, &str); 19] = [
        ("72 hours", granted("acme", "sg_new", "usr_sam", 72 * HOUR, at), "ok"),
        ("one microsecond", granted("acme", "sg_new", "usr_sam", 1, at), "ok"),
        (
            "72 hours and a microsecond",
            granted("acme", "sg_new", "usr_sam", 72 * HOUR + 1, at),
            "SupportGrantTooLong",
        ),
        (
            "73 hours",
            granted("acme", "sg_new", "usr_sam", 73 * HOUR, at),
            "SupportGrantTooLong",
        ),
        (
            "no time",
            granted("acme", "sg_new", "usr_sam", 0, at),
            "SupportGrantTooLong",
        ),
        (
            "ending before it starts",
            granted("acme", "sg_new", "usr_sam", -HOUR, at),
            "SupportGrantTooLong",
        ),
        (
            "without an end",
            grant("acme", "sg_new", "usr_sam", None, at).into(),
            "SupportGrantTooLong",
        ),
        // The fold checks the form only (the support user's events may be
        // in another partition); `check_support_user` guards the command.
        (
            "an invited support user",
            granted("acme", "sg_new", "usr_ian", HOUR, at),
            "ok",
        ),
        (
            "a disabled support user",
            granted("acme", "sg_new", "usr_sue", HOUR, at),
            "ok",
        ),
        (
            "an unknown support user",
            granted("acme", "sg_new", "usr_nobody", HOUR, at),
            "ok",
        ),
        (
            "without a support user",
            SupportGrantChanged {
                support_user_id: None,
                ..grant("acme", "sg_new", "usr_sam", Some(HOUR), at)
            }
            .into(),
            "InvalidId",
        ),
        (
            "an empty reason",
            SupportGrantChanged {
                reason: Some(" ".into()),
                ..grant("acme", "sg_new", "usr_sam", Some(HOUR), at)
            }
            .into(),
            "InvalidPeople",
        ),
        (
            "a grant id that exists",
            granted("acme", "sg_1", "usr_sam", HOUR, at),
            "InvalidPeople",
        ),
        (
            "a grant id with a space",
            granted("acme", "sg 2", "usr_sam", HOUR, at),
            "InvalidId",
        ),
        (
            "an unknown tenant",
            granted("initech", "sg_new", "usr_sam", HOUR, at),
            "UnknownTenant",
        ),
        (
            "the installation",
            granted(INSTALLATION, "sg_new", "usr_sam", HOUR, at),
            "UnknownTenant",
        ),
        (
            "revoke an unknown grant",
            grant_revoked("acme", "sg_nope", at),
            "UnknownGrant",
        ),
        (
            "revoke it in another tenant",
            grant_revoked("globex", "sg_1", at),
            "UnknownGrant",
        ),
        (
            "an unknown change",
            SupportGrantChanged {
                change: "extended".into(),
                ..grant("acme", "sg_1", "usr_sam", Some(HOUR), at)
            }
            .into(),
            "InvalidPeople",
        ),
    ];
    for (case, event, expected) in cases {
        let mut d = given(
            [
                active("acme", "usr_olli", "olli@acme.fi", "owner").to_vec(),
                active(INSTALLATION, "usr_sam", "sam@vox.dev", "support").to_vec(),
                active(INSTALLATION, "usr_sue", "sue@vox.dev", "support").to_vec(),
                vec![
                    changed(INSTALLATION, "usr_sue", "disabled", T0 + HOUR),
                    invited(INSTALLATION, "usr_ian", "ian@vox.dev", "support", "token-ian"),
                    granted("acme", "sg_1", "usr_sam", HOUR, T0 + HOUR),
                ],
            ]
            .concat(),
        );
        assert_eq!(when(&mut d, &event), expected, "{case}");
    }
}

#[test]
fn a_support_grant_names_an_active_support_user_not_a_tenant_user() {
    let mut d = given(
        [
            active("acme", "usr_olli", "olli@acme.fi", "owner").to_vec(),
            active(INSTALLATION, "usr_sam", "sam@vox.dev", "support").to_vec(),
            active(INSTALLATION, "usr_sue", "sue@vox.dev", "support").to_vec(),
            vec![
                changed(INSTALLATION, "usr_sue", "disabled", T0 + HOUR),
                invited(INSTALLATION, "usr_ian", "ian@vox.dev", "support", "token-ian"),
            ],
        ]
        .concat(),
    );
    assert_eq!(d.check_support_user("usr_sam"), Ok(()));
    for (who, expected) in [
        ("usr_olli", "UnknownUser"),
        ("usr_nobody", "UnknownUser"),
        ("usr_ian", "UserNotActive"),
        ("usr_sue", "UserNotActive"),
    ] {
        let refused = d.check_support_user(who).expect_err(who);
        assert!(format!("{refused:?}").starts_with(expected), "{who}: {refused:?}");
    }
    // A grant folded before its support user's events (another partition
    // of vox.config on Kafka) still counts once the user is known.
    let mut early = given(active("acme", "usr_olli", "olli@acme.fi", "owner").to_vec());
    early
        .apply(&granted("acme", "sg_1", "usr_sam", HOUR, T0 + 2 * HOUR))
        .expect("the form is valid");
    for e in active(INSTALLATION, "usr_sam", "sam@vox.dev", "support") {
        early.apply(&e).expect("the support user");
    }
    assert!(early
        .active_support_grant("acme", "usr_sam", T0 + 2 * HOUR + 1)
        .is_some());
    d.apply(&grant_revoked("acme", "sg_9", T0)).expect_err("no such grant");
}

// -------------------------------------------------------------- redaction

#[test]
fn sealed_credentials_never_print() {
    assert_eq!(format!("{:?}", Sealed(vec![0xAB; 40])), "Sealed(40 bytes)");
    let d = given(
        [
            active("acme", "usr_aino", "aino@acme.fi", "viewer").to_vec(),
            vec![totp_enrolled("acme", "usr_aino", 2, 32)],
        ]
        .concat(),
    );
    let aino = format!("{:?}", d.user("acme", "usr_aino").expect("aino"));
    assert!(
        aino.contains("Sealed(40 bytes)"),
        "the password is there, sealed: {aino}"
    );
    assert!(aino.contains("Sealed(24 bytes)"), "and so is the TOTP seed: {aino}");
    for bytes in ["171, 171", "188, 188"] {
        assert!(!aino.contains(bytes), "{bytes} in {aino}");
    }
    let directory = format!("{d:?}");
    assert!(!directory.contains("171, 171") && !directory.contains("188, 188"));
}

#[test]
fn recovery_code_hashes_never_print() {
    let d = given(
        [
            active("acme", "usr_aino", "aino@acme.fi", "viewer").to_vec(),
            vec![totp_enrolled("acme", "usr_aino", 2, 32)],
        ]
        .concat(),
    );
    let aino = format!("{:?}", d.user("acme", "usr_aino").expect("aino"));
    assert!(!aino.contains("205, 205"), "recovery code hashes in {aino}");
}

/// The whole directory, as a log line or a panic message would print it:
/// a pending invitation, an active user with a password and TOTP, a group
/// and a support grant. It names the people and counts the invitations,
/// and prints no invitation hash, sealed credential or recovery hash; nor
/// does the invitation event.
#[test]
fn a_whole_directory_prints_no_credential() {
    let pending = UserInvited {
        invitation_sha256: vec![9; 32],
        ..invitation("acme", "usr_ilona", "ilona@acme.fi", "viewer", "unused")
    };
    let d = given(
        [
            active("acme", "usr_olli", "olli@acme.fi", "owner").to_vec(),
            active("acme", "usr_aino", "aino@acme.fi", "viewer").to_vec(),
            active(INSTALLATION, "usr_sam", "sam@vox.dev", "support").to_vec(),
            vec![
                totp_enrolled("acme", "usr_aino", 2, 32),
                group_created("acme", "night-shift", "Night shift"),
                member_added("acme", "night-shift", "usr_aino"),
                granted("acme", "sg_1", "usr_sam", HOUR, T0 + 2 * HOUR),
                pending.clone().into(),
            ],
        ]
        .concat(),
    );
    assert!(d
        .user("acme", "usr_aino")
        .is_some_and(|u| u.password.is_some() && u.totp.is_some()));
    assert_eq!(status(&d, "acme", "usr_ilona"), Some(UserStatus::Invited));
    assert!(d.support_grant("acme", "sg_1").is_some());

    let printed = format!("{d:?}");
    for (what, bytes) in [
        ("the invitation hash", format!("{:?}", vec![9u8; 32])),
        ("the invitation hash", "[9, 9, 9".to_owned()),
        ("the sealed password hash", "171, 171".to_owned()),
        ("the sealed TOTP seed", "188, 188".to_owned()),
        ("the recovery code hashes", "205, 205".to_owned()),
    ] {
        assert!(!printed.contains(&bytes), "{what} ({bytes}) in {printed}");
    }
    for named in [
        "aino@acme.fi",
        "ilona@acme.fi",
        "pending_invitations: 1",
        "Night shift",
        "sg_1",
        "Sealed(40 bytes)",
    ] {
        assert!(printed.contains(named), "{named} is not in {printed}");
    }

    for event in [
        format!("{pending:?}"),
        format!("{:?}", ConfigEvent::from(pending.clone())),
    ] {
        assert!(
            !event.contains("[9, 9, 9") && !event.contains("9, 9, 9"),
            "the hash in {event}"
        );
        assert!(event.contains("ilona@acme.fi"), "{event}");
    }
}

// ------------------------------------------------------------ single sign-on

fn sso(tenant: &str, enabled: bool, provision: Option<&str>, map: &[(&str, &str)]) -> schemas::SsoConfigured {
    schemas::SsoConfigured {
        tenant_id: tenant.into(),
        enabled,
        idp_entity_id: "https://idp.example/metadata".into(),
        sso_url: "https://idp.example/sso".into(),
        certificates: vec![ByteString(vec![0x30, 0x82, 0x01])],
        required: false,
        idp_initiated: false,
        email_attribute: None,
        provision_role: provision.map(str::to_owned),
        groups_attribute: Some("groups".into()),
        group_map: map
            .iter()
            .map(|(idp, group)| schemas::SsoGroupMapping {
                idp_group: (*idp).into(),
                group_id: (*group).into(),
            })
            .collect(),
        changed_at: T0,
        changed_by: "operator".into(),
    }
}

fn provisioned(tenant: &str, user: &str, email: &str, role: &str) -> ConfigEvent {
    schemas::UserProvisioned {
        tenant_id: tenant.into(),
        user_id: user.into(),
        email: email.into(),
        role: role.into(),
        provisioned_at: T0 + HOUR,
        changed_by: "sso:https://idp.example/metadata".into(),
    }
    .into()
}

fn sso_groups(tenant: &str, user: &str, groups: &[&str]) -> ConfigEvent {
    schemas::SsoGroupsSet {
        tenant_id: tenant.into(),
        user_id: user.into(),
        group_ids: groups.iter().map(|g| (*g).to_owned()).collect(),
        changed_at: T0 + 2 * HOUR,
        changed_by: "sso:https://idp.example/metadata".into(),
    }
    .into()
}

#[test]
fn single_sign_on_is_configured_per_tenant_and_checked() {
    let mut d = given([group_created("acme", "hr", "HR")]);
    assert!(d.sso("acme").is_none());
    assert_eq!(
        when(&mut d, &sso("acme", true, Some("viewer"), &[("HR staff", "hr")]).into()),
        "ok"
    );
    let config = d.sso("acme").expect("on");
    assert_eq!(config.provision_role, Some(Role::Viewer));
    assert_eq!(config.group_map.get("HR staff").map(|g| g.as_str()), Some("hr"));
    assert!(d.sso("globex").is_none(), "another tenant's is its own");
    let refused = [
        sso("acme", true, Some("owner"), &[]),
        sso("acme", true, None, &[("x", "no-such-group")]),
        sso("acme", true, None, &[("x", "hr"), ("x", "hr")]),
        schemas::SsoConfigured {
            certificates: Vec::new(),
            ..sso("acme", true, None, &[])
        },
        schemas::SsoConfigured {
            sso_url: "ftp://idp.example/sso".into(),
            ..sso("acme", true, None, &[])
        },
        schemas::SsoConfigured {
            groups_attribute: None,
            ..sso("acme", true, None, &[("x", "hr")])
        },
        schemas::SsoConfigured {
            required: true,
            ..sso("acme", false, None, &[])
        },
        sso("nobody", true, None, &[]),
    ];
    for event in refused {
        let event: ConfigEvent = event.into();
        assert_ne!(when(&mut d, &event), "ok", "{event:?}");
    }
    // Off: kept for the record, not in force.
    assert_eq!(when(&mut d, &sso("acme", false, None, &[]).into()), "ok");
    assert!(d.sso("acme").is_none());
    assert!(d.sso_configured("acme").is_some_and(|c| !c.enabled));
    assert!(!d.sso_required("acme"));
}

#[test]
fn a_provisioned_user_is_active_without_a_password_and_stays_so_when_enabled_again() {
    let mut d = given([sso("acme", true, Some("analyst"), &[]).into()]);
    assert_eq!(
        when(&mut d, &provisioned("acme", "usr_aino", "aino@acme.fi", "analyst")),
        "ok"
    );
    let user = d.user("acme", "usr_aino").expect("provisioned");
    assert_eq!(
        (user.status, user.role, user.sso),
        (UserStatus::Active, Role::Analyst, true)
    );
    assert!(user.password.is_none());
    assert_eq!(
        when(&mut d, &changed("acme", "usr_aino", "disabled", T0 + 2 * HOUR)),
        "ok"
    );
    assert_eq!(
        when(&mut d, &changed("acme", "usr_aino", "enabled", T0 + 3 * HOUR)),
        "ok"
    );
    assert_eq!(status(&d, "acme", "usr_aino"), Some(UserStatus::Active));
    // Only with the tenant's role, only while it provisions, once per e-mail.
    assert_eq!(
        when(&mut d, &provisioned("acme", "usr_bea", "bea@acme.fi", "admin")),
        "InvalidPeople"
    );
    assert_eq!(
        when(&mut d, &provisioned("acme", "usr_ann", "AINO@acme.fi", "analyst")),
        "EmailTaken"
    );
    assert_eq!(
        when(&mut d, &provisioned("globex", "usr_bea", "bea@globex.fi", "analyst")),
        "InvalidPeople"
    );
    assert_eq!(when(&mut d, &sso("acme", true, None, &[]).into()), "ok");
    assert_eq!(
        when(&mut d, &provisioned("acme", "usr_bea", "bea@acme.fi", "analyst")),
        "InvalidPeople"
    );
}

#[test]
fn sso_memberships_are_replaced_whole_and_leave_the_hand_made_ones() {
    let [invite, accept] = active("acme", "usr_aino", "aino@acme.fi", "analyst");
    let mut d = given([
        invite,
        accept,
        group_created("acme", "hr", "HR"),
        group_created("acme", "stores", "Stores"),
        group_created("acme", "support", "Support"),
        member_added("acme", "support", "usr_aino"),
    ]);
    let aino = UserId::parse("usr_aino").expect("id");
    let names = |d: &Directory| {
        let mut n = group_names(d.groups_of("acme", &aino));
        n.sort_unstable();
        n.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(when(&mut d, &sso_groups("acme", "usr_aino", &["hr", "stores"])), "ok");
    assert_eq!(names(&d), ["HR", "Stores", "Support"]);
    assert_eq!(
        when(&mut d, &sso_groups("acme", "usr_aino", &["stores", "support"])),
        "ok"
    );
    assert_eq!(names(&d), ["Stores", "Support"]);
    // The hand-made membership outlives the SSO one.
    assert_eq!(when(&mut d, &sso_groups("acme", "usr_aino", &[])), "ok");
    assert_eq!(names(&d), ["Support"]);
    assert_eq!(
        when(&mut d, &sso_groups("acme", "usr_aino", &["no-such"])),
        "UnknownGroup"
    );
    assert_eq!(when(&mut d, &sso_groups("acme", "usr_nobody", &["hr"])), "UnknownUser");
    // Deleting the user ends both kinds.
    assert_eq!(when(&mut d, &sso_groups("acme", "usr_aino", &["hr"])), "ok");
    assert_eq!(
        when(&mut d, &changed("acme", "usr_aino", "deleted", T0 + 5 * HOUR)),
        "ok"
    );
    assert!(d.groups("acme").all(|g| !g.has("usr_aino")));
}

#[test]
fn a_login_maps_only_the_values_the_tenant_maps_each_once() {
    let d = given([
        group_created("acme", "hr", "HR"),
        group_created("acme", "stores", "Stores"),
        sso(
            "acme",
            true,
            None,
            &[("HR staff", "hr"), ("Store managers", "stores"), ("HR all", "hr")],
        )
        .into(),
    ]);
    let config = d.sso("acme").expect("on");
    let values: Vec<String> = ["Store managers", "Unmapped", "HR staff", "HR all"]
        .map(str::to_owned)
        .to_vec();
    let groups: Vec<&str> = config.groups_for(&values).into_iter().map(|g| g.as_str()).collect();
    assert_eq!(groups, ["stores", "hr"]);
}
