//! Single sign-on against a real, independent identity provider: pysaml2
//! (`tests/interop/saml_idp.py`, run with the test command's Python).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

use saml::{Check, Expect, IdentityProvider, ServiceProvider};

/// The Python interpreter of the test command, with pysaml2; fails (never
/// skips) without it.
fn python_with_pysaml2() -> PathBuf {
    crate::people::python_with("saml2", "'pysaml2==7.5.5'", " and `apt-get install xmlsec1`")
}

/// The identity provider, running until dropped.
pub struct PythonIdp {
    pub url: String,
    child: Child,
    _stdin: ChildStdin,
    _dir: tempfile::TempDir,
}

impl PythonIdp {
    pub fn start() -> PythonIdp {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/saml_idp.py");
        let mut child = Command::new(python_with_pysaml2())
            // pysaml2's own deprecation warnings are not the test's.
            .env("PYTHONWARNINGS", "ignore")
            .arg(script)
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the identity provider");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("its address");
        let started: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the identity provider did not start ({e}): {line:?}"));
        let url = started["url"].as_str().expect("url").to_owned();
        let stdin = child.stdin.take().expect("stdin");
        PythonIdp {
            url,
            child,
            _stdin: stdin,
            _dir: dir,
        }
    }

    pub async fn metadata(&self) -> String {
        let answer = reqwest::get(format!("{}/metadata", self.url)).await.expect("metadata");
        assert!(answer.status().is_success());
        answer.text().await.expect("text")
    }

    /// Trusts a service provider from now on.
    pub async fn add_sp(&self, metadata: &str) {
        let answer = reqwest::Client::new()
            .post(format!("{}/sp", self.url))
            .body(metadata.to_owned())
            .send()
            .await
            .expect("add the SP");
        let status = answer.status();
        assert!(
            status.is_success(),
            "{status}: {}",
            answer.text().await.unwrap_or_default()
        );
    }

    /// Follows a URL to the identity provider (an AuthnRequest's, or
    /// `/unsolicited`) as a logged-in browser: the SAMLResponse and
    /// RelayState of the form it answers.
    pub async fn login(&self, url: &str) -> (String, Option<String>) {
        let answer = reqwest::get(url).await.expect("the identity provider");
        let status = answer.status();
        let body = answer.text().await.expect("body");
        assert!(status.is_success(), "the identity provider answered {status}: {body}");
        (
            form_value(&body, "SAMLResponse").expect("a SAMLResponse in the form"),
            form_value(&body, "RelayState"),
        )
    }
}

impl Drop for PythonIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the hidden input `name` of an HTML form.
fn form_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let rest = &html[at..];
    let start = rest.find("value=\"")? + 7;
    let end = start + rest[start..].find('"')?;
    Some(
        rest[start..end]
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

fn now() -> (i64, String) {
    let t = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("whole seconds");
    (
        t.unix_timestamp(),
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("format"),
    )
}

/// The SAML core (the `saml` crate) against pysaml2: every way it signs and
/// encrypts is a login; what it is asked to get wrong is refused by the
/// check it is about.
#[tokio::test]
async fn the_saml_core_logs_in_through_pysaml2_and_refuses_what_it_gets_wrong() {
    let idp_process = PythonIdp::start();
    let (key, certificate) = saml::generate_key("vox-test-sp").expect("SP key");
    let sp = ServiceProvider {
        entity_id: "https://vox.test/v1/sso/acme/metadata",
        acs_url: "https://vox.test/v1/sso/acme/acs",
        key: &key,
        certificate: &certificate,
    };
    idp_process.add_sp(&sp.metadata().expect("SP metadata")).await;
    let idp = IdentityProvider::from_metadata(&idp_process.metadata().await).expect("IdP metadata");
    assert_eq!(idp.entity_id, format!("{}/metadata", idp_process.url));

    let mut n = 0;
    let mut login = |options: &'static str| {
        n += 1;
        let id = format!("_req{n}");
        let (at, instant) = now();
        let url = sp
            .authn_request_url(&idp, &id, &instant, Some("/v1/me"))
            .expect("AuthnRequest URL");
        (id, at, format!("{url}&user=ann%40acme.fi&{options}"))
    };
    for options in [
        "sign=both",
        "sign=response",
        "sign=assertion",
        "encrypt=3des",
        "encrypt=aes128-cbc",
        "encrypt=aes256-gcm&sign=response",
        "groups=support,hr-team",
    ] {
        let (id, at, url) = login(options);
        let (response, relay) = idp_process.login(&url).await;
        assert_eq!(relay.as_deref(), Some("/v1/me"), "{options}");
        // What the identity provider was asked for is what it sent.
        let xml = String::from_utf8(
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &response).expect("base64"),
        )
        .expect("utf-8");
        let cipher = options
            .split("encrypt=")
            .nth(1)
            .map(|c| c.split('&').next().unwrap_or(c));
        assert_eq!(xml.contains("EncryptedAssertion"), cipher.is_some(), "{options}");
        if let Some(c) = cipher.filter(|c| *c != "3des") {
            assert!(xml.contains(&format!("#{c}\"")), "{options}: {xml}");
        }
        let signatures = xml.matches("SignatureValue>").count() / 2;
        let expected = match options {
            o if o.contains("sign=response") || o.contains("sign=assertion") => 1,
            _ => 2,
        };
        // An encrypted assertion's own signature is inside the ciphertext.
        assert_eq!(
            signatures + usize::from(cipher.is_some() && expected == 2),
            expected,
            "{options}"
        );
        let expect = Expect {
            now: at,
            skew_seconds: 60,
            request_id: Some(&id),
            idp_initiated: false,
        };
        let login = sp
            .validate(&response, &idp, &expect)
            .unwrap_or_else(|r| panic!("{options}: {r}"));
        assert_eq!(login.name_id.as_deref(), Some("ann@acme.fi"), "{options}");
        assert_eq!(login.in_response_to.as_deref(), Some(id.as_str()));
        if options.starts_with("groups") {
            assert_eq!(
                login.attributes.get("groups").map(Vec::as_slice),
                Some(&["support".to_owned(), "hr-team".to_owned()][..])
            );
        }
    }
    for (options, check) in [
        ("key=unknown", Check::Signature),
        ("shift=-900", Check::Time),
        ("shift=900", Check::Time),
        (
            "audience=https%3A%2F%2Fvox.test%2Fv1%2Fsso%2Fglobex%2Fmetadata",
            Check::Audience,
        ),
        ("sign=none", Check::Signature),
    ] {
        let (id, at, url) = login(options);
        let (response, _) = idp_process.login(&url).await;
        let expect = Expect {
            now: at,
            skew_seconds: 60,
            request_id: Some(&id),
            idp_initiated: false,
        };
        let refusal = sp.validate(&response, &idp, &expect).expect_err(options);
        assert_eq!(refusal.check, check, "{options}: {refusal}");
    }
    // IdP-initiated: refused unless the tenant allows it.
    let (at, _) = now();
    let unsolicited = format!(
        "{}/unsolicited?sp={}&user=ann%40acme.fi",
        idp_process.url, "https%3A%2F%2Fvox.test%2Fv1%2Fsso%2Facme%2Fmetadata"
    );
    let (response, _) = idp_process.login(&unsolicited).await;
    let mut expect = Expect {
        now: at,
        skew_seconds: 60,
        request_id: None,
        idp_initiated: false,
    };
    let refusal = sp.validate(&response, &idp, &expect).expect_err("IdP-initiated is off");
    assert_eq!(refusal.check, Check::InResponseTo, "{refusal}");
    expect.idp_initiated = true;
    let login = sp.validate(&response, &idp, &expect).expect("IdP-initiated is on");
    assert_eq!(login.in_response_to, None);
}

// ------------------------------------------------ through the people API ----

use std::sync::Arc;

use crate::helpers::{Backend, Node, SecondApi};
use crate::people::{operator, send, tenants, Answer};

/// A browser's view of one login: no redirects followed, cookies by hand.
struct Browser {
    http: reqwest::Client,
}

impl Browser {
    fn new(node: &Node) -> Browser {
        let pem = std::fs::read(&node.ca_cert).expect("the node's CA");
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM certificate"))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("a client");
        Browser { http }
    }
}

/// The value of cookie `name` an answer sets.
fn set_cookie(answer: &Answer, name: &str) -> Option<String> {
    answer
        .headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
        })
        .filter(|v| !v.is_empty())
}

struct Sso {
    idp: PythonIdp,
    api: SecondApi,
    browser: Browser,
}

/// A node's second API with single sign-on keys, tenants acme and globex,
/// acme's (and globex's) service provider known to the identity provider,
/// and acme configured by `tune` (the group `hr` exists; the groups
/// attribute maps "HR staff" to it).
async fn sso_setup(node: &Node, tune: impl FnOnce(&mut schemas::SsoConfigured)) -> Sso {
    tenants(node, &["acme", "globex"]).await;
    let idp = PythonIdp::start();
    let (key, certificate) = saml::generate_key("vox-test-sp").expect("SP key");
    let keys = Arc::new(api::sso::SamlKeys { key, certificate });
    let second = SecondApi::start_with(node, |s| s.saml = Some(keys)).await;
    let browser = Browser::new(node);
    for tenant in ["acme", "globex"] {
        let answer = send(browser.http.get(format!("{}/v1/sso/{tenant}/metadata", second.url))).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        idp.add_sp(&answer.text).await;
    }
    operator(node)
        .group("acme", "hr", "created", Some("HR"), None)
        .await
        .expect("a group");
    let metadata = saml::IdentityProvider::from_metadata(&idp.metadata().await).expect("IdP metadata");
    let mut config = schemas::SsoConfigured {
        tenant_id: "acme".into(),
        enabled: true,
        idp_entity_id: metadata.entity_id.clone(),
        sso_url: metadata.sso_url.clone(),
        certificates: metadata.certificates.iter().cloned().map(schemas::ByteString).collect(),
        required: false,
        idp_initiated: false,
        email_attribute: None,
        provision_role: Some("analyst".into()),
        groups_attribute: Some("groups".into()),
        group_map: vec![schemas::SsoGroupMapping {
            idp_group: "HR staff".into(),
            group_id: "hr".into(),
        }],
        changed_at: 0,
        changed_by: String::new(),
    };
    tune(&mut config);
    // globex uses the same identity provider (its own service provider).
    let globex = schemas::SsoConfigured {
        tenant_id: "globex".into(),
        provision_role: Some("viewer".into()),
        groups_attribute: None,
        group_map: Vec::new(),
        ..config.clone()
    };
    operator(node).configure_sso(config).await.expect("SSO configured");
    operator(node)
        .configure_sso(globex)
        .await
        .expect("globex's SSO configured");
    // The second API reads the configuration within its refresh.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    Sso {
        idp,
        api: second,
        browser,
    }
}

/// What one login attempt came to.
struct Attempt {
    /// The ACS's answer.
    answer: Answer,
    session: Option<String>,
}

impl Sso {
    /// Starts a login at `tenant`, lets the IdP answer for `user` with
    /// `options`, lets `tamper` change the Response, and posts it to the ACS
    /// of `acs_tenant`.
    async fn attempt(
        &self,
        tenant: &str,
        acs_tenant: &str,
        options: &str,
        tamper: impl FnOnce(String) -> String,
    ) -> Attempt {
        let start = send(
            self.browser
                .http
                .get(format!("{}/v1/sso/{tenant}/login?relay_state=%2Fv1%2Fme", self.api.url)),
        )
        .await;
        assert_eq!(start.status, 303, "{}", start.text);
        let location = start.headers[reqwest::header::LOCATION]
            .to_str()
            .expect("location")
            .to_owned();
        let binding = set_cookie(&start, "__Host-vox_sso").expect("the browser's binding cookie");
        let (response, relay) = self.idp.login(&format!("{location}&{options}")).await;
        self.post(acs_tenant, &tamper(response), relay.as_deref(), Some(&binding))
            .await
    }

    async fn post(&self, tenant: &str, response: &str, relay: Option<&str>, binding: Option<&str>) -> Attempt {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("SAMLResponse", response);
        if let Some(r) = relay {
            form.append_pair("RelayState", r);
        }
        let mut request = self
            .browser
            .http
            .post(format!("{}/v1/sso/{tenant}/acs", self.api.url))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.finish());
        if let Some(b) = binding {
            request = request.header(reqwest::header::COOKIE, format!("__Host-vox_sso={b}"));
        }
        let answer = send(request).await;
        let session = set_cookie(&answer, "__Host-vox_session");
        Attempt { answer, session }
    }

    async fn me(&self, session: &str) -> Answer {
        send(
            self.browser
                .http
                .get(format!("{}/v1/me", self.api.url))
                .header(reqwest::header::COOKIE, format!("__Host-vox_session={session}")),
        )
        .await
    }
}

fn xml_of(response: &str) -> String {
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, response).expect("base64");
    String::from_utf8(bytes).expect("utf-8")
}

fn base64_of(xml: &str) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, xml)
}

/// The audit records of `tenant` with `action`, once the audit log has them.
async fn records(node: &Node, tenant: &str, action: &str, at_least: usize) -> Vec<schemas::AuditRecord> {
    for _ in 0..100 {
        let all = crate::people::audit_records(node).await;
        let found: Vec<_> = all
            .into_iter()
            .filter(|r| r.tenant_id.as_deref() == Some(tenant) && r.action == action)
            .collect();
        if found.len() >= at_least {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("fewer than {at_least} {action} records of {tenant}");
}

/// A full login: the user provisioned at first login with the tenant's
/// role, the groups attribute mapped (and replaced at the next login), the
/// same session as a password login, every step on record.
pub(crate) async fn sso_logs_in_provisions_and_maps_groups(node: Node) {
    let sso = sso_setup(&node, |_| {}).await;
    let first = sso
        .attempt("acme", "acme", "user=aino%40acme.fi&groups=HR+staff,Unmapped", |r| r)
        .await;
    assert_eq!(first.answer.status, 200, "{}", first.answer.text);
    assert!(first.answer.text.contains("url=/v1/me"), "{}", first.answer.text);
    let session = first.session.expect("a session cookie");
    let me = sso.me(&session).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["email"], "aino@acme.fi", "{}", me.text);
    assert_eq!(me.body["role"], "analyst");
    assert_eq!(me.body["groups"], serde_json::json!(["hr"]), "{}", me.text);
    let user = me.body["id"].as_str().expect("id").to_owned();
    // The next login: no longer in HR, no new user.
    let second = sso
        .attempt("acme", "acme", "user=aino%40acme.fi&groups=Unmapped", |r| r)
        .await;
    assert_eq!(second.answer.status, 200, "{}", second.answer.text);
    let me = sso.me(&second.session.expect("a session")).await;
    assert_eq!(me.body["id"], user.as_str());
    assert_eq!(me.body["groups"], serde_json::json!([]), "{}", me.text);
    // An encrypted assertion (to the SP's certificate in its metadata).
    let third = sso
        .attempt("acme", "acme", "user=aino%40acme.fi&encrypt=aes256-gcm", |r| {
            assert!(xml_of(&r).contains("EncryptedAssertion"));
            r
        })
        .await;
    assert_eq!(third.answer.status, 200, "{}", third.answer.text);
    assert!(third.session.is_some());
    // On record: three logins, one provisioning, two group changes.
    let logins = records(&node, "acme", "sso.login", 3).await;
    assert!(logins
        .iter()
        .all(|r| r.outcome == schemas::Outcome::Success && r.actor_id == user));
    let provisioned = records(&node, "acme", "user.provisioned", 1).await;
    assert_eq!(provisioned.len(), 1);
    assert_eq!(provisioned[0].details["role"], "analyst");
    let changes = records(&node, "acme", "sso.groups_changed", 2).await;
    assert!(changes.iter().any(|r| r.details["added"] == "hr"));
    assert!(changes.iter().any(|r| r.details["removed"] == "hr"));
    node.finish().await;
}

/// The assertion element of a Response's XML (pysaml2 writes `ns1:`).
fn assertion_range(xml: &str) -> (usize, usize) {
    let start = xml.find("<ns1:Assertion ").expect("an assertion");
    let end = xml.find("</ns1:Assertion>").expect("its end") + "</ns1:Assertion>".len();
    (start, end)
}

/// A copy of the signed assertion for someone else, unsigned, its own ID.
fn injected(signed: &str, to: &str) -> String {
    let (start, end) = assertion_range(signed);
    let mut evil = signed[start..end].replace("aino@acme.fi", to);
    if let (Some(s), Some(e)) = (evil.find("<ns2:Signature"), evil.find("</ns2:Signature>")) {
        evil.replace_range(s..e + "</ns2:Signature>".len(), "");
    }
    let id = evil.find("ID=\"").expect("ID") + 4;
    let id_end = id + evil[id..].find('"').expect("end");
    evil.replace_range(id..id_end, "evil-1");
    evil
}

/// Every attack is refused with its stable code, leaves no session, and is
/// on record (`sso.login`, failure, the code as the reason).
pub(crate) async fn sso_attacks_are_refused_on_record_and_leave_no_session(node: Node) {
    let sso = sso_setup(&node, |_| {}).await;
    let user = "user=aino%40acme.fi";
    let sign_assertion = "user=aino%40acme.fi&sign=assertion";
    type Tamper = Box<dyn FnOnce(String) -> String>;
    let unchanged: fn() -> Tamper = || Box::new(|r| r);
    let xml = |f: fn(String) -> String| -> Tamper { Box::new(move |r| base64_of(&f(xml_of(&r)))) };
    let cases: Vec<(&str, &str, &str, Tamper, &str)> = vec![
        (
            "unsigned",
            "acme",
            "user=aino%40acme.fi&sign=none",
            unchanged(),
            "saml_signature",
        ),
        (
            "signed by an unknown key",
            "acme",
            "user=aino%40acme.fi&key=unknown",
            unchanged(),
            "saml_signature",
        ),
        (
            "a changed name after signing",
            "acme",
            sign_assertion,
            xml(|x| x.replacen("aino@acme.fi</", "ceo@acme.fi</", 1)),
            "saml_signature",
        ),
        (
            "an injected unsigned assertion before the signed one",
            "acme",
            sign_assertion,
            xml(|x| {
                let (start, _) = assertion_range(&x);
                format!("{}{}{}", &x[..start], injected(&x, "ceo@acme.fi"), &x[start..])
            }),
            "saml_structure",
        ),
        (
            "the signed assertion wrapped inside an injected one",
            "acme",
            sign_assertion,
            xml(|x| {
                let (start, end) = assertion_range(&x);
                let evil = injected(&x, "ceo@acme.fi");
                let close = evil.rfind("</ns1:Assertion>").expect("end");
                let wrapping = format!("{}{}{}", &evil[..close], &x[start..end], &evil[close..]);
                format!("{}{wrapping}{}", &x[..start], &x[end..])
            }),
            "saml_structure",
        ),
        (
            "the signed assertion moved to Extensions, an injected one in its place",
            "acme",
            sign_assertion,
            xml(|x| {
                let (start, end) = assertion_range(&x);
                let issuer = x.find("</ns1:Issuer>").expect("issuer") + "</ns1:Issuer>".len();
                format!(
                    "{}<ns0:Extensions>{}</ns0:Extensions>{}{}{}",
                    &x[..issuer],
                    &x[start..end],
                    &x[issuer..start],
                    injected(&x, "ceo@acme.fi"),
                    &x[end..]
                )
            }),
            "saml_structure",
        ),
        (
            "expired",
            "acme",
            "user=aino%40acme.fi&shift=-900",
            unchanged(),
            "saml_expired",
        ),
        (
            "for another service provider",
            "acme",
            "user=aino%40acme.fi&audience=https%3A%2F%2Fother.example%2Fmetadata",
            unchanged(),
            "saml_audience",
        ),
        (
            "for another recipient (the unsigned Response made to fit)",
            "acme",
            "user=aino%40acme.fi&sign=assertion&recipient=https%3A%2F%2Fother.example%2Facs",
            unchanged(),
            "saml_recipient",
        ),
        (
            "a Response for acme posted to globex's ACS",
            "globex",
            user,
            unchanged(),
            "saml_destination",
        ),
    ];
    let mut codes = Vec::new();
    for (what, acs, options, tamper, code) in cases {
        let attempt = sso.attempt("acme", acs, options, tamper).await;
        assert_eq!(attempt.answer.code(), code, "{what}: {}", attempt.answer.text);
        assert!(attempt.session.is_none(), "{what}: a session");
        codes.push(code);
    }
    // A comment inside the NameID does not cut it short: the identity
    // provider vouched for aino@acme.fi.evil.com (someone registered it
    // there) and a comment is slipped in after "aino@acme.fi". The
    // signature still verifies (comments are not signed); the whole name is
    // read, which is not aino's.
    let aino = sso.attempt("acme", "acme", user, |r| r).await;
    let aino = sso.me(&aino.session.expect("aino's session")).await;
    let comment = sso
        .attempt("acme", "acme", "user=aino%40acme.fi.evil.com&sign=assertion", |r| {
            let x = xml_of(&r);
            assert!(x.contains("aino@acme.fi.evil.com</"), "{x}");
            base64_of(&x.replacen("aino@acme.fi.evil.com</", "aino@acme.fi<!---->.evil.com</", 1))
        })
        .await;
    assert_eq!(comment.answer.status, 200, "{}", comment.answer.text);
    let me = sso.me(&comment.session.expect("a session")).await;
    assert_eq!(me.body["email"], "aino@acme.fi.evil.com", "{}", me.text);
    assert_ne!(me.body["id"], aino.body["id"]);
    // A replay: the same Response again, with a fresh binding.
    let start = send(sso.browser.http.get(format!("{}/v1/sso/acme/login", sso.api.url))).await;
    let location = start.headers[reqwest::header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    let binding = set_cookie(&start, "__Host-vox_sso").expect("binding");
    let (response, _) = sso.idp.login(&format!("{location}&{user}")).await;
    let once = sso.post("acme", &response, None, Some(&binding)).await;
    assert_eq!(once.answer.status, 200, "{}", once.answer.text);
    let again = sso.post("acme", &response, None, Some(&binding)).await;
    assert_eq!(again.answer.code(), "saml_in_response_to", "{}", again.answer.text);
    assert!(again.session.is_none());
    codes.push("saml_in_response_to");
    // Another browser's request: the Response answers a request, not this
    // browser's (no binding cookie, or another's).
    let start = send(sso.browser.http.get(format!("{}/v1/sso/acme/login", sso.api.url))).await;
    let location = start.headers[reqwest::header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    let (response, _) = sso.idp.login(&format!("{location}&{user}")).await;
    for binding in [None, Some("someone-elses")] {
        let other = sso.post("acme", &response, None, binding).await;
        assert_eq!(other.answer.code(), "saml_in_response_to", "{}", other.answer.text);
        assert!(other.session.is_none());
        codes.push("saml_in_response_to");
    }
    // The answer to one request posted with the binding of another (the
    // browser started two logins; the Response answers the first).
    let first = send(sso.browser.http.get(format!("{}/v1/sso/acme/login", sso.api.url))).await;
    let first_location = first.headers[reqwest::header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    let second = send(sso.browser.http.get(format!("{}/v1/sso/acme/login", sso.api.url))).await;
    let second_binding = set_cookie(&second, "__Host-vox_sso").expect("binding");
    let (response, _) = sso.idp.login(&format!("{first_location}&{user}")).await;
    let crossed = sso.post("acme", &response, None, Some(&second_binding)).await;
    assert_eq!(crossed.answer.code(), "saml_in_response_to", "{}", crossed.answer.text);
    assert!(crossed.session.is_none());
    codes.push("saml_in_response_to");
    // IdP-initiated while it is off.
    let unsolicited = format!(
        "{}/unsolicited?sp={}&{user}",
        sso.idp.url,
        form_urlencoded::byte_serialize(format!("{}/v1/sso/acme/metadata", sso.api.url).as_bytes()).collect::<String>()
    );
    let (response, _) = sso.idp.login(&unsolicited).await;
    let unasked = sso.post("acme", &response, None, None).await;
    assert_eq!(unasked.answer.code(), "saml_in_response_to", "{}", unasked.answer.text);
    assert!(unasked.session.is_none());
    codes.push("saml_in_response_to");
    // Each refusal is on record with its code.
    let failures: Vec<String> = records(&node, "acme", "sso.login", codes.len())
        .await
        .into_iter()
        .filter(|r| r.outcome == schemas::Outcome::Failure)
        .map(|r| r.details["reason"].clone())
        .collect();
    let mut expected: Vec<String> = codes
        .iter()
        .filter(|c| **c != "saml_destination")
        .map(|c| (*c).to_owned())
        .collect();
    expected.sort();
    let mut got = failures.clone();
    got.sort();
    assert_eq!(got, expected, "the failures on record");
    // The refusal at globex's ACS is on globex's record.
    let globex = records(&node, "globex", "sso.login", 1).await;
    assert_eq!(globex[0].details["reason"], "saml_destination");
    // Only the logins that succeeded made users: aino, and the `.evil.com`
    // name of the comment case; no attack provisioned anyone.
    let provisioned = crate::people::audit_records(&node)
        .await
        .into_iter()
        .filter(|r| r.tenant_id.as_deref() == Some("acme") && r.action == "user.provisioned")
        .count();
    assert_eq!(provisioned, 2);
    // The login's own bad input: a relay state that leaves the site, an
    // unknown parameter, a tenant without single sign-on.
    for (query, status, code) in [
        ("relay_state=https%3A%2F%2Fevil.example%2F", 400, "invalid_request"),
        ("relay_state=%2F%2Fevil.example", 400, "invalid_request"),
        ("relay_state=%2Fok%5C..%5Cx", 400, "invalid_request"),
        ("next=%2Fv1%2Fme", 400, "invalid_request"),
    ] {
        let answer = send(
            sso.browser
                .http
                .get(format!("{}/v1/sso/acme/login?{query}", sso.api.url)),
        )
        .await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{query}: {}",
            answer.text
        );
        assert!(
            set_cookie(&answer, "__Host-vox_sso").is_none(),
            "{query}: no request made"
        );
    }
    let nobody = send(sso.browser.http.get(format!("{}/v1/sso/initech/login", sso.api.url))).await;
    assert_eq!(
        (nobody.status, nobody.code()),
        (404, "sso_not_configured"),
        "{}",
        nobody.text
    );
    node.finish().await;
}

/// Where the tenant allows IdP-initiated logins, an unsolicited Response
/// logs in once; the same Response again is a replay.
pub(crate) async fn sso_idp_initiated_logs_in_once_when_allowed(node: Node) {
    let sso = sso_setup(&node, |c| c.idp_initiated = true).await;
    let unsolicited = format!(
        "{}/unsolicited?sp={}&user=aino%40acme.fi",
        sso.idp.url,
        form_urlencoded::byte_serialize(format!("{}/v1/sso/acme/metadata", sso.api.url).as_bytes()).collect::<String>()
    );
    let (response, _) = sso.idp.login(&unsolicited).await;
    let first = sso.post("acme", &response, None, None).await;
    assert_eq!(first.answer.status, 200, "{}", first.answer.text);
    assert!(first.session.is_some());
    let again = sso.post("acme", &response, None, None).await;
    assert_eq!(again.answer.code(), "saml_replay", "{}", again.answer.text);
    assert!(again.session.is_none());
    let logins = records(&node, "acme", "sso.login", 2).await;
    assert!(
        logins
            .iter()
            .any(|r| r.outcome == schemas::Outcome::Success
                && r.details.get("idp_initiated").is_some_and(|v| v == "true"))
    );
    assert!(logins
        .iter()
        .any(|r| r.outcome == schemas::Outcome::Failure && r.details["reason"] == "saml_replay"));
    node.finish().await;
}

/// "SSO required": password logins are refused, but for an owner's
/// break-glass login, which is on record and which the other owners see.
pub(crate) async fn sso_required_refuses_passwords_but_an_owners_break_glass(node: Node) {
    let sso = sso_setup(&node, |_| {}).await;
    let api = crate::people::Api::new(&node);
    let owner = crate::people::join(&node, &api, None, "olga@acme.fi", directory::Role::Owner).await;
    let other_owner = crate::people::join(&node, &api, None, "otto@acme.fi", directory::Role::Owner).await;
    let analyst = crate::people::join(&node, &api, None, "ann@acme.fi", directory::Role::Analyst).await;
    let metadata = saml::IdentityProvider::from_metadata(&sso.idp.metadata().await).expect("IdP metadata");
    operator(&node)
        .configure_sso(schemas::SsoConfigured {
            tenant_id: "acme".into(),
            enabled: true,
            idp_entity_id: metadata.entity_id,
            sso_url: metadata.sso_url,
            certificates: metadata.certificates.into_iter().map(schemas::ByteString).collect(),
            required: true,
            idp_initiated: false,
            email_attribute: None,
            provision_role: None,
            groups_attribute: None,
            group_map: Vec::new(),
            changed_at: 0,
            changed_by: String::new(),
        })
        .await
        .expect("SSO required");
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let refused = api.login("acme", &analyst.email, &analyst.password).await;
    assert_eq!(refused.code(), "sso_required", "{}", refused.text);
    // Not an owner: break-glass is refused too.
    let body = serde_json::json!({"tenant": "acme", "email": analyst.email, "password": analyst.password, "break_glass": true});
    let refused = api.call(reqwest::Method::POST, "/v1/login", None, Some(body)).await;
    assert_eq!(refused.code(), "sso_required", "{}", refused.text);
    // A wrong password says what it always says.
    let wrong = api.login("acme", &owner.email, "not the password").await;
    assert_eq!(wrong.code(), "invalid_credentials");
    let plain = api.login("acme", &owner.email, &owner.password).await;
    assert_eq!(plain.code(), "sso_required");
    let body =
        serde_json::json!({"tenant": "acme", "email": owner.email, "password": owner.password, "break_glass": true});
    let glass = api.call(reqwest::Method::POST, "/v1/login", None, Some(body)).await;
    assert_eq!(glass.status, 200, "{}", glass.text);
    // The other owner is alerted; the owner who broke the glass sees no
    // alert of their own.
    let seen = api
        .call(reqwest::Method::GET, "/v1/me", Some(&other_owner.token), None)
        .await;
    assert_eq!(seen.body["alerts"][0]["kind"], "break_glass", "{}", seen.text);
    assert_eq!(seen.body["alerts"][0]["user"], owner.id.as_str());
    let own = api
        .call(reqwest::Method::GET, "/v1/me", Some(&glass.field("token")), None)
        .await;
    assert_eq!(own.body["alerts"], serde_json::json!([]), "{}", own.text);
    let records = records(&node, "acme", "sso.break_glass", 1).await;
    assert_eq!(records[0].actor_id, owner.id);
    // A user the identity provider vouches for and the tenant does not
    // provision: refused, on record.
    let unknown = sso.attempt("acme", "acme", "user=nobody%40acme.fi", |r| r).await;
    assert_eq!(unknown.answer.code(), "sso_unknown_user", "{}", unknown.answer.text);
    assert!(unknown.session.is_none());
    // SSO works for the analyst.
    let ann = sso.attempt("acme", "acme", "user=ann%40acme.fi", |r| r).await;
    assert_eq!(ann.answer.status, 200, "{}", ann.answer.text);
    node.finish().await;
}

/// An owner configures single sign-on over the people API from the
/// identity provider's metadata; others may not; bad metadata is refused
/// with what is wrong.
pub(crate) async fn sso_is_configured_by_an_owner_over_the_api(node: Node) {
    tenants(&node, &["acme"]).await;
    let idp = PythonIdp::start();
    let (key, certificate) = saml::generate_key("vox-test-sp").expect("SP key");
    let keys = Arc::new(api::sso::SamlKeys { key, certificate });
    let second = SecondApi::start_with(&node, |s| s.saml = Some(keys)).await;
    let api = crate::people::Api::at(&node, &second.url);
    let owner = crate::people::join(&node, &api, None, "olga@acme.fi", directory::Role::Owner).await;
    let admin = crate::people::join(&node, &api, None, "adam@acme.fi", directory::Role::Admin).await;
    let none = api
        .call(reqwest::Method::GET, "/v1/sso", Some(&owner.token), None)
        .await;
    assert_eq!(none.status, 200, "{}", none.text);
    assert_eq!(none.body["sso"], serde_json::Value::Null);
    let sp = none.body["service_provider"]["entity_id"]
        .as_str()
        .expect("the SP's entity id")
        .to_owned();
    assert_eq!(sp, format!("{}/v1/sso/acme/metadata", second.url));
    let put = |token: String, body: serde_json::Value| {
        let api = &api;
        async move {
            api.call(reqwest::Method::PUT, "/v1/sso", Some(&token), Some(body))
                .await
        }
    };
    let metadata = idp.metadata().await;
    let body = serde_json::json!({"idp_metadata": metadata, "provision_role": "viewer"});
    let denied = put(admin.token.clone(), body.clone()).await;
    assert_eq!(denied.code(), "permission_denied", "{}", denied.text);
    let bad = put(
        owner.token.clone(),
        serde_json::json!({"idp_metadata": "<EntityDescriptor/>"}),
    )
    .await;
    assert_eq!(bad.code(), "invalid_request", "{}", bad.text);
    assert!(bad.message().contains("IDPSSODescriptor"), "{}", bad.text);
    let owner_role = put(
        owner.token.clone(),
        serde_json::json!({"idp_metadata": metadata, "provision_role": "owner"}),
    )
    .await;
    assert_eq!(owner_role.code(), "invalid_request", "{}", owner_role.text);
    let set = put(owner.token.clone(), body).await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body["sso"]["idp_entity_id"], format!("{}/metadata", idp.url));
    assert_eq!(set.body["sso"]["provision_role"], "viewer");
    assert_eq!(set.body["sso"]["certificate_sha256"].as_array().map(Vec::len), Some(1));
    // Changing a choice keeps the identity provider.
    let required = put(
        owner.token.clone(),
        serde_json::json!({"provision_role": "viewer", "required": true}),
    )
    .await;
    assert_eq!(required.status, 200, "{}", required.text);
    assert_eq!(required.body["sso"]["required"], true);
    assert_eq!(required.body["sso"]["idp_entity_id"], format!("{}/metadata", idp.url));
    let records = records(&node, "acme", "sso.configured", 2).await;
    assert!(records.iter().all(|r| r.actor_id == owner.id));
    node.finish().await;
}

/// With `email_attribute`, the user is found by that attribute, not the
/// NameID (here an opaque id).
pub(crate) async fn sso_finds_the_user_by_the_configured_attribute(node: Node) {
    let sso = sso_setup(&node, |c| c.email_attribute = Some("mail".into())).await;
    let login = sso
        .attempt("acme", "acme", "user=aino%40acme.fi&name_id=00u1abcd", |r| {
            assert!(xml_of(&r).contains(">00u1abcd<"));
            r
        })
        .await;
    assert_eq!(login.answer.status, 200, "{}", login.answer.text);
    let me = sso.me(&login.session.expect("a session")).await;
    assert_eq!(me.body["email"], "aino@acme.fi", "{}", me.text);
    node.finish().await;
}

end_to_end!(
    sso_finds_the_user_by_the_configured_attribute,
    sso_is_configured_by_an_owner_over_the_api,
    sso_required_refuses_passwords_but_an_owners_break_glass,
    sso_idp_initiated_logs_in_once_when_allowed,
    sso_logs_in_provisions_and_maps_groups,
    sso_attacks_are_refused_on_record_and_leave_no_session
);
