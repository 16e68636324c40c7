//! The people API on a whole node, every flow on both backends
//! (`people::embedded::…`, `people::kafka_postgres::…`): invitations,
//! password and TOTP logins, sessions and tokens, roles, the two-factor
//! policy, support access, throttling, and what `vox.audit` and
//! `vox.config` hold (never a secret). A refused request is checked for
//! its status, its stable code and that it changed nothing. Plus the
//! cross-check of bcrypt and TOTP with Python's `bcrypt` and `pyotp`
//! (`tests/interop/check_people.py`).
//!
//! The node that writes a change through the API reads the configuration
//! again before it answers, so its own writes hold at once: the tests
//! check that without waiting. A change made elsewhere (by the operator,
//! or through another node) is read at the next refresh, so a step that
//! depends on it waits (`CATCH_UP`) through an endpoint that is not
//! throttled where one exists: the 30 login and invitation attempts a
//! minute per address are shared by a whole test.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use api::manage::{Actor, Manager};
use directory::Role;
use login::totp::{code_at, Seed, STEP_SECS};
use reqwest::{Method, RequestBuilder};
use schemas::{ActorKind, AuditRecord, ConfigEvent, Outcome, Topic, INSTALLATION};
use serde_json::{json, Value};

use crate::helpers::{self, Backend, Node, SecondApi};

pub(crate) const TENANT: &str = "acme";
/// Time for a node to read a configuration change it did not make (it
/// re-reads every 250 ms; generous for a loaded 2-core machine).
pub(crate) const CATCH_UP: Duration = Duration::from_secs(5);
/// Ended sessions and tokens are refused on every node within this.
pub(crate) const AT_ONCE: Duration = Duration::from_secs(1);
/// Between attempts at a throttled endpoint (login, invitations).
const THROTTLED_PAUSE: Duration = Duration::from_millis(200);
/// Between attempts at any other endpoint.
pub(crate) const PAUSE: Duration = Duration::from_millis(50);

end_to_end!(
    invite_login_totp_and_logout,
    logins_are_audited_and_credentials_sealed,
    bad_passwords_and_invitations_change_nothing,
    bad_second_factors_change_nothing,
    bad_sessions_and_roles_are_refused,
    support_access_needs_a_live_grant,
    two_factor_policy_requires_enrolment,
    sessions_and_tokens_end_everywhere_within_a_second,
    repeated_failures_lock_the_account,
    second_factor_guessing_locks_the_account,
    a_whole_login_resets_the_failure_count,
    a_malformed_second_factor_uses_no_attempt,
    a_password_change_ends_pending_challenges,
    a_session_from_a_stale_node_ends_when_it_reads_the_change,
    a_login_rehashes_when_the_configured_cost_was_raised,
    oversized_and_malformed_bodies_are_refused_in_json,
    owners_are_out_of_admins_reach_and_unknown_names_lock_alike,
);

/// An admin cannot enable a disabled owner nor renew (and so take over) a
/// pending owner's invitation, and resets a user's lost two-factor; an e-mail nobody has locks after the same
/// failures as an account, with the same answer (a lockout tells nothing
/// about which e-mails exist); a body that does not say it is JSON (a
/// cross-site form) is refused.
async fn owners_are_out_of_admins_reach_and_unknown_names_lock_alike(node: Node) {
    let api = Api::new(&node);
    tenants(&node, &[TENANT]).await;
    let ada = join(&node, &api, None, "ada@acme.example", Role::Admin).await;
    let olli = join(&node, &api, Some(&ada), "olli@acme.example", Role::Owner).await;
    join(&node, &api, Some(&ada), "otto@acme.example", Role::Owner).await;
    operator(&node)
        .change_user(TENANT, &olli.id, api::manage::UserChange::Disable)
        .await
        .expect("the operator disables an owner");
    wait_user(&api, &ada, &olli.email, "disabled").await;
    let enable = json!({"status": "active"});
    api.call(
        Method::PATCH,
        &format!("/v1/users/{}", olli.id),
        Some(&ada.token),
        Some(enable),
    )
    .await
    .refused(403, "permission_denied", "an admin enabling an owner");
    assert_eq!(
        user(&api, &ada, &olli.email).await["status"],
        "disabled",
        "nothing changed"
    );

    let (pat, _) = invite(&node, TENANT, "pat@acme.example", Role::Owner).await;
    wait_user(&api, &ada, "pat@acme.example", "invited").await;
    let renew = json!({"email": "PAT@acme.example", "role": "viewer"});
    api.call(Method::POST, "/v1/users", Some(&ada.token), Some(renew))
        .await
        .refused(
            403,
            "permission_denied",
            "an admin renewing a pending owner's invitation",
        );
    let listed = user(&api, &ada, "pat@acme.example").await;
    assert_eq!(
        (listed["id"].as_str(), listed["role"].as_str()),
        (Some(pat.as_str()), Some("owner"))
    );

    let form = send(
        api.request(Method::POST, "/v1/login")
            .header("content-type", "text/plain")
            .body(format!(
                r#"{{"tenant":"{TENANT}","email":"{}","password":"x="}}"#,
                ada.email
            )),
    )
    .await;
    form.refused(415, "unsupported_media_type", "a body that does not say it is JSON");

    // A lost phone: the admin resets the analyst's two-factor; her next
    // login takes the password alone (the tenant does not require it).
    let (lea, _, _) = enrolled(&node, &api, "lea@acme.example").await;
    let reset = format!("/v1/users/{}/reset-two-factor", lea.id);
    api.call(Method::POST, &reset, Some(&lea.token), None).await.refused(
        403,
        "permission_denied",
        "an analyst resetting two-factor",
    );
    api.call(Method::POST, &reset, Some(&ada.token), None)
        .await
        .ok("the admin resets it");
    let again = api.login(TENANT, &lea.email, &lea.password).await;
    again.ok("a password login, no second step");
    assert_eq!(again.body["status"], "ok", "{}", again.text);
    assert_eq!(api.me(&lea.token).await.body["two_factor"], false);
    let records = audit_records(&node).await;
    assert!(
        records.iter().any(|r| r.action == "user.totp_removed"
            && r.actor_id == ada.id
            && r.resource.as_deref() == Some(format!("user/{}", lea.id).as_str())),
        "the reset is on record: {records:#?}"
    );

    let unknown = "nobody@acme.example";
    for attempt in 1..=6 {
        api.login(TENANT, unknown, "not-a-password-at-all").await.refused(
            401,
            "invalid_credentials",
            &format!("unknown e-mail, attempt {attempt}"),
        );
    }
    let locked = api.login(TENANT, unknown, "not-a-password-at-all").await;
    locked.refused(429, "login_throttled", "an unknown e-mail locks like an account");
    assert!(locked.message().contains("for this account"), "{}", locked.message());
    node.finish().await;
}

/// A body over the limit, a body that is not JSON and a field the contract
/// does not know: each refused with its JSON error, before any password is
/// hashed.
async fn oversized_and_malformed_bodies_are_refused_in_json(node: Node) {
    node.wait_ready().await;
    let api = Api::new(&node);
    let huge = json!({"tenant": TENANT, "email": "x@acme.fi", "password": "p".repeat(api::MAX_BODY_BYTES)});
    api.call(Method::POST, "/v1/login", None, Some(huge))
        .await
        .refused(413, "body_too_large", "a body over 64 KiB");
    let not_json = send(
        api.request(Method::POST, "/v1/login")
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    not_json.refused(400, "invalid_request", "a body that is not JSON");
    let unknown = json!({"tenant": TENANT, "email": "x@acme.fi", "password": "p", "admin": true});
    let answer = api.call(Method::POST, "/v1/login", None, Some(unknown)).await;
    answer.refused(400, "invalid_request", "an unknown field");
    assert!(answer.message().contains("admin"), "names the field: {}", answer.text);
    node.finish().await;
}

// ------------------------------------------------------------- flows ----

/// The README's walk-through: the operator invites an admin, who invites
/// an analyst over the API; the analyst enrols TOTP and from then on logs
/// in with two steps; logout ends that session.
async fn invite_login_totp_and_logout(node: Node) {
    let api = Api::new(&node);
    happy_path(&node, &api).await;
    node.finish().await;
}

/// After the happy path and one wrong password, `vox.audit` has the
/// logins (success and failure), the enrolment and the invitations; no
/// record of any topic holds a password, token, TOTP secret or recovery
/// code, and `vox.config` holds the credentials only sealed.
async fn logins_are_audited_and_credentials_sealed(node: Node) {
    let api = Api::new(&node);
    let trail = happy_path(&node, &api).await;
    api.login(TENANT, &trail.admin.email, "not-her-password-at-all")
        .await
        .refused(401, "invalid_credentials", "a wrong password");

    let records = audit_records(&node).await;
    let of = |action: &str, actor: &str, outcome: Outcome| -> Vec<&AuditRecord> {
        records
            .iter()
            .filter(|r| r.action == action && r.actor_id == actor && r.outcome == outcome)
            .collect()
    };
    let detail = |r: &AuditRecord, key: &str| r.details.get(key).cloned().unwrap_or_default();
    let (admin, analyst) = (trail.admin.id.as_str(), trail.analyst.id.as_str());
    let admin_logins = of("user.login", admin, Outcome::Success);
    assert!(
        admin_logins.iter().any(|r| detail(r, "factors") == "password"),
        "the admin's password login: {records:#?}"
    );
    let analyst_logins = of("user.login", analyst, Outcome::Success);
    assert!(
        analyst_logins.iter().any(|r| detail(r, "factors") == "password,totp"),
        "the analyst's two-step login: {records:#?}"
    );
    let failures = of("user.login", admin, Outcome::Failure);
    assert_eq!(failures.len(), 1, "one failed login: {records:#?}");
    assert_eq!(detail(failures[0], "reason"), "bad_password");
    for login in admin_logins.iter().chain(&analyst_logins).chain(&failures) {
        assert_eq!(login.tenant_id.as_deref(), Some(TENANT));
        assert_eq!(login.actor_kind, ActorKind::User);
        assert_eq!(login.source_address.as_deref(), Some("127.0.0.1"));
    }
    assert_eq!(
        of("user.totp_enrolled", analyst, Outcome::Success).len(),
        1,
        "{records:#?}"
    );
    let by_operator = of("user.invited", "operator", Outcome::Success);
    assert_eq!(by_operator.len(), 1, "{records:#?}");
    assert_eq!(by_operator[0].actor_kind, ActorKind::Operator);
    assert_eq!(
        by_operator[0].resource.as_deref(),
        Some(format!("user/{admin}").as_str())
    );
    let by_admin = of("user.invited", admin, Outcome::Success);
    assert_eq!(by_admin.len(), 1, "{records:#?}");
    assert_eq!(
        by_admin[0].resource.as_deref(),
        Some(format!("user/{analyst}").as_str())
    );
    assert_eq!(detail(by_admin[0], "role"), "analyst");
    for who in [admin, analyst] {
        assert_eq!(of("user.invitation_accepted", who, Outcome::Success).len(), 1, "{who}");
    }
    assert_eq!(of("user.logout", analyst, Outcome::Success).len(), 1);

    // No secret in any record of any topic, key or value.
    for topic in Topic::ALL {
        let name = node.topic(topic);
        for record in node.log.read_all(&name).await.expect("a topic") {
            for (what, secret) in &trail.secrets {
                assert!(
                    !contains(&record.payload, secret.as_bytes()) && !contains(&record.key, secret.as_bytes()),
                    "{what} is in {name} at offset {}",
                    record.offset
                );
            }
            assert!(
                !contains(&record.payload, &trail.seed),
                "the raw TOTP seed is in {name} at offset {}",
                record.offset
            );
        }
    }
    // `vox.config` holds the hash and the seed sealed, and never a bcrypt hash.
    let config = node.log.read_all(&node.topic(Topic::Config)).await.expect("config");
    let (mut passwords, mut seeds) = (0, 0);
    for record in &config {
        for prefix in ["$2b$", "$2a$", "$2y$"] {
            assert!(
                !contains(&record.payload, prefix.as_bytes()),
                "a bcrypt hash ({prefix}) in vox.config at offset {}",
                record.offset
            );
        }
        match ConfigEvent::decode(&record.payload).expect("a configuration event") {
            ConfigEvent::UserPasswordSet(set) => {
                passwords += 1;
                assert!(set.sealed_hash.len() > 60, "a sealed hash is longer than the hash");
            }
            ConfigEvent::UserTotpSet(set) => {
                seeds += 1;
                let sealed = set.sealed_seed.expect("a sealed seed");
                assert_ne!(sealed, trail.seed);
            }
            _ => {}
        }
    }
    assert_eq!((passwords, seeds), (2, 1), "two passwords set, one seed");
    node.finish().await;
}

/// Passwords refused at an invitation (too long, too short, too weak),
/// reused and made-up invitations, a wrong password and an unknown e-mail
/// (one answer for both): each refused with its code, none writes
/// anything, and the invitation and the accounts still work afterwards.
async fn bad_passwords_and_invitations_change_nothing(node: Node) {
    let api = Api::new(&node);
    tenants(&node, &[TENANT, "globex"]).await;
    let ada = join(&node, &api, None, "ada@acme.example", Role::Admin).await;
    let bea = "bea@acme.example";
    let (_, invitation) = invite(&node, TENANT, bea, Role::Viewer).await;
    wait_user(&api, &ada, bea, "invited").await;

    let config = config_len(&node).await;
    let long = "correct horse battery staple ".repeat(3);
    let umlauts = format!("{}x", "ä".repeat(36));
    assert_eq!((long.len(), umlauts.len()), (87, 73));
    for (case, password, code) in [
        ("87 bytes", long.as_str(), "password_too_long"),
        ("73 bytes in 37 characters", umlauts.as_str(), "password_too_long"),
        ("11 characters", "Qz7#mw!Lp2x", "password_too_short"),
        ("a common password", "password123456", "password_too_weak"),
        ("her own e-mail", "bea@acme.example", "password_too_weak"),
    ] {
        api.accept(&invitation, password).await.refused(400, code, case);
    }
    for (case, token) in [
        ("a made-up invitation", new_token(login::token::TokenKind::Invitation)),
        ("a token of another kind", new_token(login::token::TokenKind::Session)),
        ("a malformed token", "vox_inv_made-up".to_owned()),
    ] {
        api.accept(&token, &new_password())
            .await
            .refused(401, "invalid_invitation", case);
    }
    assert_eq!(config_len(&node).await, config, "refused invitations wrote nothing");
    assert_eq!(user(&api, &ada, bea).await["status"], "invited");

    // The invitation still works, once.
    let password = new_password();
    api.accept(&invitation, &password)
        .await
        .ok("the invitation after refused passwords");
    assert_eq!(user(&api, &ada, bea).await["status"], "active", "at once");
    let config = config_len(&node).await;
    let other = new_password();
    api.accept(&invitation, &other)
        .await
        .refused(401, "invalid_invitation", "a used invitation");
    assert_eq!(config_len(&node).await, config, "a used invitation wrote nothing");
    api.login(TENANT, bea, &other)
        .await
        .refused(401, "invalid_credentials", "the second password was not set");
    api.login(TENANT, bea, &password).await.ok("the first password is hers");

    // A wrong password and an unknown account get the same answer.
    let pending = "cyd@acme.example";
    invite(&node, TENANT, pending, Role::Viewer).await;
    wait_user(&api, &ada, pending, "invited").await;
    let config = config_len(&node).await;
    let wrong = api.login(TENANT, &ada.email, "not-her-password-at-all").await;
    wrong.refused(401, "invalid_credentials", "a wrong password");
    assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
    assert!(wrong.header("set-cookie").is_none());
    for (case, tenant, email) in [
        ("an unknown e-mail", TENANT, "nobody@acme.example"),
        ("another tenant's e-mail", "globex", ada.email.as_str()),
        ("an unknown tenant", "initech", ada.email.as_str()),
        ("someone who has not accepted", TENANT, pending),
    ] {
        let answer = api.login(tenant, email, &ada.password).await;
        assert_eq!(
            (answer.status, answer.code(), answer.message()),
            (wrong.status, wrong.code(), wrong.message()),
            "{case}: the same answer as a wrong password"
        );
    }
    assert_eq!(config_len(&node).await, config, "refused logins wrote nothing");
    api.login(TENANT, &ada.email, &ada.password)
        .await
        .ok("her password still works");
    node.finish().await;
}

/// A wrong TOTP code, a replayed one, a reused recovery code and a spent
/// challenge are refused (`invalid_totp`); what was refused changes
/// nothing: the challenge still takes a right code, an unused recovery
/// code still works, and nothing is written to the configuration.
async fn bad_second_factors_change_nothing(node: Node) {
    let api = Api::new(&node);
    tenants(&node, &[TENANT]).await;
    let ada = join(&node, &api, None, "ada@acme.example", Role::Admin).await;
    let mut app = begin_enrolment(&api, &ada.token).await;
    api.call(
        Method::POST,
        "/v1/me/totp/confirm",
        Some(&ada.token),
        Some(json!({"code": app.wrong_code()})),
    )
    .await
    .refused(401, "invalid_totp", "a wrong code at enrolment");
    let recovery = confirm_enrolment(&api, &ada.token, &mut app).await;
    assert_two_factor(&api, &ada.token).await;
    let config = config_len(&node).await;

    // A wrong code: refused; the challenge still takes the right one.
    let challenge = password_step(&api, &ada).await;
    for (case, factor) in [
        ("a wrong code", json!({"code": app.wrong_code()})),
        ("not six digits", json!({"code": "12345"})),
        (
            "a made-up recovery code",
            json!({"recovery_code": "abcd-efgh-jkmn-pqrs"}),
        ),
    ] {
        api.second_factor(&challenge, factor)
            .await
            .refused(401, "invalid_totp", case);
    }
    api.second_factor(
        &challenge,
        json!({"code": app.wrong_code(), "recovery_code": recovery[0]}),
    )
    .await
    .refused(400, "invalid_request", "a code and a recovery code");
    let code = app.next_code().await;
    api.second_factor(&challenge, json!({"code": code}))
        .await
        .ok("the right code after wrong ones");
    let spent = api.second_factor(&challenge, json!({"code": app.wrong_code()})).await;
    spent.refused(401, "invalid_totp", "a used challenge");
    assert!(spent.message().contains("challenge"), "{}", spent.text);
    api.second_factor(&new_token(login::token::TokenKind::Challenge), json!({"code": code}))
        .await
        .refused(401, "invalid_totp", "a made-up challenge");

    // The same code again, within its step: refused as a replay.
    let replay = api
        .second_factor(&password_step(&api, &ada).await, json!({"code": app.last_code()}))
        .await;
    replay.refused(401, "invalid_totp", "a replayed code");
    assert!(replay.message().contains("used already"), "{}", replay.text);

    // A recovery code works once; the challenge it failed on takes another.
    api.second_factor(&password_step(&api, &ada).await, json!({"recovery_code": recovery[0]}))
        .await
        .ok("a recovery code");
    let again = password_step(&api, &ada).await;
    api.second_factor(&again, json!({"recovery_code": recovery[0]}))
        .await
        .refused(401, "invalid_totp", "a used recovery code");
    let loose = recovery[1].replace('-', " ").to_uppercase();
    api.second_factor(&again, json!({"recovery_code": loose}))
        .await
        .ok("another recovery code (case, spaces and dashes do not matter)");
    assert_eq!(
        config_len(&node).await,
        config,
        "second factors, right or wrong, write nothing"
    );
    api.login(TENANT, &ada.email, &ada.password)
        .await
        .ok("the account is not locked");
    node.finish().await;
}

/// Tampered, made-up and ended session tokens (401 `unauthenticated`), a
/// cookie-authenticated change without the anti-CSRF header (403
/// `csrf_check_failed`), another tenant named in `Vox-Tenant` and a
/// viewer managing users (403 `permission_denied`): refused, and the
/// session, the users and the configuration stay as they were.
async fn bad_sessions_and_roles_are_refused(node: Node) {
    let api = Api::new(&node);
    tenants(&node, &[TENANT, "globex"]).await;
    let ada = join(&node, &api, None, "ada@acme.example", Role::Admin).await;
    let vic = join(&node, &api, Some(&ada), "vic@acme.example", Role::Viewer).await;
    let config = config_len(&node).await;

    for (case, token) in [
        ("one character changed", tamper(&ada.token)),
        ("a made-up session", new_token(login::token::TokenKind::Session)),
        ("a challenge", new_token(login::token::TokenKind::Challenge)),
        ("no prefix", "abc".to_owned()),
    ] {
        let refused = api.me(&token).await;
        refused.refused(401, "unauthenticated", case);
        assert_eq!(refused.header("www-authenticate"), Some("Bearer"), "{case}");
        assert_eq!(refused.header("cache-control"), Some("no-store"), "{case}");
    }
    api.call(Method::GET, "/v1/me", None, None)
        .await
        .refused(401, "unauthenticated", "no token");
    api.me(&ada.token).await.ok("her session is untouched");

    // The cookie: reading needs no header, a change needs X-Vox-CSRF.
    let cookie = |method: Method, path: &str| {
        api.request(method, path)
            .header("cookie", format!("__Host-vox_session={}", ada.token))
    };
    send(cookie(Method::GET, "/v1/me")).await.ok("a GET by cookie");
    send(cookie(Method::POST, "/v1/logout")).await.refused(
        403,
        "csrf_check_failed",
        "a logout by cookie without X-Vox-CSRF",
    );
    send(cookie(Method::POST, "/v1/logout").header("x-vox-csrf", &vic.csrf))
        .await
        .refused(403, "csrf_check_failed", "another session's X-Vox-CSRF");
    api.me(&ada.token).await.ok("refused logouts ended nothing");
    let out = send(cookie(Method::POST, "/v1/logout").header("x-vox-csrf", &ada.csrf)).await;
    out.ok("a logout by cookie with X-Vox-CSRF");
    assert!(
        out.header("set-cookie")
            .is_some_and(|c| c.starts_with("__Host-vox_session=;") && c.contains("Max-Age=0")),
        "the cookie is cleared: {:?}",
        out.header("set-cookie")
    );
    api.me(&ada.token)
        .await
        .refused(401, "unauthenticated", "a session after logout");
    send(cookie(Method::GET, "/v1/me"))
        .await
        .refused(401, "unauthenticated", "its cookie after logout");
    api.call(Method::POST, "/v1/logout", Some(&ada.token), None)
        .await
        .refused(401, "unauthenticated", "a second logout");

    // Another tenant.
    let ada = relogin(&api, &ada).await;
    let as_globex = |method: Method, path: &str, token: &str| {
        api.request(method, path)
            .bearer_auth(token)
            .header("vox-tenant", "globex")
    };
    let refused = send(as_globex(Method::GET, "/v1/users", &ada.token)).await;
    refused.refused(403, "permission_denied", "another tenant's users");
    assert!(refused.message().contains("'acme'"), "{}", refused.text);
    send(
        as_globex(Method::POST, "/v1/users", &ada.token).json(&json!({"email": "eve@globex.example", "role": "owner"})),
    )
    .await
    .refused(403, "permission_denied", "inviting into another tenant");
    let own = send(
        api.request(Method::GET, "/v1/users")
            .bearer_auth(&ada.token)
            .header("vox-tenant", TENANT),
    )
    .await;
    own.ok("her own tenant named");

    // A viewer.
    let viewer_refusals = [
        (Method::GET, "/v1/users".to_owned(), None),
        (
            Method::POST,
            "/v1/users".to_owned(),
            Some(json!({"email": "eve@acme.example", "role": "admin"})),
        ),
        (
            Method::PATCH,
            format!("/v1/users/{}", ada.id),
            Some(json!({"status": "disabled"})),
        ),
        (
            Method::PUT,
            "/v1/policy".to_owned(),
            Some(json!({"two_factor_required": false})),
        ),
        (Method::GET, "/v1/support-grants".to_owned(), None),
    ];
    for (method, path, body) in viewer_refusals {
        let case = format!("a viewer's {method} {path}");
        api.call(method, &path, Some(&vic.token), body)
            .await
            .refused(403, "permission_denied", &case);
    }
    let listed = api.users(&ada.token).await;
    listed.ok("an admin lists the users");
    assert_eq!(
        emails(&listed),
        BTreeSet::from(["ada@acme.example".to_owned(), "vic@acme.example".to_owned()])
    );
    assert_eq!(user(&api, &ada, &vic.email).await["role"], "viewer");
    assert_eq!(user(&api, &ada, &ada.email).await["status"], "active");
    assert_eq!(config_len(&node).await, config, "refused requests wrote nothing");
    node.finish().await;
}

/// A support user: enrolment forced at the first login, then nothing in a
/// tenant without its grant; under the grant reading works (each use
/// recorded) and changing does not; after revocation nothing again.
/// (A grant's expiry is tested on the directory:
/// `a_support_grant_is_active_inside_its_window_until_revoked` in
/// `crates/directory/src/people_tests.rs`; an hour cannot be waited for here.)
async fn support_access_needs_a_live_grant(node: Node) {
    let api = Api::new(&node);
    tenants(&node, &[TENANT, "globex"]).await;
    let ada = join(&node, &api, None, "ada@acme.example", Role::Admin).await;
    let email = "sam@vox.example";
    let (sam_id, invitation) = invite(&node, INSTALLATION, email, Role::Support).await;
    let password = new_password();
    accept_when_known(&api, &invitation, &password)
        .await
        .ok("the support user accepts");

    // The first login (at once: the node read the password it set): enrol first.
    let refused = api.support_login(email, &password).await;
    refused.refused(403, "two_factor_enrolment_required", "a support user without TOTP");
    assert!(
        refused.message().contains("support users must use two-factor")
            && refused.message().contains("POST /v1/me/totp"),
        "{}",
        refused.message()
    );
    assert!(refused.header("set-cookie").is_none(), "no session");
    let enrolment = refused.field("enrolment_token");
    api.me(&enrolment)
        .await
        .refused(401, "unauthenticated", "an enrolment token is no session");
    let mut app = begin_enrolment(&api, &enrolment).await;
    confirm_enrolment(&api, &enrolment, &mut app).await;
    api.call(Method::POST, "/v1/me/totp", Some(&enrolment), None)
        .await
        .refused(401, "unauthenticated", "the enrolment token after enrolment");
    let answer = api.support_login(email, &password).await;
    answer.ok("the support user's password step, at once after the enrolment");
    assert_eq!(answer.body["status"], "totp_required", "{}", answer.text);
    let challenge = answer.field("challenge");
    let sam = api
        .second_factor(&challenge, json!({"code": app.next_code().await}))
        .await;
    sam.ok("the support user's second factor");
    let sam = sam.field("token");
    let me = api.me(&sam).await;
    me.ok("a support user's own account");
    assert_eq!(
        (me.body["role"].as_str(), me.body["id"].as_str()),
        (Some("support"), Some(sam_id.as_str()))
    );

    // No grant: refused.
    let read = |tenant: &'static str| {
        api.request(Method::GET, "/v1/users")
            .bearer_auth(&sam)
            .header("vox-tenant", tenant)
    };
    let refused = send(read(TENANT)).await;
    refused.refused(403, "support_grant_required", "no grant");
    assert!(
        refused.message().contains("'acme'") && refused.message().contains("POST /v1/support-grants"),
        "{}",
        refused.message()
    );
    api.users(&sam).await.refused(400, "invalid_request", "no Vox-Tenant");

    // The tenant's admin grants an hour.
    let granted = api
        .call(
            Method::POST,
            "/v1/support-grants",
            Some(&ada.token),
            Some(json!({"support_email": email, "reason": "ticket 4411: missing tags", "hours": 1})),
        )
        .await;
    granted.ok("granting support access");
    let grant = granted.field("id");
    assert!(grant.starts_with("sg_"), "{grant}");
    let answered = &granted.body["grant"];
    assert_eq!(
        (
            &answered["id"],
            &answered["support_user"],
            &answered["support_email"],
            &answered["reason"],
            &answered["active"],
            &answered["revoked_at"],
        ),
        (
            &json!(grant),
            &json!(sam_id),
            &json!(email),
            &json!("ticket 4411: missing tags"),
            &json!(true),
            &Value::Null
        ),
        "the answer shows the grant as written: {}",
        granted.text
    );
    let config = config_len(&node).await;
    // The node that wrote the grant honours it at once.
    let listed = send(read(TENANT)).await;
    listed.ok("a support read at once after the grant");
    let mut uses = 1;
    assert_eq!(
        emails(&listed),
        BTreeSet::from([ada.email.clone()]),
        "acme's users only"
    );
    // What a node starting now (or a command) reads must have the grant too.
    let fresh = directory::commands::directory(&node.log, &node.namespace)
        .await
        .expect("the configuration");
    assert!(
        fresh.support_grant(TENANT, &grant).is_some(),
        "a fresh read of vox.config (what a starting node and every configuration command \
         read) lacks the grant that the running node honours. On Kafka the grant (key 'acme') and \
         the support user it names (key '-') can lie in different partitions of vox.config; a fold \
         that reads the grant's partition first refuses the grant and drops it, and revoking it then \
         answers 404"
    );
    let grants = api
        .call(Method::GET, "/v1/support-grants", Some(&ada.token), None)
        .await;
    grants.ok("listing grants");
    let listed = &grants.body["grants"][0];
    assert_eq!(
        (
            &listed["id"],
            &listed["support_user"],
            &listed["support_email"],
            &listed["active"]
        ),
        (&json!(grant), &json!(sam_id), &json!(email), &json!(true)),
        "{}",
        grants.text
    );

    // Read-only, and only the tenant that granted.
    let write = |method: Method, path: &str| api.request(method, path).bearer_auth(&sam).header("vox-tenant", TENANT);
    for (case, request) in [
        (
            "inviting",
            write(Method::POST, "/v1/users").json(&json!({"email": "eve@acme.example", "role": "owner"})),
        ),
        (
            "disabling",
            write(Method::PATCH, &format!("/v1/users/{}", ada.id)).json(&json!({"status": "disabled"})),
        ),
        (
            "granting itself more",
            write(Method::POST, "/v1/support-grants")
                .json(&json!({"support_email": email, "reason": "x", "hours": 72})),
        ),
    ] {
        let refused = send(request).await;
        refused.refused(403, "permission_denied", case);
        assert!(refused.message().contains("read-only"), "{case}: {}", refused.message());
    }
    send(read("globex"))
        .await
        .refused(403, "support_grant_required", "a tenant that granted nothing");
    assert_eq!(
        config_len(&node).await,
        config,
        "refused support requests wrote nothing"
    );
    assert_eq!(user(&api, &ada, &ada.email).await["status"], "active");

    // A node started after the grant was written honours it (on Kafka the
    // grant and its support user lie in different partitions of
    // vox.config, and a starting node may fold the grant's first).
    let other = SecondApi::start(&node).await;
    let api2 = Api::at(&node, &other.url);
    let read2 = |tenant: &'static str| {
        api2.request(Method::GET, "/v1/users")
            .bearer_auth(&sam)
            .header("vox-tenant", tenant)
    };
    let listed = send(read2(TENANT)).await;
    listed.ok("a support read on a node started after the grant");
    uses += 1;
    assert_eq!(emails(&listed), BTreeSet::from([ada.email.clone()]));
    send(read2("globex")).await.refused(
        403,
        "support_grant_required",
        "the other node: a tenant that granted nothing",
    );

    // Every use is listed for the tenant.
    let recorded = api
        .call(
            Method::GET,
            &format!("/v1/support-grants/{grant}/uses"),
            Some(&ada.token),
            None,
        )
        .await;
    recorded.ok("the grant's uses");
    let recorded = recorded.body["uses"].as_array().cloned().unwrap_or_default();
    assert_eq!(recorded.len(), uses, "one use per allowed request: {recorded:?}");
    for u in &recorded {
        assert_eq!(
            (u["method"].as_str(), u["path"].as_str(), u["support_user"].as_str()),
            (Some("GET"), Some("/v1/users"), Some(sam_id.as_str()))
        );
    }

    // Revoked through the node started after the grant: refused again, at
    // once on that node, and on the first once it has read the revocation.
    api2.call(
        Method::DELETE,
        &format!("/v1/support-grants/{grant}"),
        Some(&ada.token),
        None,
    )
    .await
    .ok("revoking the grant through the node started after it");
    send(read2(TENANT))
        .await
        .refused(403, "support_grant_required", "at once on the node that revoked");
    let patience = Patience::new(CATCH_UP, PAUSE);
    loop {
        let answer = send(read(TENANT)).await;
        if answer.status == 403 {
            answer.refused(403, "support_grant_required", "after revocation");
            break;
        }
        answer.ok("before the node read the revocation");
        uses += 1;
        assert!(patience.again().await, "the revocation never took effect");
    }
    let grants = api
        .call(Method::GET, "/v1/support-grants", Some(&ada.token), None)
        .await;
    grants.ok("listing grants");
    let listed = &grants.body["grants"][0];
    assert_eq!(
        (
            &listed["id"],
            &listed["active"],
            listed["revoked_at"].is_string(),
            &listed["uses"]
        ),
        (&json!(grant), &json!(false), true, &json!(uses)),
        "{}",
        grants.text
    );
    let records = audit_records(&node).await;
    let allowed = records
        .iter()
        .filter(|r| r.action == "support.request" && r.outcome == Outcome::Success)
        .count();
    assert_eq!(allowed, uses, "each allowed support request is audited");
    other.stop().await;
    node.finish().await;
}

/// The owner turns on "two-factor required": a user without TOTP gets 403
/// `two_factor_enrolment_required`, the message saying how to enrol, with a
/// token that only enrols; after enrolling she logs in with a code.
async fn two_factor_policy_requires_enrolment(node: Node) {
    let api = Api::new(&node);
    tenants(&node, &[TENANT]).await;
    let olga = join(&node, &api, None, "olga@acme.example", Role::Owner).await;
    let ana = join(&node, &api, Some(&olga), "ana@acme.example", Role::Analyst).await;
    let config = config_len(&node).await;
    let policy = json!({"two_factor_required": true});
    api.call(Method::PUT, "/v1/policy", Some(&ana.token), Some(policy.clone()))
        .await
        .refused(403, "permission_denied", "an analyst sets the policy");
    assert_eq!(config_len(&node).await, config);
    api.call(Method::PUT, "/v1/policy", Some(&olga.token), Some(policy))
        .await
        .ok("the owner sets the policy");
    let read = api.call(Method::GET, "/v1/policy", Some(&ana.token), None).await;
    read.ok("reading the policy");
    assert_eq!(read.body["two_factor_required"], true, "at once: {}", read.text);

    let refused = api.login(TENANT, &ana.email, &ana.password).await;
    refused.refused(403, "two_factor_enrolment_required", "a login without TOTP");
    let message = refused.message();
    for says in [
        "tenant 'acme' requires two-factor authentication",
        "enrolment_token",
        "POST /v1/me/totp",
        "POST /v1/me/totp/confirm",
        "log in again",
    ] {
        assert!(message.contains(says), "the message says {says:?}: {message}");
    }
    assert!(refused.header("set-cookie").is_none(), "no session");
    let enrolment = refused.field("enrolment_token");
    for (method, path) in [(Method::GET, "/v1/users"), (Method::GET, "/v1/me/tokens")] {
        api.call(method, path, Some(&enrolment), None).await.refused(
            401,
            "unauthenticated",
            "the enrolment token only enrols",
        );
    }
    let mut app = begin_enrolment(&api, &enrolment).await;
    confirm_enrolment(&api, &enrolment, &mut app).await;
    assert_two_factor(&api, &ana.token).await;
    let session = api
        .second_factor(&password_step(&api, &ana).await, json!({"code": app.next_code().await}))
        .await;
    session.ok("a login with a code under the policy");
    assert_eq!(session.body["user"]["two_factor"], true);
    node.finish().await;
}

/// Disabling a user, an admin's "revoke sessions" and a password change
/// end the user's sessions (and personal tokens) on every node within a
/// second; a personal token is shown once, listed without its value,
/// authenticates, and ends when revoked.
async fn sessions_and_tokens_end_everywhere_within_a_second(node: Node) {
    let api = Api::new(&node);
    tenants(&node, &[TENANT]).await;
    let ada = join(&node, &api, None, "ada@acme.example", Role::Admin).await;
    let dan = join(&node, &api, Some(&ada), "dan@acme.example", Role::Analyst).await;
    let rui = join(&node, &api, Some(&ada), "rui@acme.example", Role::Analyst).await;
    let pia = join(&node, &api, Some(&ada), "pia@acme.example", Role::Analyst).await;
    let other = SecondApi::start(&node).await;
    let api2 = Api::at(&node, &other.url);
    let everywhere = [&api, &api2];
    for person in [&ada, &dan, &rui, &pia] {
        api2.me(&person.token).await.ok("a session works on the other node");
    }

    // Disabled.
    let disabled = api
        .call(
            Method::PATCH,
            &format!("/v1/users/{}", dan.id),
            Some(&ada.token),
            Some(json!({"status": "disabled"})),
        )
        .await;
    disabled.ok("disabling a user");
    assert_eq!(
        (&disabled.body["user"]["id"], &disabled.body["user"]["status"]),
        (&json!(dan.id), &json!("disabled")),
        "the answer shows the user as changed: {}",
        disabled.text
    );
    refused_everywhere(&everywhere, &dan.token, "a disabled user's session").await;
    assert_eq!(user(&api, &ada, &dan.email).await["status"], "disabled");
    api.login(TENANT, &dan.email, &dan.password).await.refused(
        403,
        "account_disabled",
        "a disabled user's login, at once",
    );

    // "Revoke sessions": all of them, and a new login works.
    let rui2 = relogin(&api, &rui).await;
    let revoked = api
        .call(
            Method::POST,
            &format!("/v1/users/{}/revoke-sessions", rui.id),
            Some(&ada.token),
            None,
        )
        .await;
    revoked.ok("revoking a user's sessions");
    assert!(revoked.body["ended"].as_u64() >= Some(2), "{}", revoked.text);
    for token in [&rui.token, &rui2.token] {
        refused_everywhere(&everywhere, token, "a revoked session").await;
    }
    let rui3 = relogin(&api, &rui).await;
    api2.me(&rui3.token).await.ok("a session after the revocation");

    // A password change ends every session and token of the user.
    let pia_token = create_token(&api, &pia, "pia's script").await;
    let change = |current: &str, new: &str| {
        api.call(
            Method::POST,
            "/v1/me/password",
            Some(&pia.token),
            Some(json!({"current_password": current, "new_password": new})),
        )
    };
    let config = config_len(&node).await;
    let new = new_password();
    change("not-her-password-at-all", &new)
        .await
        .refused(401, "invalid_credentials", "a wrong current password");
    change(&pia.password, "password123456")
        .await
        .refused(400, "password_too_weak", "a weak new password");
    assert_eq!(config_len(&node).await, config, "refused changes wrote nothing");
    api.me(&pia_token).await.ok("her token after refused changes");
    let changed = change(&pia.password, &new).await;
    changed.ok("changing the password");
    // At once on the node that made the change: the old password is refused
    // and the new one works.
    api.login(TENANT, &pia.email, &pia.password).await.refused(
        401,
        "invalid_credentials",
        "the old password right after the change",
    );
    for token in [&pia.token, &pia_token] {
        refused_everywhere(&everywhere, token, "a session after a password change").await;
    }
    let fresh = api.login(TENANT, &pia.email, &new).await;
    fresh.ok("the new password right after the change");
    api2.me(&fresh.field("token"))
        .await
        .ok("a session of the new password on the other node");

    // Personal tokens.
    let token = create_token(&api, &ada, "nightly export").await;
    assert!(token.starts_with("vox_pt_"), "{token}");
    let listed = api.call(Method::GET, "/v1/me/tokens", Some(&ada.token), None).await;
    listed.ok("listing tokens");
    assert!(
        !listed.text.contains(&token),
        "the list never shows a token: {}",
        listed.text
    );
    let tokens = listed.body["tokens"].as_array().cloned().unwrap_or_default();
    assert_eq!(tokens.len(), 1, "{}", listed.text);
    assert_eq!(tokens[0]["name"], "nightly export");
    assert!(tokens[0].get("token").is_none());
    let id = tokens[0]["id"].as_str().expect("an id").to_owned();
    for api in everywhere {
        let me = api.me(&token).await;
        me.ok("a personal token authenticates");
        assert_eq!(me.body["email"], ada.email.as_str());
    }
    api.call(
        Method::POST,
        "/v1/me/tokens",
        Some(&token),
        Some(json!({"name": "more"})),
    )
    .await
    .refused(401, "unauthenticated", "a token making tokens");
    send(
        api.request(Method::GET, "/v1/me")
            .header("cookie", format!("__Host-vox_session={token}")),
    )
    .await
    .refused(401, "unauthenticated", "a personal token as a cookie");
    api.call(Method::DELETE, &format!("/v1/me/tokens/{id}"), Some(&ada.token), None)
        .await
        .ok("revoking the token");
    refused_everywhere(&everywhere, &token, "a revoked token").await;
    api.call(Method::DELETE, &format!("/v1/me/tokens/{id}"), Some(&ada.token), None)
        .await
        .refused(404, "not_found", "revoking it again");
    let listed = api.call(Method::GET, "/v1/me/tokens", Some(&ada.token), None).await;
    assert_eq!(listed.body["tokens"], json!([]), "{}", listed.text);
    api.me(&ada.token).await.ok("her session goes on");
    other.stop().await;
    node.finish().await;
}

/// Six wrong passwords lock the account (429 `login_throttled` with
/// `Retry-After`), even for the right password, on record; other accounts
/// are not affected. Past 30 attempts a minute the address is throttled.
async fn repeated_failures_lock_the_account(node: Node) {
    let api = Api::new(&node);
    tenants(&node, &[TENANT]).await;
    let ada = join(&node, &api, None, "ada@acme.example", Role::Admin).await;
    let lea = join(&node, &api, Some(&ada), "lea@acme.example", Role::Analyst).await;
    for attempt in 1..=6 {
        api.login(TENANT, &lea.email, "not-her-password-at-all").await.refused(
            401,
            "invalid_credentials",
            &format!("wrong password {attempt}"),
        );
    }
    for (case, password) in [
        ("the right password", lea.password.as_str()),
        ("a wrong one", "still-not-her-password"),
    ] {
        let locked = api.login(TENANT, &lea.email, password).await;
        locked.refused(429, "login_throttled", case);
        let wait: u64 = locked
            .header("retry-after")
            .and_then(|s| s.parse().ok())
            .expect("a Retry-After");
        assert!((1..=30).contains(&wait), "{case}: Retry-After {wait}");
        assert!(locked.message().contains("for this account"), "{}", locked.message());
    }
    api.me(&lea.token).await.ok("a lockout ends no session");
    let ada = relogin(&api, &ada).await;
    let records = audit_records(&node).await;
    let lockouts: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.action == "user.lockout" && r.actor_id == lea.id)
        .collect();
    assert_eq!(lockouts.len(), 1, "{records:#?}");
    assert_eq!(lockouts[0].details.get("failures").map(String::as_str), Some("6"));
    let failed = records
        .iter()
        .filter(|r| r.action == "user.login" && r.actor_id == lea.id && r.outcome == Outcome::Failure)
        .count();
    assert_eq!(failed, 6, "each wrong password is on record");

    // The address: made-up invitations are refused cheaply until it is throttled.
    let mut throttled = None;
    for attempt in 1..=40 {
        let answer = api
            .accept(&new_token(login::token::TokenKind::Invitation), &new_password())
            .await;
        if answer.status == 429 {
            throttled = Some((attempt, answer));
            break;
        }
        answer.refused(401, "invalid_invitation", "a made-up invitation");
    }
    let (attempts, answer) = throttled.expect("the address is throttled within 40 attempts");
    assert!(attempts <= 30, "throttled after {attempts} more attempts");
    answer.refused(429, "login_throttled", "too many attempts from one address");
    assert!(answer.header("retry-after").is_some());
    api.login(TENANT, &ada.email, &ada.password).await.refused(
        429,
        "login_throttled",
        "any login from the throttled address",
    );
    api.me(&ada.token).await.ok("sessions are not throttled");
    node.finish().await;
}

/// Wrong second factors count against the account as wrong passwords do,
/// and the right password alone does not start the count over: six wrong
/// codes over three challenges lock the account. While it is locked, a
/// challenge it opened takes no code, not even the right one, and the
/// password step is refused (429 `login_throttled`); all of it on record.
async fn second_factor_guessing_locks_the_account(node: Node) {
    let api = Api::new(&node);
    tenants(&node, &[TENANT]).await;
    let (lea, mut app, _) = enrolled(&node, &api, "lea@acme.example").await;
    let mut challenge = String::new();
    for round in 1..=3 {
        challenge = password_step(&api, &lea).await;
        for guess in 1..=2 {
            api.second_factor(&challenge, json!({"code": app.wrong_code()}))
                .await
                .refused(401, "invalid_totp", &format!("challenge {round}, wrong code {guess}"));
        }
    }
    let code = app.next_code().await;
    let locked = api.second_factor(&challenge, json!({"code": code})).await;
    locked.refused(429, "login_throttled", "the right code while the account is locked");
    assert!(locked.header("retry-after").is_some(), "{}", locked.text);
    let locked = api.login(TENANT, &lea.email, &lea.password).await;
    locked.refused(429, "login_throttled", "the right password while the account is locked");
    let wait: u64 = locked
        .header("retry-after")
        .and_then(|s| s.parse().ok())
        .expect("a Retry-After");
    assert!((1..=30).contains(&wait), "Retry-After {wait}");
    assert!(locked.message().contains("for this account"), "{}", locked.message());
    api.me(&lea.token).await.ok("a lockout ends no session");

    let records = audit_records(&node).await;
    let of_lea = |action: &str| {
        records
            .iter()
            .filter(|r| r.action == action && r.actor_id == lea.id)
            .collect::<Vec<_>>()
    };
    let lockouts = of_lea("user.lockout");
    assert_eq!(lockouts.len(), 1, "{records:#?}");
    assert_eq!(lockouts[0].details.get("failures").map(String::as_str), Some("6"));
    let failures: Vec<Option<&str>> = of_lea("user.login")
        .iter()
        .filter(|r| r.outcome == Outcome::Failure)
        .map(|r| r.details.get("reason").map(String::as_str))
        .collect();
    assert_eq!(failures, vec![Some("wrong_totp"); 6], "each wrong code is on record");
    node.finish().await;
}

/// The failure count starts over after a whole login (password and code):
/// five wrong codes spend a challenge (one failure short of a lockout); a
/// login with the right password and code follows; one more wrong code
/// after it does not lock the account.
async fn a_whole_login_resets_the_failure_count(node: Node) {
    let api = Api::new(&node);
    tenants(&node, &[TENANT]).await;
    let (lea, mut app, _) = enrolled(&node, &api, "lea@acme.example").await;
    let challenge = password_step(&api, &lea).await;
    for guess in 1..=5 {
        api.second_factor(&challenge, json!({"code": app.wrong_code()}))
            .await
            .refused(401, "invalid_totp", &format!("wrong code {guess}"));
    }
    let code = app.next_code().await;
    let spent = api.second_factor(&challenge, json!({"code": code})).await;
    spent.refused(401, "invalid_totp", "a challenge after five wrong codes");
    assert!(spent.message().contains("challenge"), "{}", spent.text);
    api.second_factor(&password_step(&api, &lea).await, json!({"code": code}))
        .await
        .ok("a whole login after five failures (the spent challenge did not use the code)");
    api.second_factor(&password_step(&api, &lea).await, json!({"code": app.wrong_code()}))
        .await
        .refused(401, "invalid_totp", "one wrong code after the whole login");
    let after = api.login(TENANT, &lea.email, &lea.password).await;
    after.ok("not locked: the whole login started the count over");
    assert_eq!(after.body["status"], "totp_required", "{}", after.text);
    let records = audit_records(&node).await;
    assert!(
        !records.iter().any(|r| r.action == "user.lockout"),
        "no lockout: {records:#?}"
    );
    node.finish().await;
}

/// A second-factor body with both a code and a recovery code, or neither,
/// is refused (400 `invalid_request`) before the challenge counts an
/// attempt or the account a failure, and spends nothing: after four wrong
/// codes and the malformed bodies, the fifth and last attempt of the
/// challenge still takes the right code, and the recovery code sent along
/// still works. (That a challenge takes five attempts:
/// `a_whole_login_resets_the_failure_count`.)
async fn a_malformed_second_factor_uses_no_attempt(node: Node) {
    let api = Api::new(&node);
    tenants(&node, &[TENANT]).await;
    let (ada, mut app, recovery) = enrolled(&node, &api, "ada@acme.example").await;
    let challenge = password_step(&api, &ada).await;
    for guess in 1..=4 {
        api.second_factor(&challenge, json!({"code": app.wrong_code()}))
            .await
            .refused(401, "invalid_totp", &format!("wrong code {guess}"));
    }
    let code = app.next_code().await;
    for (case, factor) in [
        (
            "a right code and a recovery code",
            json!({"code": code, "recovery_code": recovery[0]}),
        ),
        ("neither", json!({})),
        ("neither, with nulls", json!({"code": null, "recovery_code": null})),
    ] {
        let refused = api.second_factor(&challenge, factor).await;
        refused.refused(400, "invalid_request", case);
        assert!(
            refused.message().contains("either `code`"),
            "{case}: {}",
            refused.message()
        );
    }
    api.second_factor(&challenge, json!({"code": code}))
        .await
        .ok("the fifth attempt after malformed bodies");
    api.second_factor(&password_step(&api, &ada).await, json!({"recovery_code": recovery[0]}))
        .await
        .ok("the recovery code of the malformed body is unused");
    node.finish().await;
}

/// A password change ends the challenges the old password opened: one
/// taken before the change does not take a right code after it (401
/// `invalid_totp`). At once on the node that made the change, the old
/// password is refused and the new one opens a challenge that works.
async fn a_password_change_ends_pending_challenges(node: Node) {
    let api = Api::new(&node);
    tenants(&node, &[TENANT]).await;
    let (ada, mut app, _) = enrolled(&node, &api, "ada@acme.example").await;
    let pending = password_step(&api, &ada).await;
    let new = new_password();
    api.call(
        Method::POST,
        "/v1/me/password",
        Some(&ada.token),
        Some(json!({"current_password": ada.password, "new_password": new})),
    )
    .await
    .ok("changing the password");
    let code = app.next_code().await;
    let ended = api.second_factor(&pending, json!({"code": code})).await;
    ended.refused(401, "invalid_totp", "a challenge of the old password, after the change");
    assert!(ended.message().contains("log in again"), "{}", ended.text);
    api.login(TENANT, &ada.email, &ada.password).await.refused(
        401,
        "invalid_credentials",
        "the old password right after the change",
    );
    let ada = Person { password: new, ..ada };
    let session = api
        .second_factor(&password_step(&api, &ada).await, json!({"code": code}))
        .await;
    session.ok("the new password and the code the ended challenge did not use");
    api.me(&session.field("token")).await.ok("the new session");
    node.finish().await;
}

/// A node that has not read a password change yet still takes the old
/// password (it cannot know better), but the session it makes carries the
/// credentials' epoch it was made under: a node that has read the change
/// refuses that session within a second, and the lagging node refuses it
/// (and the old password) at once when it reads the configuration, here
/// after a write of its own.
async fn a_session_from_a_stale_node_ends_when_it_reads_the_change(node: Node) {
    let api = Api::new(&node);
    tenants(&node, &[TENANT]).await;
    let ada = join(&node, &api, None, "ada@acme.example", Role::Admin).await;
    let pia = join(&node, &api, Some(&ada), "pia@acme.example", Role::Analyst).await;
    // Reads the configuration when it starts and after its own writes only.
    let lagging = SecondApi::start_with(&node, |settings| {
        settings.config_refresh = Duration::from_secs(3600);
        settings.max_staleness = Duration::from_secs(3600);
    })
    .await;
    let api2 = Api::at(&node, &lagging.url);
    api2.me(&pia.token).await.ok("her session on the lagging node");

    let new = new_password();
    api.call(
        Method::POST,
        "/v1/me/password",
        Some(&pia.token),
        Some(json!({"current_password": pia.password, "new_password": new})),
    )
    .await
    .ok("changing the password");
    refused_everywhere(&[&api, &api2], &pia.token, "the session that changed the password").await;
    let old = api2.login(TENANT, &pia.email, &pia.password).await;
    old.ok("the old password on the node that has not read the change (the test's premise)");
    let stale = old.field("token");
    api2.me(&stale).await.ok("the session on the node that made it");
    refused_everywhere(
        &[&api],
        &stale,
        "a session of the old password on a node that read the change",
    )
    .await;

    api2.call(
        Method::POST,
        "/v1/groups",
        Some(&ada.token),
        Some(json!({"id": "night-shift", "name": "Night shift"})),
    )
    .await
    .ok("a write through the lagging node (it reads the configuration again)");
    api2.me(&stale)
        .await
        .refused(401, "unauthenticated", "the session once its node read the change");
    api2.login(TENANT, &pia.email, &pia.password).await.refused(
        401,
        "invalid_credentials",
        "the old password once the node read the change",
    );
    let fresh = api2.login(TENANT, &pia.email, &new).await;
    fresh.ok("the new password on that node");
    api.me(&fresh.field("token")).await.ok("its session on the other node");
    lagging.stop().await;
    node.finish().await;
}

/// A password hashed at cost 11 (the node's) is hashed again at cost 12
/// when she logs in on a node configured with 12: `vox.config` gets a
/// `UserPasswordSet` of cause "rehash" whose sealed hash opens to a
/// `$2b$12$` hash, and her sessions go on (a rehash is no change). A node
/// still at cost 11 that has read the new hash takes the same password and
/// does not hash it down again.
async fn a_login_rehashes_when_the_configured_cost_was_raised(node: Node) {
    let api = Api::new(&node);
    tenants(&node, &[TENANT]).await;
    let ada = join(&node, &api, None, "ada@acme.example", Role::Admin).await;
    let hashes = password_hashes(&node, &ada.id).await;
    assert_eq!(hashes.len(), 1, "the invitation's hash only: {hashes:?}");
    assert_eq!(hashes[0].0, "invitation");
    assert!(hashes[0].1.starts_with("$2b$11$"), "cost 11 first: {}", hashes[0].1);

    let raised = login::password::MIN_COST + 1;
    let costlier = SecondApi::start_with(&node, |settings| settings.bcrypt_cost = raised).await;
    let api2 = Api::at(&node, &costlier.url);
    let session = api2.login(TENANT, &ada.email, &ada.password).await;
    session.ok("the right password on the node of cost 12");
    api2.me(&session.field("token")).await.ok("its session");
    let patience = Patience::new(CATCH_UP, PAUSE);
    let hashes = loop {
        let hashes = password_hashes(&node, &ada.id).await;
        if hashes.len() > 1 {
            break hashes;
        }
        assert!(
            patience.again().await,
            "no rehash within {CATCH_UP:?} of a login at a higher cost: {hashes:?}"
        );
    };
    assert_eq!(
        hashes.iter().map(|(cause, _)| cause.as_str()).collect::<Vec<_>>(),
        ["invitation", "rehash"]
    );
    assert!(hashes[0].1.starts_with("$2b$11$"), "{}", hashes[0].1);
    assert!(
        hashes[1].1.starts_with("$2b$12$"),
        "rehashed at cost 12: {}",
        hashes[1].1
    );
    api.me(&ada.token).await.ok("a rehash ends no session");

    // The first node reads the cost-12 hash (a write of its own makes it
    // read the configuration before it answers), takes the password and
    // does not hash it down to its own cost 11.
    api.call(
        Method::POST,
        "/v1/groups",
        Some(&ada.token),
        Some(json!({"id": "night-shift", "name": "Night shift"})),
    )
    .await
    .ok("a write through the node of cost 11 (it reads the configuration again)");
    api.login(TENANT, &ada.email, &ada.password)
        .await
        .ok("the same password on the node of cost 11, against the cost-12 hash");
    tokio::time::sleep(AT_ONCE).await;
    let after = password_hashes(&node, &ada.id).await;
    assert_eq!(
        after.iter().map(|(cause, _)| cause.as_str()).collect::<Vec<_>>(),
        ["invitation", "rehash"],
        "no rehash down to cost 11"
    );
    assert!(after[1].1.starts_with("$2b$12$"), "{}", after[1].1);
    costlier.stop().await;
    node.finish().await;
}

// --------------------------------------------- cross-check with Python ----

/// bcrypt and TOTP against independent implementations, both ways: Python's
/// `bcrypt` verifies our hashes and `pyotp` our codes (the RFC 6238 seed
/// at its test times, and a fresh seed at the same times and now); we
/// verify the hashes and codes Python made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_bcrypt_and_totp_with_python() {
    let python = python_with_modules();
    let hasher = login::password::Hasher::new(login::password::MIN_COST).expect("cost 11");
    let long = "x".repeat(72);
    let mut hashes = Vec::new();
    for password in [
        "correct horse battery staple",
        "Zoë's pässwörd, ünïcödé ✓ 42",
        long.as_str(),
    ] {
        let hash = hasher.hash(&auth::Secret::new(password)).await.expect("a hash");
        assert!(hash.starts_with("$2b$11$"), "{hash}");
        hashes.push(json!({"password": password, "hash": hash}));
    }
    let rfc = Seed::from_bytes(b"12345678901234567890".to_vec()).expect("20 bytes");
    assert_eq!(rfc.to_base32().expose(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_eq!(
        base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
        b"12345678901234567890"
    );
    for (time, code8) in RFC_6238 {
        assert_eq!(code_at(&rfc, time), code8[2..], "RFC 6238 at {time}");
    }
    let fresh = Seed::generate();
    let now = unix_now();
    let mut totp = Vec::new();
    for seed in [&rfc, &fresh] {
        for time in RFC_6238.iter().map(|(t, _)| *t).chain([now]) {
            totp.push(json!({"secret_base32": seed.to_base32().expose(), "time": time, "code": code_at(seed, time)}));
        }
    }
    let checks = hashes.len() + totp.len();
    let dir = tempfile::tempdir().expect("a temp dir");
    let (made_here, made_there) = (dir.path().join("rust.json"), dir.path().join("python.json"));
    std::fs::write(
        &made_here,
        serde_json::to_vec(&json!({"hashes": hashes, "totp": totp})).expect("JSON"),
    )
    .expect("write");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/check_people.py");
    let run = std::process::Command::new(&python)
        .arg(script)
        .arg(&made_here)
        .arg(&made_there)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && stdout.lines().any(|l| l == format!("{checks} passed, 0 failed")),
        "Python's bcrypt and pyotp disagree with ours ({}):\n{stdout}{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );

    let python_made: Value = serde_json::from_slice(&std::fs::read(&made_there).expect("Python's file")).expect("JSON");
    let hashes = python_made["hashes"].as_array().expect("hashes");
    assert_eq!(hashes.len(), 3);
    for case in hashes {
        let (password, hash) = (
            case["password"].as_str().expect("password"),
            case["hash"].as_str().expect("hash"),
        );
        assert!(hash.starts_with("$2b$11$"), "Python's hash of cost 11: {hash}");
        let right = hasher
            .verify(&auth::Secret::new(password), Some(hash))
            .await
            .expect("verify");
        assert!(
            right.ok && !right.needs_rehash,
            "Python's hash of {password:?} verifies"
        );
        let wrong = hasher
            .verify(&auth::Secret::new(format!("{password}!")), Some(hash))
            .await
            .expect("verify");
        assert!(!wrong.ok || password.len() >= 72, "a wrong password does not verify");
    }
    let codes = python_made["totp"].as_array().expect("codes");
    assert_eq!(codes.len(), RFC_6238.len() + 1);
    for case in codes {
        let seed = Seed::from_bytes(base32_decode(case["secret_base32"].as_str().expect("secret"))).expect("a seed");
        let (time, code) = (
            case["time"].as_u64().expect("time"),
            case["code"].as_str().expect("code"),
        );
        assert_eq!(code_at(&seed, time), code, "pyotp's code at {time}");
        assert_eq!(login::totp::verify(&seed, code, time), Some(time / STEP_SECS));
    }
}

/// RFC 6238 appendix B, SHA-1: time and 8-digit code (we use the last 6).
const RFC_6238: [(u64, &str); 6] = [
    (59, "94287082"),
    (1_111_111_109, "07081804"),
    (1_111_111_111, "14050471"),
    (1_234_567_890, "89005924"),
    (2_000_000_000, "69279037"),
    (20_000_000_000, "65353130"),
];

/// The interpreter with `bcrypt` and `pyotp` (see [`python_with`]).
fn python_with_modules() -> PathBuf {
    python_with("bcrypt, pyotp", "'bcrypt==5.0.0' 'pyotp==2.9.0'", "")
}

/// The interpreter that can `import` `modules`: `VOX_TEST_PYTHON`, else the
/// virtual environment `deploy/local/test.sh` makes for the fastavro check.
/// Fails (never skips) when they are missing, saying how to install them
/// (`pip install` `packages`, and `also`).
pub(crate) fn python_with(modules: &str, packages: &str, also: &str) -> PathBuf {
    let python = std::env::var_os("VOX_TEST_PYTHON").map_or_else(
        || {
            std::env::var_os("VOX_LOCAL_DIR")
                .map_or_else(|| PathBuf::from("/var/tmp/vox-local"), PathBuf::from)
                .join("python/bin/python")
        },
        PathBuf::from,
    );
    let probe = std::process::Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output();
    let install = format!(
        "`{} -m pip install {packages}`{also} (the venv is made by deploy/local/test.sh, which installs them; \
         VOX_TEST_PYTHON names another interpreter)",
        python.display()
    );
    match probe {
        Ok(out) if out.status.success() => python,
        Ok(out) => {
            panic!(
            "{} cannot import {modules} ({}); install them with {install}. The cross-check fails rather than skips{}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim().lines().last().unwrap_or_default(),
            if std::env::var_os("CI").is_some() { " (CI is set)" } else { "" }
        )
        }
        Err(e) => panic!(
            "no Python at {} ({e}); create the venv with `python3 -m venv {}` and install the modules with {install}",
            python.display(),
            python.parent().and_then(|p| p.parent()).unwrap_or(&python).display()
        ),
    }
}

// ------------------------------------------------------- the happy path ----

/// What the happy path leaves: its people and every secret it saw.
struct Trail {
    admin: Person,
    analyst: Person,
    secrets: Vec<(String, String)>,
    /// The analyst's TOTP seed, raw.
    seed: Vec<u8>,
}

async fn happy_path(node: &Node, api: &Api) -> Trail {
    tenants(node, &[TENANT]).await;
    let mut secrets: Vec<(String, String)> = Vec::new();

    // The operator invites the first admin; she sets a password and logs in.
    let email = "ada@acme.example";
    let (admin_id, invitation) = invite(node, TENANT, email, Role::Admin).await;
    let password = new_password();
    let accepted = accept_when_known(api, &invitation, &password).await;
    accepted.ok("the admin accepts her invitation");
    assert_eq!(accepted.body["user"]["id"], admin_id.as_str());
    assert_eq!(accepted.body["user"]["role"], "admin");
    let login = api.login(TENANT, email, &password).await;
    login.ok("the admin logs in (at once: the node read the password it set)");
    assert_eq!(login.body["status"], "ok");
    let token = login.field("token");
    assert!(token.starts_with("vox_st_"), "{token}");
    let csrf = login.field("csrf_token");
    assert!(!csrf.is_empty() && csrf != token);
    let cookie = login.header("set-cookie").unwrap_or_default();
    assert!(
        cookie.starts_with(&format!(
            "__Host-vox_session={token}; Path=/; Secure; HttpOnly; SameSite=Strict"
        )) && !cookie.to_ascii_lowercase().contains("domain"),
        "the session cookie: {cookie}"
    );
    assert_eq!(login.header("cache-control"), Some("no-store"));
    assert_eq!(login.body["user"]["id"], admin_id.as_str());
    secrets.extend([
        ("the admin's invitation".into(), invitation),
        ("the admin's password".into(), password.clone()),
        ("the admin's session".into(), token.clone()),
        ("the admin's CSRF token".into(), csrf.clone()),
    ]);
    let admin = Person {
        id: admin_id,
        email: email.into(),
        password,
        token,
        csrf,
    };
    let me = api.me(&admin.token).await;
    me.ok("who am I");
    assert_eq!(
        (
            &me.body["email"],
            &me.body["role"],
            &me.body["tenant"],
            &me.body["acting_on_tenant"]
        ),
        (&json!(email), &json!("admin"), &json!(TENANT), &json!(TENANT))
    );
    assert_eq!(me.body["two_factor"], false);
    let permissions = me.body["permissions"].as_array().cloned().unwrap_or_default();
    assert!(permissions.contains(&json!("manage_users")), "{}", me.text);
    assert!(!permissions.contains(&json!("manage_policy")), "{}", me.text);

    // The admin invites an analyst over the API; she accepts and logs in.
    let email = "aino@acme.example";
    let invited = api
        .call(
            Method::POST,
            "/v1/users",
            Some(&admin.token),
            Some(json!({"email": email, "role": "analyst"})),
        )
        .await;
    invited.ok("the admin invites an analyst");
    let analyst_id = invited.field("user_id");
    let invitation = invited.field("invitation_token");
    assert!(invitation.starts_with("vox_inv_"), "{invitation}");
    assert_eq!(user(api, &admin, email).await["status"], "invited", "at once");
    let password = new_password();
    api.accept(&invitation, &password)
        .await
        .ok("the analyst accepts her invitation");
    assert_eq!(user(api, &admin, email).await["status"], "active", "at once");
    let login = api.login(TENANT, email, &password).await;
    login.ok("the analyst logs in");
    let analyst = Person {
        id: analyst_id,
        email: email.into(),
        password,
        token: login.field("token"),
        csrf: login.field("csrf_token"),
    };

    // She enrols an authenticator app; from then on a login takes two steps.
    let mut app = begin_enrolment(api, &analyst.token).await;
    let recovery = confirm_enrolment(api, &analyst.token, &mut app).await;
    assert_two_factor(api, &analyst.token).await;
    let challenge = password_step(api, &analyst).await;
    let second = api
        .second_factor(&challenge, json!({"code": app.next_code().await}))
        .await;
    second.ok("the second step");
    assert_eq!(second.body["status"], "ok");
    let token = second.field("token");
    assert_ne!(token, analyst.token);
    assert!(second
        .header("set-cookie")
        .is_some_and(|c| c.starts_with(&format!("__Host-vox_session={token};"))));
    let me = api.me(&token).await;
    me.ok("the two-step session");
    assert_eq!(me.body["two_factor"], true);

    // Logout ends that session, and only that one.
    let out = api.call(Method::POST, "/v1/logout", Some(&token), None).await;
    out.ok("logout");
    let refused = api.me(&token).await;
    refused.refused(401, "unauthenticated", "a session after logout");
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    api.me(&analyst.token).await.ok("her other session goes on");

    secrets.extend([
        ("the analyst's invitation".into(), invitation),
        ("the analyst's password".into(), analyst.password.clone()),
        ("the analyst's first session".into(), analyst.token.clone()),
        ("the analyst's CSRF token".into(), analyst.csrf.clone()),
        ("the analyst's challenge".into(), challenge),
        ("the analyst's second session".into(), token),
        ("the TOTP secret".into(), app.secret.clone()),
    ]);
    for (i, code) in recovery.iter().enumerate() {
        secrets.push((format!("recovery code {i}"), code.clone()));
        secrets.push((format!("recovery code {i} without dashes"), code.replace('-', "")));
    }
    Trail {
        admin,
        analyst,
        secrets,
        seed: app.seed.as_bytes().to_vec(),
    }
}

// ------------------------------------------------------------ helpers ----

/// A client of one node's people API, trusting the node's CA.
pub(crate) struct Api {
    http: reqwest::Client,
    url: String,
}

/// An answer, read whole.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) text: String,
    pub(crate) body: Value,
}

impl Api {
    pub(crate) fn new(node: &Node) -> Api {
        Api::at(node, &node.api_url)
    }

    pub(crate) fn at(node: &Node, url: &str) -> Api {
        let pem = std::fs::read(&node.ca_cert).expect("the node's CA");
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM certificate"))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client");
        Api { http, url: url.into() }
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url))
    }

    pub(crate) async fn call(&self, method: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = self.request(method, path);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    async fn accept(&self, invitation: &str, password: &str) -> Answer {
        let body = json!({"token": invitation, "password": password});
        self.call(Method::POST, "/v1/invitations/accept", None, Some(body))
            .await
    }

    pub(crate) async fn login(&self, tenant: &str, email: &str, password: &str) -> Answer {
        let body = json!({"tenant": tenant, "email": email, "password": password});
        self.call(Method::POST, "/v1/login", None, Some(body)).await
    }

    async fn support_login(&self, email: &str, password: &str) -> Answer {
        let body = json!({"email": email, "password": password});
        self.call(Method::POST, "/v1/support/login", None, Some(body)).await
    }

    async fn second_factor(&self, challenge: &str, mut factor: Value) -> Answer {
        factor["challenge"] = json!(challenge);
        self.call(Method::POST, "/v1/login/totp", None, Some(factor)).await
    }

    async fn me(&self, token: &str) -> Answer {
        self.call(Method::GET, "/v1/me", Some(token), None).await
    }

    async fn users(&self, token: &str) -> Answer {
        self.call(Method::GET, "/v1/users", Some(token), None).await
    }
}

pub(crate) async fn send(request: RequestBuilder) -> Answer {
    let response = request.send().await.expect("the API answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        text,
        body,
    }
}

impl Answer {
    pub(crate) fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub(crate) fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    /// The `message` of a successful answer.
    fn message_text(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub(crate) fn field(&self, key: &str) -> String {
        self.body[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {}", self.text))
            .to_owned()
    }

    #[track_caller]
    pub(crate) fn ok(&self, what: &str) {
        assert_eq!(self.status, 200, "{what}: {}", self.text);
    }

    /// A refusal: its status and stable code (and no internals).
    #[track_caller]
    pub(crate) fn refused(&self, status: u16, code: &str, what: &str) {
        assert_eq!((self.status, self.code()), (status, code), "{what}: {}", self.text);
        assert!(!self.message().is_empty(), "{what}: a message says what to do");
    }
}

/// A tenant's user with a session.
pub(crate) struct Person {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) password: String,
    pub(crate) token: String,
    pub(crate) csrf: String,
}

/// Waits a little between attempts, until its time is up.
pub(crate) struct Patience {
    until: Instant,
    pause: Duration,
}

impl Patience {
    pub(crate) fn new(within: Duration, pause: Duration) -> Patience {
        Patience {
            until: Instant::now() + within,
            pause,
        }
    }

    /// Pauses and answers true, or answers false when the time is up.
    pub(crate) async fn again(&self) -> bool {
        if Instant::now() >= self.until {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        true
    }
}

/// Creates the tenants once every role of the node has started (and made
/// its topics).
pub(crate) async fn tenants(node: &Node, ids: &[&str]) {
    node.wait_ready().await;
    for id in ids {
        directory::commands::create_tenant(
            &node.log,
            &node.namespace,
            &helpers::tenant(id),
            id,
            &helpers::region("eu"),
        )
        .await
        .expect("a tenant");
    }
}

pub(crate) fn operator(node: &Node) -> Manager<'_> {
    Manager {
        log: &node.log,
        namespace: &node.namespace,
        region: "eu",
        actor: Actor::operator(),
    }
}

/// The operator invites `email`: the user id and the invitation token.
pub(crate) async fn invite(node: &Node, scope: &str, email: &str, role: Role) -> (String, String) {
    let (invited, token) = operator(node)
        .invite(scope, email, role)
        .await
        .expect("the operator invites");
    (invited.user_id.to_string(), token.expose().to_owned())
}

/// A strong password no other test uses.
pub(crate) fn new_password() -> String {
    format!("amber-{}-quokka", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

fn new_token(kind: login::token::TokenKind) -> String {
    login::token::new_token(kind).expose().to_owned()
}

/// The token with one character of its random part changed.
fn tamper(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let i = "vox_st_".len() + 10;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// Every record of `vox.audit` now.
pub(crate) async fn audit_records(node: &Node) -> Vec<AuditRecord> {
    node.log
        .read_all(&node.topic(Topic::Audit))
        .await
        .expect("the audit topic")
        .iter()
        .map(|r| schemas::decode(&r.payload).expect("an audit record"))
        .collect()
}

/// The password hashes `vox.config` holds for a user of acme, in order:
/// each one's cause and the bcrypt hash, opened with the node's key.
async fn password_hashes(node: &Node, user_id: &str) -> Vec<(String, String)> {
    let config = node
        .log
        .read_all(&node.topic(Topic::Config))
        .await
        .expect("the configuration");
    config
        .iter()
        .filter_map(
            |record| match ConfigEvent::decode(&record.payload).expect("a configuration event") {
                ConfigEvent::UserPasswordSet(set) if set.user_id == user_id => {
                    assert_eq!(set.tenant_id, TENANT);
                    let hash = node
                        .kek
                        .open_bytes(
                            directory::people::PASSWORD_PURPOSE,
                            &[TENANT, user_id],
                            &set.sealed_hash,
                        )
                        .expect("sealed with the node's key for this user");
                    Some((
                        set.cause,
                        String::from_utf8(hash.to_vec()).expect("a bcrypt hash is ASCII"),
                    ))
                }
                _ => None,
            },
        )
        .collect()
}

async fn config_len(node: &Node) -> usize {
    node.log
        .read_all(&node.topic(Topic::Config))
        .await
        .expect("the configuration")
        .len()
}

/// Accepts an invitation the operator just wrote, once the node knows it.
pub(crate) async fn accept_when_known(api: &Api, invitation: &str, password: &str) -> Answer {
    let patience = Patience::new(CATCH_UP, THROTTLED_PAUSE);
    loop {
        let answer = api.accept(invitation, password).await;
        if answer.code() != "invalid_invitation" || !patience.again().await {
            return answer;
        }
    }
}

/// The operator invites `email` to acme; the person accepts and logs in.
/// With an `admin`, the wait for the node to read the invitation goes
/// through the (unthrottled) user list.
pub(crate) async fn join(node: &Node, api: &Api, admin: Option<&Person>, email: &str, role: Role) -> Person {
    let (id, invitation) = invite(node, TENANT, email, role).await;
    if let Some(admin) = admin {
        wait_user(api, admin, email, "invited").await;
    }
    let password = new_password();
    accept_when_known(api, &invitation, &password)
        .await
        .ok("accepting the invitation");
    // The node that set the password knows it at once.
    if let Some(admin) = admin {
        assert_eq!(user(api, admin, email).await["status"], "active", "at once");
    }
    let session = api.login(TENANT, email, &password).await;
    session.ok("the first login");
    Person {
        id,
        email: email.into(),
        password,
        token: session.field("token"),
        csrf: session.field("csrf_token"),
    }
}

/// The same person with a new session.
async fn relogin(api: &Api, person: &Person) -> Person {
    let session = api.login(TENANT, &person.email, &person.password).await;
    session.ok("logging in again");
    Person {
        id: person.id.clone(),
        email: person.email.clone(),
        password: person.password.clone(),
        token: session.field("token"),
        csrf: session.field("csrf_token"),
    }
}

/// `email` as the admin's user list shows it now.
async fn user(api: &Api, admin: &Person, email: &str) -> Value {
    let users = api.users(&admin.token).await;
    users.ok("listing users");
    users.body["users"]
        .as_array()
        .and_then(|all| all.iter().find(|u| u["email"] == email))
        .cloned()
        .unwrap_or_else(|| panic!("{email} is not listed: {}", users.text))
}

/// Waits until the admin's user list shows `email` with `status`.
async fn wait_user(api: &Api, admin: &Person, email: &str, status: &str) {
    let patience = Patience::new(CATCH_UP, PAUSE);
    loop {
        let users = api.users(&admin.token).await;
        users.ok("listing users");
        let listed = users.body["users"]
            .as_array()
            .is_some_and(|all| all.iter().any(|u| u["email"] == email && u["status"] == status));
        if listed {
            return;
        }
        assert!(
            patience.again().await,
            "{email} is not {status} after {CATCH_UP:?}: {}",
            users.text
        );
    }
}

fn emails(users: &Answer) -> BTreeSet<String> {
    users.body["users"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["email"].as_str().map(str::to_owned))
        .collect()
}

/// Polls each API until it refuses `token` (401 `unauthenticated`); every
/// one must within [`AT_ONCE`] of the call.
async fn refused_everywhere(apis: &[&Api], token: &str, what: &str) {
    let started = Instant::now();
    for api in apis {
        loop {
            let answer = api.me(token).await;
            if answer.status == 401 {
                answer.refused(401, "unauthenticated", what);
                break;
            }
            answer.ok(what);
            assert!(
                started.elapsed() < AT_ONCE,
                "{what}: still accepted by {} after {:?}",
                api.url,
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn create_token(api: &Api, person: &Person, name: &str) -> String {
    let made = api
        .call(
            Method::POST,
            "/v1/me/tokens",
            Some(&person.token),
            Some(json!({"name": name})),
        )
        .await;
    made.ok("making a personal token");
    assert_eq!(made.body["name"], name);
    assert!(made.message_text().contains("shown only now"), "{}", made.text);
    made.field("token")
}

/// The operator invites `email` to acme as an analyst, who joins and
/// enrols TOTP: the person, the app and the recovery codes.
async fn enrolled(node: &Node, api: &Api, email: &str) -> (Person, Authenticator, Vec<String>) {
    let person = join(node, api, None, email, Role::Analyst).await;
    let mut app = begin_enrolment(api, &person.token).await;
    let recovery = confirm_enrolment(api, &person.token, &mut app).await;
    assert_two_factor(api, &person.token).await;
    (person, app, recovery)
}

/// The password step of someone who has enrolled: the challenge.
async fn password_step(api: &Api, person: &Person) -> String {
    let answer = api.login(TENANT, &person.email, &person.password).await;
    answer.ok("the password step");
    assert_eq!(answer.body["status"], "totp_required", "{}", answer.text);
    assert!(answer.body.get("token").is_none(), "no session before the code");
    assert!(answer.header("set-cookie").is_none(), "no cookie before the code");
    answer.field("challenge")
}

/// The node that confirmed an enrolment knows it at once.
async fn assert_two_factor(api: &Api, token: &str) {
    let me = api.me(token).await;
    me.ok("who am I");
    assert_eq!(me.body["two_factor"], true, "the enrolment holds at once: {}", me.text);
}

/// An authenticator app: the seed from the enrolment, and the last step
/// it gave a code for (the server takes each step once per user).
struct Authenticator {
    seed: Seed,
    secret: String,
    last_step: u64,
}

impl Authenticator {
    fn new(secret: &str) -> Authenticator {
        Authenticator {
            seed: Seed::from_bytes(base32_decode(secret)).expect("a seed of at least 16 bytes"),
            secret: secret.into(),
            last_step: 0,
        }
    }

    /// A code of a step not used yet that the server accepts now (the
    /// step before, this one or the next), waiting for a new step only
    /// when all three are used.
    async fn next_code(&mut self) -> String {
        loop {
            let now = unix_now();
            let current = now / STEP_SECS;
            // The step before only early in this one, or it would be stale on arrival.
            let earliest = if now % STEP_SECS < STEP_SECS - 5 {
                current - 1
            } else {
                current
            };
            let step = (self.last_step + 1).max(earliest);
            if step <= current + 1 {
                self.last_step = step;
                return code_at(&self.seed, step * STEP_SECS);
            }
            let next = (current + 1) * STEP_SECS;
            tokio::time::sleep(Duration::from_secs(next - now) + Duration::from_millis(100)).await;
        }
    }

    /// The code last given (a replay).
    fn last_code(&self) -> String {
        code_at(&self.seed, self.last_step * STEP_SECS)
    }

    /// A code valid in no step near now.
    fn wrong_code(&self) -> String {
        let current = unix_now() / STEP_SECS;
        let valid: Vec<String> = (current - 2..=current + 2)
            .map(|s| code_at(&self.seed, s * STEP_SECS))
            .collect();
        (0..20u32)
            .map(|n| format!("{:06}", (n * 104_729 + 13) % 1_000_000))
            .find(|c| !valid.contains(c))
            .expect("a code valid in no step")
    }
}

/// `POST /v1/me/totp`: checks the answer, returns the app.
async fn begin_enrolment(api: &Api, token: &str) -> Authenticator {
    let begun = api.call(Method::POST, "/v1/me/totp", Some(token), None).await;
    begun.ok("beginning the enrolment");
    let uri = begun.field("otpauth_uri");
    assert!(uri.starts_with("otpauth://totp/Vox:"), "{uri}");
    assert!(uri.ends_with("&issuer=Vox&algorithm=SHA1&digits=6&period=30"), "{uri}");
    let svg = begun.field("qr_svg");
    assert!(
        svg.starts_with("<?xml") || svg.starts_with("<svg"),
        "an SVG: {}",
        svg.chars().take(60).collect::<String>()
    );
    let secret = uri
        .split("secret=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .expect("the URI carries the secret");
    assert_eq!(secret, begun.field("secret"), "the URI and the answer agree");
    Authenticator::new(secret)
}

/// `POST /v1/me/totp/confirm` with a current code: the recovery codes.
async fn confirm_enrolment(api: &Api, token: &str, app: &mut Authenticator) -> Vec<String> {
    let code = app.next_code().await;
    let confirmed = api
        .call(
            Method::POST,
            "/v1/me/totp/confirm",
            Some(token),
            Some(json!({"code": code})),
        )
        .await;
    confirmed.ok("confirming the enrolment");
    let codes: Vec<String> = confirmed.body["recovery_codes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    assert_eq!(codes.len(), 10, "{}", confirmed.text);
    assert_eq!(codes.iter().collect::<BTreeSet<_>>().len(), 10, "distinct codes");
    codes
}

fn unix_now() -> u64 {
    u64::try_from(schemas::clock::now_micros() / 1_000_000).expect("after 1970")
}

/// RFC 4648 base32 (upper case, padding optional), as authenticator apps read it.
fn base32_decode(text: &str) -> Vec<u8> {
    let (mut bits, mut held, mut out) = (0u32, 0u32, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("{c:?} is not base32 ({text})"),
        };
        bits = (bits << 5) | u32::from(value);
        held += 5;
        if held >= 8 {
            held -= 8;
            out.push(u8::try_from(bits >> held).expect("8 bits"));
            bits &= (1 << held) - 1;
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
