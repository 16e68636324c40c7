//! The analyst API on a whole node, on both backends
//! (`analyst::embedded::…`, `analyst::kafka_postgres::…`): feedback pushed
//! by a client, processed and projected, then read by people whose grants
//! differ — a store manager with a tag-filtered grant, an HR group with a
//! grant on the restricted tag `hr`, an analyst who may export one store,
//! the owner, and the owner of another tenant. Each sees exactly what the
//! rule (`access::visible`) gives, in lists, single reads, counts, tags and
//! exports; grant changes hold on another node within a second; pages stay
//! whole while items arrive; bad queries are refused naming what was wrong.
//! The exhaustive comparison with the rule over random worlds is the
//! store's oracle test (`crates/store/tests/it/oracle.rs`).

use std::collections::BTreeSet;
use std::time::Duration;

use access::{Access, Grant, Item, TagRef};
use directory::Role;
use reqwest::Method;
use schemas::AuditRecord;
use serde_json::{json, Value};

use crate::helpers::{Backend, Node, SecondApi};
use crate::people::{audit_records, invite, join, new_password, tenants, Answer, Api, Patience, Person, PAUSE, TENANT};
use crate::setup_tenant;

end_to_end!(
    analysts_see_only_what_their_grants_allow,
    grant_changes_hold_on_every_node_within_a_second,
    pages_filters_and_aggregates,
    bad_queries_are_refused_naming_the_parameter,
);

/// The items: (external id, collection, occurred_at, tags, nps, text, language).
type Spec = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<i64>,
    &'static str,
    &'static str,
);

const ITEMS: [Spec; 8] = [
    (
        "s1",
        "surveys",
        "2026-01-10T10:00:00Z",
        &[("store", "helsinki")],
        Some(9),
        "Great service at the counter",
        "en",
    ),
    (
        "s2",
        "surveys",
        "2026-01-20T10:00:00Z",
        &[("store", "helsinki")],
        Some(3),
        "The queue was far too long",
        "en",
    ),
    (
        "s3",
        "surveys",
        "2026-02-05T10:00:00Z",
        &[("store", "espoo")],
        Some(10),
        "Friendly staff, quick checkout",
        "en",
    ),
    (
        "s4",
        "surveys",
        "2026-02-10T10:00:00Z",
        &[("store", "helsinki"), ("hr", "complaint")],
        Some(5),
        "My manager shouts at the team",
        "en",
    ),
    (
        "s5",
        "surveys",
        "2026-02-15T10:00:00Z",
        &[],
        Some(7),
        "Fine I guess",
        "en",
    ),
    (
        "t1",
        "tickets",
        "2026-02-20T10:00:00Z",
        &[("hr", "harassment")],
        None,
        "Harassment report from the warehouse",
        "en",
    ),
    (
        "t2",
        "tickets",
        "2026-03-01T10:00:00Z",
        &[("store", "espoo")],
        None,
        "The deliveries were late again",
        "en",
    ),
    (
        "t3",
        "tickets",
        "2026-03-02T10:00:00Z",
        &[("store", "helsinki")],
        None,
        "Toimitukset myöhästyivät taas",
        "fi",
    ),
];

fn item_json(spec: &Spec) -> Value {
    let (id, collection, at, tags, nps, text, language) = spec;
    let tags: Vec<Value> = tags.iter().map(|(n, v)| json!({"name": n, "value": v})).collect();
    let mut item = json!({"external_id": id, "collection": collection, "occurred_at": at, "channel": "survey",
        "text": text, "language": language, "tags": tags});
    if let Some(nps) = nps {
        item["metrics"] = json!([{"kind": "nps", "value": nps, "scale": [0, 10]}]);
    }
    item
}

/// A tenant's people and their grants, made through the API by the owner.
struct World {
    api: Api,
    owner: Person,
    sanna: Person,
    henna: Person,
    eero: Person,
    gary: Person,
    sanna_grant: String,
}

async fn world(node: &Node) -> World {
    let acme = setup_tenant(node, TENANT, "eu", &["surveys", "tickets"]).await;
    tenants(node, &["globex"]).await;
    vox::admin::create_collection(
        &node.log,
        &node.namespace,
        &crate::helpers::tenant("globex"),
        &crate::helpers::collection("surveys"),
        "surveys",
    )
    .await
    .expect("globex's collection");
    let globex = vox::admin::create_client(
        &node.log,
        &node.namespace,
        &node.kek,
        &crate::helpers::tenant("globex"),
        "crm",
        &[],
    )
    .await
    .expect("globex's client");
    let items: Vec<Value> = ITEMS.iter().map(item_json).collect();
    let summary = vox::push::push(&node.options(&acme.client_id, &acme.secret), &items, &mut Vec::new())
        .await
        .expect("push acme");
    assert_eq!(summary.accepted, ITEMS.len());
    let g1 = json!({"external_id": "g1", "collection": "surveys", "occurred_at": "2026-01-15T10:00:00Z",
        "channel": "survey", "text": "Globex feedback", "tags": [{"name": "store", "value": "helsinki"}]});
    vox::push::push(
        &node.options(&globex.client_id, globex.secret.expose()),
        &[g1],
        &mut Vec::new(),
    )
    .await
    .expect("push globex");
    node.wait_projected(ITEMS.len() + 1).await;

    let api = Api::new(node);
    let owner = join(node, &api, None, "olli@acme.example", Role::Owner).await;
    let sanna = join(node, &api, Some(&owner), "sanna@acme.example", Role::Analyst).await;
    let henna = join(node, &api, Some(&owner), "henna@acme.example", Role::Viewer).await;
    let eero = join(node, &api, Some(&owner), "eero@acme.example", Role::Analyst).await;
    let gary = join_other(node, &api, "globex", "gary@globex.example", Role::Owner).await;

    let post = |path: &'static str, body: Value| {
        let api = &api;
        let token = owner.token.clone();
        async move { api.call(Method::POST, path, Some(&token), Some(body)).await }
    };
    let grant = post(
        "/v1/grants",
        json!({"principal": {"user": sanna.id}, "collection": "surveys", "level": "read", "tag_filter": ["store:helsinki"]}),
    )
    .await;
    assert!(grant.status < 300, "granting: {}", grant.text);
    let sanna_grant = grant.field("grant_id");
    let eero_grant = post(
        "/v1/grants",
        json!({"principal": {"user": eero.id}, "collection": null, "level": "export", "tag_filter": ["store:espoo"]}),
    )
    .await;
    assert!(eero_grant.status < 300, "{}", eero_grant.text);
    post("/v1/groups", json!({"id": "hr", "name": "HR"}))
        .await
        .ok("the hr group");
    api.call(
        Method::PUT,
        &format!("/v1/groups/hr/members/{}", henna.id),
        Some(&owner.token),
        None,
    )
    .await
    .ok("henna joins hr");
    let hr = post(
        "/v1/grants",
        json!({"principal": {"group": "hr"}, "collection": null, "level": "read", "tag_filter": ["hr"]}),
    )
    .await;
    assert!(hr.status < 300, "{}", hr.text);
    api.call(
        Method::PUT,
        "/v1/restricted-tags",
        Some(&owner.token),
        Some(json!({"restricted_tags": ["hr"]})),
    )
    .await
    .ok("restricting hr");
    World {
        api,
        owner,
        sanna,
        henna,
        eero,
        gary,
        sanna_grant,
    }
}

/// A user of another tenant with a session.
async fn join_other(node: &Node, api: &Api, tenant: &str, email: &str, role: Role) -> Person {
    let (id, invitation) = invite(node, tenant, email, role).await;
    let password = new_password();
    crate::people::accept_when_known(api, &invitation, &password)
        .await
        .ok("accepting");
    let session = api.login(tenant, email, &password).await;
    session.ok("logging in");
    Person {
        id,
        email: email.into(),
        password,
        token: session.field("token"),
        csrf: session.field("csrf_token"),
    }
}

/// What the rule says `access` sees of the node's items (by external id).
async fn expected(node: &Node, access: &Access) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for tenant in [TENANT, "globex"] {
        for row in node.rows(tenant).await {
            let tags: Vec<(String, String)> = row
                .tags
                .as_array()
                .expect("the test made it so")
                .iter()
                .map(|t| {
                    (
                        t["name"].as_str().expect("the test made it so").to_owned(),
                        t["value"].as_str().expect("the test made it so").to_owned(),
                    )
                })
                .collect();
            let item = Item {
                tenant: &row.tenant_id,
                collection: &row.collection,
                tags: &tags,
            };
            if access::visible(access, &item) {
                seen.insert(row.external_id.clone());
            }
        }
    }
    seen
}

fn grant(collection: Option<&str>, export: bool, tags: &[&str]) -> Grant {
    Grant {
        collection: collection.map(str::to_owned),
        export,
        tags: tags.iter().map(|t| TagRef::parse(t).expect("a tag")).collect(),
    }
}

fn acme(grants: Vec<Grant>) -> Access {
    Access {
        tenant: TENANT.into(),
        grants,
        restricted: vec!["hr".into()],
    }
}

async fn get(api: &Api, person: &Person, path: &str) -> Answer {
    api.call(Method::GET, path, Some(&person.token), None).await
}

fn ids(answer: &Answer) -> BTreeSet<String> {
    answer.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {}", answer.text))
        .iter()
        .map(|i| i["external_id"].as_str().expect("the test made it so").to_owned())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Every item the list gives `person`, page by page.
async fn list_all(api: &Api, person: &Person, filter: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/feedback?limit=2{filter}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get(api, person, &path).await;
        page.ok("a page");
        items.extend(
            page.body["items"]
                .as_array()
                .expect("the test made it so")
                .iter()
                .cloned(),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

async fn event_id(node: &Node, tenant: &str, external_id: &str) -> String {
    node.rows(tenant)
        .await
        .into_iter()
        .find(|r| r.external_id == external_id)
        .map(|r| r.event_id)
        .expect("the item")
}

/// Each person sees exactly what the rule gives, whatever the endpoint.
async fn analysts_see_only_what_their_grants_allow(node: Node) {
    let w = world(&node).await;
    let api = &w.api;
    let cases = [
        (
            &w.owner,
            acme(vec![grant(None, true, &[])]),
            set(&["s1", "s2", "s3", "s5", "t2", "t3"]),
        ),
        (
            &w.sanna,
            acme(vec![grant(Some("surveys"), false, &["store:helsinki"])]),
            set(&["s1", "s2"]),
        ),
        (&w.henna, acme(vec![grant(None, false, &["hr"])]), set(&["s4", "t1"])),
        (
            &w.eero,
            acme(vec![grant(None, true, &["store:espoo"])]),
            set(&["s3", "t2"]),
        ),
        (
            &w.gary,
            Access {
                tenant: "globex".into(),
                grants: vec![grant(None, true, &[])],
                restricted: vec![],
            },
            set(&["g1"]),
        ),
    ];
    for (person, access, hand) in &cases {
        let rule = expected(&node, access).await;
        assert_eq!(
            &rule, hand,
            "the rule and the README example agree for {}",
            person.email
        );
        let listed: BTreeSet<String> = list_all(api, person, "")
            .await
            .iter()
            .map(|i| i["external_id"].as_str().expect("the test made it so").to_owned())
            .collect();
        assert_eq!(listed, rule, "{} lists", person.email);
        let counted = get(api, person, "/v1/aggregates").await;
        counted.ok("an aggregate");
        assert_eq!(
            counted.body["groups"][0]["items"],
            rule.len(),
            "{} counts: {}",
            person.email,
            counted.text
        );
        // Single reads: the visible ones, and 404 alike for hidden and absent.
        for (id, ..) in ITEMS {
            let event = event_id(&node, TENANT, id).await;
            let one = get(api, person, &format!("/v1/feedback/{event}")).await;
            if rule.contains(id) {
                one.ok("a visible item");
                assert_eq!(one.body["external_id"], id);
            } else {
                one.refused(404, "not_found", "a hidden item");
                let absent = get(api, person, "/v1/feedback/00000000-0000-5000-8000-000000000000").await;
                assert_eq!(absent.status, 404);
                assert_eq!(
                    one.message().replace(&event, "ID"),
                    absent.message().replace("00000000-0000-5000-8000-000000000000", "ID"),
                    "hidden and absent answer alike"
                );
            }
        }
    }
    // Tags: only those on visible items; a restricted name only to its holders.
    let tags = get(api, &w.sanna, "/v1/tags").await;
    tags.ok("tags");
    let mut on_visible = std::collections::BTreeMap::<(String, String), u64>::new();
    for row in node
        .rows(TENANT)
        .await
        .iter()
        .filter(|r| ["s1", "s2"].contains(&r.external_id.as_str()))
    {
        for t in row.tags.as_array().expect("the test made it so") {
            let key = (
                t["name"].as_str().expect("the test made it so").to_owned(),
                t["value"].as_str().expect("the test made it so").to_owned(),
            );
            *on_visible.entry(key).or_default() += 1;
        }
    }
    let expected: Vec<Value> = on_visible
        .iter()
        .map(|((name, value), items)| json!({"name": name, "value": value, "items": items}))
        .collect();
    assert_eq!(
        tags.body["tags"],
        json!(expected),
        "the tags of s1 and s2 (client and built-in)"
    );
    assert!(
        expected.contains(&json!({"name": "store", "value": "helsinki", "items": 2})),
        "{expected:?}"
    );
    let owner_tags = get(api, &w.owner, "/v1/tags").await;
    assert!(
        !owner_tags.text.contains("\"hr\""),
        "no hint of hidden items: {}",
        owner_tags.text
    );

    // Export: the analyst role and a grant of level export.
    let csv = api
        .request(Method::GET, "/v1/export?format=csv")
        .bearer_auth(&w.eero.token)
        .send()
        .await
        .expect("export");
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let body = csv.text().await.expect("csv");
    let lines: Vec<&str> = body.lines().collect();
    assert!(
        lines[0].starts_with("event_id,collection,external_id,channel,occurred_at"),
        "{body}"
    );
    assert_eq!(lines.len(), 3, "a header and s3, t2: {body}");
    assert!(
        lines[1].contains(",t2,") && lines[2].contains(",s3,"),
        "newest first: {body}"
    );
    let ndjson = api
        .request(Method::GET, "/v1/export?format=ndjson&collection=tickets")
        .bearer_auth(&w.owner.token)
        .send()
        .await
        .expect("export");
    let rows: Vec<Value> = ndjson
        .text()
        .await
        .expect("ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let exported: BTreeSet<String> = rows
        .iter()
        .map(|r| r["external_id"].as_str().expect("the test made it so").to_owned())
        .collect();
    assert_eq!(exported, set(&["t2", "t3"]));
    get(api, &w.sanna, "/v1/export?format=csv").await.refused(
        403,
        "permission_denied",
        "a grant of level read does not export",
    );
    get(api, &w.henna, "/v1/export?format=csv")
        .await
        .refused(403, "permission_denied", "a viewer does not export");
    let anonymous = api.call(Method::GET, "/v1/feedback", None, None).await;
    anonymous.refused(401, "unauthenticated", "no session");

    // On record: who, the filter, how many; never the content.
    let records = audit_records(&node).await;
    let listed = records
        .iter()
        .find(|r| r.action == "feedback.listed" && r.actor_id == w.sanna.id)
        .expect("sanna's list is on record");
    assert_eq!(listed.tenant_id.as_deref(), Some(TENANT));
    assert_eq!(listed.details["returned"], "2");
    let exports: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.action == "feedback.exported" && r.actor_id == w.eero.id)
        .collect();
    assert_eq!(exports.len(), 2, "started and finished: {exports:?}");
    assert_eq!(exports[1].details["returned"], "2");
    assert_eq!(exports[1].details["complete"], "true");
    for r in &records {
        let text = format!("{r:?}");
        for (.., content, _) in ITEMS {
            assert!(!text.contains(content), "feedback text in an audit record: {text}");
        }
    }
    node.finish().await;
}

/// Revoking a grant, leaving a group and lifting a restriction hold on a
/// node that did not make the change within a second.
async fn grant_changes_hold_on_every_node_within_a_second(node: Node) {
    let w = world(&node).await;
    let second = SecondApi::start(&node).await;
    let other = Api::at(&node, &second.url);
    let within = |what: &'static str| (what, Patience::new(Duration::from_secs(1), PAUSE));
    async fn until(api: &Api, person: &Person, expected: BTreeSet<String>, (what, patience): (&str, Patience)) {
        loop {
            let page = get(api, person, "/v1/feedback").await;
            page.ok(what);
            if ids(&page) == expected {
                return;
            }
            assert!(patience.again().await, "{what}: still {:?}", ids(&page));
        }
    }
    until(
        &other,
        &w.sanna,
        set(&["s1", "s2"]),
        ("before", Patience::new(Duration::from_secs(5), PAUSE)),
    )
    .await;
    w.api
        .call(
            Method::DELETE,
            &format!("/v1/grants/{}", w.sanna_grant),
            Some(&w.owner.token),
            None,
        )
        .await
        .ok("revoking");
    until(&other, &w.sanna, set(&[]), within("a revoked grant")).await;

    until(
        &other,
        &w.henna,
        set(&["s4", "t1"]),
        ("before", Patience::new(Duration::from_secs(5), PAUSE)),
    )
    .await;
    w.api
        .call(
            Method::DELETE,
            &format!("/v1/groups/hr/members/{}", w.henna.id),
            Some(&w.owner.token),
            None,
        )
        .await
        .ok("leaving hr");
    until(&other, &w.henna, set(&[]), within("a member who left the group")).await;

    w.api
        .call(
            Method::PUT,
            "/v1/restricted-tags",
            Some(&w.owner.token),
            Some(json!({"restricted_tags": []})),
        )
        .await
        .ok("lifting the restriction");
    until(
        &other,
        &w.owner,
        set(&["s1", "s2", "s3", "s4", "s5", "t1", "t2", "t3"]),
        within("a lifted restriction"),
    )
    .await;
    second.stop().await;
    node.finish().await;
}

/// Pages stay whole while items arrive; filters, text search and
/// aggregates give what the data says.
async fn pages_filters_and_aggregates(node: Node) {
    let w = world(&node).await;
    let api = &w.api;
    // Page by page while a newer and an older item arrive.
    let first = get(api, &w.owner, "/v1/feedback?limit=2").await;
    first.ok("the first page");
    assert_eq!(ids(&first), set(&["t2", "t3"]), "newest first");
    let acme_client = vox::admin::create_client(
        &node.log,
        &node.namespace,
        &node.kek,
        &crate::helpers::tenant(TENANT),
        "late",
        &[],
    )
    .await
    .expect("a client");
    let late = [
        json!({"external_id": "n1", "collection": "surveys", "occurred_at": "2026-04-01T10:00:00Z", "channel": "survey", "text": "newest"}),
        json!({"external_id": "n0", "collection": "surveys", "occurred_at": "2025-12-01T10:00:00Z", "channel": "survey", "text": "oldest"}),
    ];
    vox::push::push(
        &node.options(&acme_client.client_id, acme_client.secret.expose()),
        &late,
        &mut Vec::new(),
    )
    .await
    .expect("push");
    node.wait_projected(ITEMS.len() + 1 + 2).await;
    let mut seen: Vec<String> = ids(&first).into_iter().collect();
    let mut cursor = first.body["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page = get(api, &w.owner, &format!("/v1/feedback?limit=2&cursor={c}")).await;
        page.ok("a next page");
        seen.extend(ids(&page));
        cursor = page.body["next_cursor"].as_str().map(str::to_owned);
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no item twice: {seen:?}");
    assert_eq!(
        unique,
        set(&["t3", "t2", "s5", "s3", "s2", "s1", "n0"]),
        "every item older than the first page, once"
    );

    // Filters.
    let cases = [
        ("&tag=store:helsinki", set(&["s1", "s2", "t3"])),
        (
            "&tag=store:helsinki&tag=store:espoo&tag_match=any",
            set(&["s1", "s2", "s3", "t2", "t3"]),
        ),
        ("&collection=tickets", set(&["t2", "t3"])),
        ("&metric=nps:0..6", set(&["s2"])),
        ("&metric=nps:9..10&collection=surveys", set(&["s1", "s3"])),
        ("&from=2026-02-01&until=2026-03-01", set(&["s3", "s5"])),
        ("&language=fi", set(&["t3"])),
        ("&q=deliveries", set(&["t2"])),
        ("&q=delivery", set(&["t2"])),
        ("&q=%22quick%20checkout%22", set(&["s3"])),
        ("&q=toimitukset", set(&["t3"])),
    ];
    for (filter, expected) in cases {
        let listed: BTreeSet<String> = list_all(api, &w.owner, filter)
            .await
            .iter()
            .map(|i| i["external_id"].as_str().expect("the test made it so").to_owned())
            .collect();
        assert_eq!(listed, expected, "filter {filter}");
    }

    // NPS by month (the owner: s4 is hidden), in the database.
    let by_month = get(api, &w.owner, "/v1/aggregates?group_by=month&collection=surveys").await;
    by_month.ok("by month");
    let groups = by_month.body["groups"].as_array().expect("the test made it so");
    let keys: Vec<&str> = groups
        .iter()
        .map(|g| g["key"].as_str().expect("the test made it so"))
        .collect();
    assert_eq!(keys, ["2025-12", "2026-01", "2026-02", "2026-04"]);
    let january = &groups[1];
    assert_eq!(january["items"], 2);
    assert_eq!(
        january["nps"],
        json!({"score": 0.0, "responses": 2, "promoters": 1, "passives": 0, "detractors": 1})
    );
    let february = &groups[2];
    assert_eq!(february["nps"]["score"], 50.0, "s3 promoter, s5 passive: {february}");
    let by_tag = get(api, &w.owner, "/v1/aggregates?group_by=tag:store").await;
    by_tag.ok("by tag");
    assert_eq!(
        by_tag.body["groups"]
            .as_array()
            .expect("the test made it so")
            .iter()
            .map(|g| (g["key"].clone(), g["items"].clone()))
            .collect::<Vec<_>>(),
        vec![(json!("espoo"), json!(2)), (json!("helsinki"), json!(3))]
    );
    let by_week = get(
        api,
        &w.owner,
        "/v1/aggregates?group_by=week&from=2026-01-01&until=2026-02-01",
    )
    .await;
    by_week.ok("by week");
    let weeks: Vec<&str> = by_week.body["groups"]
        .as_array()
        .expect("the test made it so")
        .iter()
        .map(|g| g["key"].as_str().expect("the test made it so"))
        .collect();
    assert_eq!(weeks, ["2026-01-05", "2026-01-19"], "weeks named by their Monday");
    node.finish().await;
}

/// Malformed parameters, foreign or tampered cursors, reversed ranges,
/// oversized pages and hostile text: 400 naming the parameter, nothing
/// else (no injection, no error of the database).
async fn bad_queries_are_refused_naming_the_parameter(node: Node) {
    let w = world(&node).await;
    let api = &w.api;
    let first = get(api, &w.owner, "/v1/feedback?limit=1&collection=surveys").await;
    first.ok("a page");
    let cursor = first.field("next_cursor");
    let refusals = [
        ("/v1/feedback?colour=red".to_owned(), "unknown parameter 'colour'"),
        ("/v1/feedback?limit=1000".to_owned(), "limit:"),
        ("/v1/feedback?from=2026-03-01&until=2026-02-01".to_owned(), "until:"),
        ("/v1/feedback?from=1990-01-01&until=2026-02-01".to_owned(), "until:"),
        ("/v1/feedback?metric=nps:x..y".to_owned(), "metric:"),
        ("/v1/feedback?tag=%3Ax".to_owned(), "tag:"),
        (
            format!("/v1/feedback?limit=1&collection=tickets&cursor={cursor}"),
            "cursor:",
        ),
        (
            format!("/v1/feedback?limit=1&collection=surveys&cursor={}x", cursor),
            "cursor:",
        ),
        (format!("/v1/feedback?q={}", "a".repeat(600)), "q:"),
        ("/v1/feedback/not-an-id".to_owned(), "event_id:"),
        ("/v1/aggregates?group_by=year".to_owned(), "group_by:"),
        ("/v1/export".to_owned(), "format:"),
        ("/v1/tags?q=x".to_owned(), "unknown parameter 'q'"),
    ];
    for (path, expected) in &refusals {
        let answer = get(api, &w.owner, path).await;
        answer.refused(400, "invalid_request", path);
        assert!(
            answer.message().starts_with(expected) || answer.message().contains(expected),
            "{path}: {}",
            answer.message()
        );
    }
    // Another user's cursor of the same query.
    let theirs = get(
        api,
        &w.sanna,
        &format!("/v1/feedback?limit=1&collection=surveys&cursor={cursor}"),
    )
    .await;
    theirs.refused(400, "invalid_request", "another user's cursor");
    // Hostile text in every text parameter: answered, never an injection.
    let hostile = [
        "'; DROP TABLE feedback; --",
        "\" OR 1=1 --",
        "NEAR(a b) * AND OR NOT \"",
        "%_\\'",
        "' UNION SELECT text FROM feedback --",
    ];
    for text in hostile {
        let q = urlencode(text);
        for path in [
            format!("/v1/feedback?q={q}"),
            format!("/v1/feedback?tag={}", urlencode(&format!("store:{text}"))),
            format!("/v1/aggregates?group_by={}", urlencode(&format!("tag:{text}"))),
            format!("/v1/feedback?tag={}", urlencode(&format!("{text}:x"))),
        ] {
            let answer = get(api, &w.sanna, &path).await;
            assert!(answer.status == 200 || answer.status == 400, "{path}: {}", answer.text);
            if answer.status == 200 {
                let returned = answer.body["items"].as_array().map(Vec::len).unwrap_or(0)
                    + answer.body["groups"]
                        .as_array()
                        .map(|g| g.iter().filter(|g| g["items"] != 0).count())
                        .unwrap_or(0);
                assert_eq!(returned, 0, "{path}: nothing matches: {}", answer.text);
            } else {
                assert_eq!(answer.code(), "invalid_request");
            }
        }
    }
    let long = urlencode(&"x".repeat(500));
    get(api, &w.sanna, &format!("/v1/feedback?q={long}"))
        .await
        .ok("the longest text query");
    // Everything is still there.
    assert_eq!(node.rows(TENANT).await.len(), ITEMS.len());
    node.finish().await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
