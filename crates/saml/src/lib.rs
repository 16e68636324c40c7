//! A SAML 2.0 service provider's core, per tenant: the identity provider's
//! metadata read ([`IdentityProvider::from_metadata`]), the service
//! provider's metadata written ([`ServiceProvider::metadata`]), an
//! AuthnRequest for the HTTP-Redirect binding
//! ([`ServiceProvider::authn_request_url`]) and a Response from the
//! HTTP-POST binding validated ([`ServiceProvider::validate`]): every check
//! a [`Check`] of its own, so that a refusal names what failed.
//!
//! The document is parsed once (roxmltree: no DTD, a bound on nodes); the
//! signature is verified over that tree and the values are read from the
//! same tree, from the one element the signature covers — there is no
//! second parser whose view could differ (signature wrapping).

mod c14n;
mod dsig;
mod xmlenc;

use std::collections::BTreeMap;

use base64::Engine;
use openssl::pkey::{PKey, Private, Public};
use openssl::x509::X509;
use roxmltree::{Document, Node, ParsingOptions};

pub const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const XMLENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// The largest Response accepted (decoded), and the most XML nodes in one.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
pub const MAX_NODES: u32 = 20_000;

/// What a refused Response failed: each has a stable code
/// ([`Check::code`]) for the API's errors and the audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Not base64, too large, not XML, a DTD, too many nodes.
    Xml,
    /// Not one Response with exactly one assertion where it belongs, a
    /// signature elsewhere, a duplicate ID.
    Structure,
    /// No signature covers the assertion, or one does not verify.
    Signature,
    /// The encrypted assertion does not decrypt with the SP's key.
    Decryption,
    /// The identity provider says the login failed.
    Status,
    Issuer,
    Destination,
    Recipient,
    Audience,
    /// Outside `NotBefore`/`NotOnOrAfter` (with the skew).
    Time,
    /// Not the answer to this browser's outstanding request (or
    /// IdP-initiated while that is off).
    InResponseTo,
    /// No usable subject (NameID or the configured attribute).
    Subject,
    /// The assertion was already used.
    Replay,
}

impl Check {
    pub fn code(self) -> &'static str {
        match self {
            Check::Xml => "saml_malformed",
            Check::Structure => "saml_structure",
            Check::Signature => "saml_signature",
            Check::Decryption => "saml_decryption",
            Check::Status => "saml_status",
            Check::Issuer => "saml_issuer",
            Check::Destination => "saml_destination",
            Check::Recipient => "saml_recipient",
            Check::Audience => "saml_audience",
            Check::Time => "saml_expired",
            Check::InResponseTo => "saml_in_response_to",
            Check::Subject => "saml_subject",
            Check::Replay => "saml_replay",
        }
    }
}

/// A refused Response: the check and what exactly failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {detail}", check.code(), "SAML response refused")]
pub struct Refusal {
    pub check: Check,
    pub detail: String,
}

impl Refusal {
    pub fn new(check: Check, detail: impl Into<String>) -> Refusal {
        Refusal {
            check,
            detail: detail.into(),
        }
    }
}

/// The identity provider of a tenant, from its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    pub entity_id: String,
    /// Where AuthnRequests go (HTTP-Redirect).
    pub sso_url: String,
    /// Signing certificates (DER), several during a rollover.
    pub certificates: Vec<Vec<u8>>,
}

/// A metadata file Vox cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("identity provider metadata: {0}")]
pub struct MetadataError(pub String);

impl IdentityProvider {
    /// Reads an `EntityDescriptor` (or an `EntitiesDescriptor` holding
    /// exactly one identity provider): its entity id, its HTTP-Redirect
    /// single sign-on URL and its signing certificates.
    pub fn from_metadata(xml: &str) -> Result<IdentityProvider, MetadataError> {
        let bad = |m: String| MetadataError(m);
        let doc = parse(xml).map_err(|r| bad(r.detail))?;
        let idps: Vec<Node> = doc
            .descendants()
            .filter(|n| is(n, METADATA, "IDPSSODescriptor"))
            .collect();
        let idp = match idps.as_slice() {
            [one] => *one,
            [] => {
                return Err(bad(
                    "no IDPSSODescriptor: is this an identity provider's metadata?".into()
                ))
            }
            _ => return Err(bad("more than one identity provider: upload the metadata of one".into())),
        };
        let entity = idp
            .parent_element()
            .filter(|p| is(p, METADATA, "EntityDescriptor"))
            .ok_or_else(|| bad("the IDPSSODescriptor is not in an EntityDescriptor".into()))?;
        let entity_id = entity
            .attribute("entityID")
            .filter(|e| !e.is_empty())
            .ok_or_else(|| bad("the EntityDescriptor has no entityID".into()))?
            .to_owned();
        let sso_url = idp
            .children()
            .filter(|c| is(c, METADATA, "SingleSignOnService") && c.attribute("Binding") == Some(REDIRECT))
            .find_map(|c| c.attribute("Location"))
            .filter(|l| l.starts_with("https://") || l.starts_with("http://"))
            .ok_or_else(|| bad("no SingleSignOnService with the HTTP-Redirect binding and an http(s) Location".into()))?
            .to_owned();
        let mut certificates = Vec::new();
        for key in idp.children().filter(|c| is(c, METADATA, "KeyDescriptor")) {
            if key.attribute("use").is_some_and(|u| u != "signing") {
                continue;
            }
            for cert in key.descendants().filter(|n| is(n, DSIG, "X509Certificate")) {
                let text: String = text_of(cert)
                    .map_err(bad)?
                    .chars()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                let der = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| bad(format!("an X509Certificate is not base64: {e}")))?;
                X509::from_der(&der).map_err(|e| bad(format!("an X509Certificate is not a certificate: {e}")))?;
                if !certificates.contains(&der) {
                    certificates.push(der);
                }
            }
        }
        if certificates.is_empty() {
            return Err(bad(
                "no signing certificate (KeyDescriptor use=\"signing\" with an X509Certificate)".into(),
            ));
        }
        Ok(IdentityProvider {
            entity_id,
            sso_url,
            certificates,
        })
    }

    fn keys(&self) -> Vec<PKey<Public>> {
        self.certificates
            .iter()
            .filter_map(|der| X509::from_der(der).ok()?.public_key().ok())
            .collect()
    }
}

/// What a validated Response says about who logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub assertion_id: String,
    /// Until when the assertion could be presented (remember its id as long).
    pub expires_at: i64,
    pub name_id: Option<String>,
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
    /// Attribute name (and FriendlyName) → values.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The request it answers (`None`: IdP-initiated).
    pub in_response_to: Option<String>,
}

/// What the Response must match besides the IdP's and SP's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// Unix seconds.
    pub now: i64,
    pub skew_seconds: i64,
    /// The outstanding request of this browser; `None`: none.
    pub request_id: Option<&'a str>,
    /// Whether a Response answering no request is accepted.
    pub idp_initiated: bool,
}

/// The service provider of one tenant.
pub struct ServiceProvider<'a> {
    pub entity_id: &'a str,
    pub acs_url: &'a str,
    /// Signs AuthnRequests and decrypts assertions.
    pub key: &'a PKey<Private>,
    pub certificate: &'a X509,
}

impl ServiceProvider<'_> {
    /// Validates a base64 `SAMLResponse` from the HTTP-POST binding.
    pub fn validate(&self, saml_response: &str, idp: &IdentityProvider, expect: &Expect<'_>) -> Result<Login, Refusal> {
        let xml = decode_response(saml_response)?;
        let doc = parse(&xml)?;
        let keys = idp.keys();
        let root = doc.root_element();
        if !is(&root, PROTOCOL, "Response") {
            return Err(Refusal::new(Check::Structure, "the document is not a SAML Response"));
        }
        unique_ids(&doc)?;
        // Exactly one assertion, plain or encrypted, the Response's child;
        // signatures only on the Response and on that assertion.
        let assertions: Vec<Node> = doc
            .descendants()
            .filter(|n| is(n, ASSERTION, "Assertion") || is(n, ASSERTION, "EncryptedAssertion"))
            .collect();
        let assertion = match assertions.as_slice() {
            [one] if one.parent_element() == Some(root) => *one,
            [_] => {
                return Err(Refusal::new(
                    Check::Structure,
                    "the assertion is not a child of the Response",
                ))
            }
            [] => return Err(Refusal::new(Check::Structure, "the Response holds no assertion")),
            _ => {
                return Err(Refusal::new(
                    Check::Structure,
                    "the Response holds more than one assertion",
                ))
            }
        };
        for s in doc.descendants().filter(|n| is(n, DSIG, "Signature")) {
            if s.parent_element() != Some(root) && s.parent_element() != Some(assertion) {
                return Err(Refusal::new(
                    Check::Structure,
                    "a signature that is neither the Response's nor the assertion's",
                ));
            }
        }
        let response_signed = match dsig::signatures(root).as_slice() {
            [] => false,
            [one] => {
                dsig::verify(root, *one, &keys)?;
                true
            }
            _ => {
                return Err(Refusal::new(
                    Check::Structure,
                    "the Response has more than one signature",
                ))
            }
        };
        self.check_response(root, idp, expect)?;
        if assertion.tag_name().name() == "EncryptedAssertion" {
            let plain = xmlenc::decrypt(assertion, self.key)?;
            let doc = parse(&plain)?;
            unique_ids(&doc)?;
            let inner = doc.root_element();
            if !is(&inner, ASSERTION, "Assertion")
                || doc.descendants().filter(|n| is(n, ASSERTION, "Assertion")).count() != 1
            {
                return Err(Refusal::new(
                    Check::Structure,
                    "the decrypted assertion is not one Assertion",
                ));
            }
            for s in doc.descendants().filter(|n| is(n, DSIG, "Signature")) {
                if s.parent_element() != Some(inner) {
                    return Err(Refusal::new(
                        Check::Structure,
                        "a signature inside the decrypted assertion",
                    ));
                }
            }
            self.check_assertion(inner, response_signed, &keys, idp, expect)
        } else {
            self.check_assertion(assertion, response_signed, &keys, idp, expect)
        }
    }

    fn check_response(&self, root: Node<'_, '_>, idp: &IdentityProvider, expect: &Expect<'_>) -> Result<(), Refusal> {
        if root.attribute("Version") != Some("2.0") {
            return Err(Refusal::new(Check::Structure, "the Response is not SAML 2.0"));
        }
        match root.attribute("Destination") {
            Some(d) if d == self.acs_url => {}
            Some(d) => {
                return Err(Refusal::new(
                    Check::Destination,
                    format!("the Response is for {d:?}, not this tenant's ACS {:?}", self.acs_url),
                ))
            }
            None => return Err(Refusal::new(Check::Destination, "the Response names no Destination")),
        }
        if let Some(issuer) = child(root, ASSERTION, "Issuer")? {
            let issuer = text_of(issuer).map_err(|m| Refusal::new(Check::Issuer, m))?;
            if issuer != idp.entity_id {
                return Err(Refusal::new(
                    Check::Issuer,
                    format!(
                        "the Response is from {issuer:?}, not the tenant's identity provider {:?}",
                        idp.entity_id
                    ),
                ));
            }
        }
        let status = child(root, PROTOCOL, "Status")?
            .ok_or_else(|| Refusal::new(Check::Structure, "the Response has no Status"))?;
        let code = child(status, PROTOCOL, "StatusCode")?
            .and_then(|c| c.attribute("Value"))
            .unwrap_or("");
        if code != SUCCESS {
            return Err(Refusal::new(
                Check::Status,
                format!("the identity provider answered {code:?}"),
            ));
        }
        answers_request(root.attribute("InResponseTo"), expect)
    }

    fn check_assertion(
        &self,
        a: Node<'_, '_>,
        response_signed: bool,
        keys: &[PKey<Public>],
        idp: &IdentityProvider,
        expect: &Expect<'_>,
    ) -> Result<Login, Refusal> {
        match dsig::signatures(a).as_slice() {
            [] if response_signed => {}
            [] => {
                return Err(Refusal::new(
                    Check::Signature,
                    "neither the Response nor the assertion is signed",
                ))
            }
            [one] => dsig::verify(a, *one, keys)?,
            _ => {
                return Err(Refusal::new(
                    Check::Structure,
                    "the assertion has more than one signature",
                ))
            }
        }
        if a.attribute("Version") != Some("2.0") {
            return Err(Refusal::new(Check::Structure, "the assertion is not SAML 2.0"));
        }
        let assertion_id = a
            .attribute("ID")
            .ok_or_else(|| Refusal::new(Check::Structure, "the assertion has no ID"))?
            .to_owned();
        let issuer = child(a, ASSERTION, "Issuer")?
            .ok_or_else(|| Refusal::new(Check::Issuer, "the assertion names no Issuer"))?;
        let issuer = text_of(issuer).map_err(|m| Refusal::new(Check::Issuer, m))?;
        if issuer != idp.entity_id {
            return Err(Refusal::new(
                Check::Issuer,
                format!(
                    "the assertion is from {issuer:?}, not the tenant's identity provider {:?}",
                    idp.entity_id
                ),
            ));
        }
        let skew = expect.skew_seconds;
        // Conditions: the time window and this SP as the audience.
        let conditions = child(a, ASSERTION, "Conditions")?
            .ok_or_else(|| Refusal::new(Check::Audience, "the assertion has no Conditions (no audience)"))?;
        let mut expires_at = i64::MAX;
        if let Some(t) = conditions.attribute("NotBefore") {
            if time(t)? > expect.now + skew {
                return Err(Refusal::new(
                    Check::Time,
                    format!("the assertion is not valid before {t}"),
                ));
            }
        }
        if let Some(t) = conditions.attribute("NotOnOrAfter") {
            let t_at = time(t)?;
            if expect.now - skew >= t_at {
                return Err(Refusal::new(Check::Time, format!("the assertion expired at {t}")));
            }
            expires_at = expires_at.min(t_at);
        }
        let restrictions: Vec<Node> = conditions
            .children()
            .filter(|c| is(c, ASSERTION, "AudienceRestriction"))
            .collect();
        if restrictions.is_empty() {
            return Err(Refusal::new(
                Check::Audience,
                "the assertion has no AudienceRestriction",
            ));
        }
        for r in restrictions {
            let mut audiences = Vec::new();
            for aud in r.children().filter(|c| is(c, ASSERTION, "Audience")) {
                audiences.push(text_of(aud).map_err(|m| Refusal::new(Check::Audience, m))?);
            }
            if !audiences.iter().any(|x| x == self.entity_id) {
                return Err(Refusal::new(
                    Check::Audience,
                    format!(
                        "the assertion is for {audiences:?}, not this tenant's service provider {:?}",
                        self.entity_id
                    ),
                ));
            }
        }
        // The subject: a bearer confirmation for this ACS and request.
        let subject = child(a, ASSERTION, "Subject")?
            .ok_or_else(|| Refusal::new(Check::Subject, "the assertion has no Subject"))?;
        if child(subject, ASSERTION, "EncryptedID")?.is_some() {
            return Err(Refusal::new(
                Check::Subject,
                "an encrypted NameID is not supported: send it in the clear inside the (encrypted) assertion",
            ));
        }
        let (name_id, name_id_format) = match child(subject, ASSERTION, "NameID")? {
            Some(n) => (
                Some(text_of(n).map_err(|m| Refusal::new(Check::Subject, m))?),
                n.attribute("Format").map(str::to_owned),
            ),
            None => (None, None),
        };
        // Any bearer confirmation for this ACS, in time, answering this
        // browser's request; when none is, the first one's failure.
        let mut confirmed = None;
        let mut failure = None;
        for c in subject.children().filter(|c| is(c, ASSERTION, "SubjectConfirmation")) {
            if c.attribute("Method") != Some(BEARER) {
                continue;
            }
            let checked = match child(c, ASSERTION, "SubjectConfirmationData")? {
                Some(data) => self
                    .check_confirmation(data, expect)
                    .map(|until| (until, data.attribute("InResponseTo").map(str::to_owned))),
                None => Err(Refusal::new(
                    Check::Recipient,
                    "a bearer SubjectConfirmation without SubjectConfirmationData",
                )),
            };
            match checked {
                Ok(ok) => {
                    confirmed = Some(ok);
                    break;
                }
                Err(r) => {
                    failure.get_or_insert(r);
                }
            }
        }
        let Some((until, answered)) = confirmed else {
            return Err(failure
                .unwrap_or_else(|| Refusal::new(Check::Recipient, "the assertion has no bearer SubjectConfirmation")));
        };
        expires_at = expires_at.min(until);
        let authn = child(a, ASSERTION, "AuthnStatement")?;
        let session_index = authn.and_then(|s| s.attribute("SessionIndex")).map(str::to_owned);
        if authn.is_none() {
            return Err(Refusal::new(Check::Structure, "the assertion has no AuthnStatement"));
        }
        let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for statement in a.children().filter(|c| is(c, ASSERTION, "AttributeStatement")) {
            for attribute in statement.children().filter(|c| is(c, ASSERTION, "Attribute")) {
                let mut values = Vec::new();
                for v in attribute.children().filter(|c| is(c, ASSERTION, "AttributeValue")) {
                    values.push(text_of(v).map_err(|m| Refusal::new(Check::Subject, m))?);
                }
                for name in [attribute.attribute("Name"), attribute.attribute("FriendlyName")]
                    .into_iter()
                    .flatten()
                {
                    attributes
                        .entry(name.to_owned())
                        .or_default()
                        .extend(values.iter().cloned());
                }
            }
        }
        Ok(Login {
            assertion_id,
            expires_at: if expires_at == i64::MAX {
                expect.now + 300
            } else {
                expires_at
            },
            name_id,
            name_id_format,
            session_index,
            attributes,
            in_response_to: answered,
        })
    }

    /// A bearer confirmation: the ACS, its time and the request it answers;
    /// returns its `NotOnOrAfter`.
    fn check_confirmation(&self, data: Node<'_, '_>, expect: &Expect<'_>) -> Result<i64, Refusal> {
        match data.attribute("Recipient") {
            Some(r) if r == self.acs_url => {}
            Some(r) => {
                return Err(Refusal::new(
                    Check::Recipient,
                    format!(
                        "the assertion's Recipient is {r:?}, not this tenant's ACS {:?}",
                        self.acs_url
                    ),
                ))
            }
            None => {
                return Err(Refusal::new(
                    Check::Recipient,
                    "the bearer confirmation names no Recipient",
                ))
            }
        }
        let until = data
            .attribute("NotOnOrAfter")
            .ok_or_else(|| Refusal::new(Check::Time, "the bearer confirmation has no NotOnOrAfter"))?;
        let until_at = time(until)?;
        if expect.now - expect.skew_seconds >= until_at {
            return Err(Refusal::new(
                Check::Time,
                format!("the bearer confirmation expired at {until}"),
            ));
        }
        if let Some(t) = data.attribute("NotBefore") {
            if time(t)? > expect.now + expect.skew_seconds {
                return Err(Refusal::new(
                    Check::Time,
                    format!("the bearer confirmation is not valid before {t}"),
                ));
            }
        }
        answers_request(data.attribute("InResponseTo"), expect)?;
        Ok(until_at)
    }
}

/// A Response's or confirmation's `InResponseTo` against the browser's
/// outstanding request.
fn answers_request(answered: Option<&str>, expect: &Expect<'_>) -> Result<(), Refusal> {
    match (expect.request_id, answered) {
        (Some(ours), Some(theirs)) if ours == theirs => Ok(()),
        (Some(ours), Some(theirs)) => Err(Refusal::new(
            Check::InResponseTo,
            format!("the Response answers request {theirs:?}, not this browser's {ours:?}"),
        )),
        (Some(ours), None) => Err(Refusal::new(
            Check::InResponseTo,
            format!("the Response answers no request, but this browser's is {ours:?}"),
        )),
        (None, Some(theirs)) => Err(Refusal::new(
            Check::InResponseTo,
            format!("the Response answers request {theirs:?}, which this browser did not make (or it expired)"),
        )),
        (None, None) if expect.idp_initiated => Ok(()),
        (None, None) => Err(Refusal::new(
            Check::InResponseTo,
            "an unsolicited Response (IdP-initiated login), which this tenant does not allow: start the login at Vox",
        )),
    }
}

/// The `InResponseTo` a base64 `SAMLResponse` claims, unverified: only to
/// find the service provider's own record of the request, which
/// [`ServiceProvider::validate`] then requires the signed Response to
/// answer exactly. `None` when there is none or the document is unreadable.
pub fn in_response_to(saml_response: &str) -> Option<String> {
    let xml = decode_response(saml_response).ok()?;
    let doc = parse(&xml).ok()?;
    let root = doc.root_element();
    is(&root, PROTOCOL, "Response")
        .then(|| root.attribute("InResponseTo").map(str::to_owned))
        .flatten()
}

/// The base64 of the POST binding, decoded, within the size bound.
fn decode_response(saml_response: &str) -> Result<String, Refusal> {
    let bad = |m: String| Refusal::new(Check::Xml, m);
    if saml_response.len() > MAX_RESPONSE_BYTES * 4 / 3 + 4096 {
        return Err(bad(format!(
            "the SAMLResponse is larger than {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    let compact: String = saml_response.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| bad(format!("the SAMLResponse is not base64: {e}")))?;
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(bad(format!(
            "the SAMLResponse is larger than {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    String::from_utf8(bytes).map_err(|_| bad("the SAMLResponse is not UTF-8".into()))
}

/// Parses with no DTD (so no entities) and at most [`MAX_NODES`] nodes.
fn parse(xml: &str) -> Result<Document<'_>, Refusal> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(xml, options)
        .map_err(|e| Refusal::new(Check::Xml, format!("not well-formed XML (or a DTD): {e}")))
}

/// No two elements carry the same ID (`ID`, `Id` or `id`): a reference
/// resolves to one element or the document is refused.
fn unique_ids(doc: &Document<'_>) -> Result<(), Refusal> {
    let mut seen = std::collections::BTreeSet::new();
    for n in doc.descendants().filter(Node::is_element) {
        for name in ["ID", "Id", "id"] {
            if let Some(v) = n.attribute(name) {
                if !seen.insert(v) {
                    return Err(Refusal::new(
                        Check::Structure,
                        format!("two elements have the ID {v:?}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn is(n: &Node<'_, '_>, namespace: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(namespace) && n.tag_name().name() == name
}

/// The one child element `name` of `node`, if any (two are refused).
fn child<'a, 'i>(node: Node<'a, 'i>, namespace: &str, name: &str) -> Result<Option<Node<'a, 'i>>, Refusal> {
    let mut found = node.children().filter(|c| is(c, namespace, name));
    match (found.next(), found.next()) {
        (one, None) => Ok(one),
        _ => Err(Refusal::new(
            Check::Structure,
            format!("<{}> has more than one <{name}>", node.tag_name().name()),
        )),
    }
}

/// An element's whole text: every text child joined (a comment inside
/// does not cut it short); an element with element children is refused.
pub(crate) fn text_of(node: Node<'_, '_>) -> Result<String, String> {
    if node.children().any(|c| c.is_element()) {
        return Err(format!(
            "<{}> holds elements where text belongs",
            node.tag_name().name()
        ));
    }
    Ok(node
        .children()
        .filter(Node::is_text)
        .filter_map(|c| c.text())
        .collect::<String>()
        .trim()
        .to_owned())
}

/// An `xs:dateTime` as unix seconds.
fn time(text: &str) -> Result<i64, Refusal> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| Refusal::new(Check::Time, format!("{text:?} is not a time (xs:dateTime in UTC)")))
}

/// The signature algorithm of AuthnRequests (HTTP-Redirect binding).
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

impl ServiceProvider<'_> {
    /// The AuthnRequest `id` (unique, an NCName: start it with a letter or
    /// `_`) at `issue_instant` (`xs:dateTime`, UTC).
    pub fn authn_request(&self, id: &str, issue_instant: &str, idp: &IdentityProvider) -> String {
        format!(
            "<samlp:AuthnRequest xmlns:samlp=\"{PROTOCOL}\" xmlns:saml=\"{ASSERTION}\" ID=\"{}\" Version=\"2.0\" \
             IssueInstant=\"{}\" Destination=\"{}\" AssertionConsumerServiceURL=\"{}\" ProtocolBinding=\"{POST}\">\
             <saml:Issuer>{}</saml:Issuer><samlp:NameIDPolicy Format=\"{EMAIL_FORMAT}\" AllowCreate=\"true\"/>\
             </samlp:AuthnRequest>",
            xml_escape(id),
            xml_escape(issue_instant),
            xml_escape(&idp.sso_url),
            xml_escape(self.acs_url),
            xml_escape(self.entity_id),
        )
    }

    /// Where to send the browser (HTTP-Redirect binding): the identity
    /// provider's SSO URL with the AuthnRequest DEFLATE-compressed, base64-
    /// and URL-encoded, the `relay_state`, and the signature (RSA-SHA256
    /// over `SAMLRequest=…&RelayState=…&SigAlg=…` as sent).
    pub fn authn_request_url(
        &self,
        idp: &IdentityProvider,
        id: &str,
        issue_instant: &str,
        relay_state: Option<&str>,
    ) -> Result<String, openssl::error::ErrorStack> {
        use std::io::Write;
        let xml = self.authn_request(id, issue_instant, idp);
        let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing to a Vec cannot fail.
        let _ = deflate.write_all(xml.as_bytes());
        let compressed = deflate.finish().unwrap_or_default();
        let encoded = base64::engine::general_purpose::STANDARD.encode(compressed);
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("SAMLRequest", &encoded);
        if let Some(r) = relay_state {
            query.append_pair("RelayState", r);
        }
        query.append_pair("SigAlg", RSA_SHA256);
        let signed = query.finish();
        let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), self.key)?;
        let signature = signer.sign_oneshot_to_vec(signed.as_bytes())?;
        let signature = base64::engine::general_purpose::STANDARD.encode(signature);
        let tail = form_urlencoded::Serializer::new(String::new())
            .append_pair("Signature", &signature)
            .finish();
        let joiner = if idp.sso_url.contains('?') { '&' } else { '?' };
        Ok(format!("{}{joiner}{signed}&{tail}", idp.sso_url))
    }

    /// The service provider's metadata for the identity provider: entity id,
    /// the ACS (HTTP-POST), the NameID format (e-mail) and the certificate
    /// that signs AuthnRequests and that assertions may be encrypted to.
    pub fn metadata(&self) -> Result<String, openssl::error::ErrorStack> {
        let der = self.certificate.to_der()?;
        let certificate = base64::engine::general_purpose::STANDARD.encode(der);
        let key = |usage: &str| {
            format!(
                "<md:KeyDescriptor use=\"{usage}\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate}\
                 </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            )
        };
        Ok(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <md:EntityDescriptor xmlns:md=\"{METADATA}\" xmlns:ds=\"{DSIG}\" entityID=\"{}\">\
             <md:SPSSODescriptor AuthnRequestsSigned=\"true\" WantAssertionsSigned=\"true\" \
             protocolSupportEnumeration=\"{PROTOCOL}\">{}{}<md:NameIDFormat>{EMAIL_FORMAT}</md:NameIDFormat>\
             <md:AssertionConsumerService Binding=\"{POST}\" Location=\"{}\" index=\"0\" isDefault=\"true\"/>\
             </md:SPSSODescriptor></md:EntityDescriptor>\n",
            xml_escape(self.entity_id),
            key("signing"),
            key("encryption"),
            xml_escape(self.acs_url),
        ))
    }
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A new key (RSA 2048) and a self-signed certificate for it, valid ten
/// years, with `common_name`: the service provider's, which signs
/// AuthnRequests and which assertions are encrypted to (RSA, because
/// identity providers wrap keys with RSA-OAEP).
pub fn generate_key(common_name: &str) -> Result<(PKey<Private>, X509), openssl::error::ErrorStack> {
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    use openssl::x509::X509NameBuilder;
    let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", common_name)?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(3650)?);
    builder.set_not_before(&from)?;
    builder.set_not_after(&until)?;
    builder.sign(&key, openssl::hash::MessageDigest::sha256())?;
    Ok((key, builder.build()))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn provider_parts() -> (PKey<Private>, X509) {
        generate_key("vox-test").expect("a key")
    }

    fn idp() -> IdentityProvider {
        IdentityProvider {
            entity_id: "https://idp.example/metadata".into(),
            sso_url: "https://idp.example/sso?tenant=acme".into(),
            certificates: Vec::new(),
        }
    }

    #[test]
    fn an_authn_request_url_is_deflated_signed_and_carries_the_relay_state() {
        let (key, certificate) = provider_parts();
        let sp = ServiceProvider {
            entity_id: "https://vox.example/v1/sso/acme/metadata",
            acs_url: "https://vox.example/v1/sso/acme/acs",
            key: &key,
            certificate: &certificate,
        };
        let url = sp
            .authn_request_url(&idp(), "_r1", "2026-11-30T18:00:00Z", Some("/feedback?x=1&y=<2>"))
            .expect("a URL");
        let (base, query) = url.split_once("?tenant=acme&").expect("the SSO URL's own query kept");
        assert_eq!(base, "https://idp.example/sso");
        let pairs: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        assert_eq!(pairs["RelayState"], "/feedback?x=1&y=<2>");
        assert_eq!(pairs["SigAlg"], RSA_SHA256);
        // The signature is over the query as sent, up to the Signature.
        let signed = &query[..query.find("&Signature=").expect("a signature")];
        let signature = base64::engine::general_purpose::STANDARD
            .decode(&pairs["Signature"])
            .expect("base64");
        let public = certificate.public_key().expect("public key");
        let mut verifier =
            openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &public).expect("verifier");
        assert!(verifier.verify_oneshot(&signature, signed.as_bytes()).expect("verify"));
        // DEFLATE (raw), base64: the AuthnRequest.
        let compressed = base64::engine::general_purpose::STANDARD
            .decode(&pairs["SAMLRequest"])
            .expect("base64");
        let mut xml = String::new();
        flate2::read::DeflateDecoder::new(compressed.as_slice())
            .read_to_string(&mut xml)
            .expect("inflate");
        let doc = Document::parse(&xml).expect("xml");
        let request = doc.root_element();
        assert!(is(&request, PROTOCOL, "AuthnRequest"));
        assert_eq!(request.attribute("ID"), Some("_r1"));
        assert_eq!(
            request.attribute("Destination"),
            Some("https://idp.example/sso?tenant=acme")
        );
        assert_eq!(request.attribute("AssertionConsumerServiceURL"), Some(sp.acs_url));
        assert_eq!(request.attribute("ProtocolBinding"), Some(POST));
        let issuer = child(request, ASSERTION, "Issuer").expect("one").expect("an Issuer");
        assert_eq!(text_of(issuer).expect("text"), sp.entity_id);
    }

    #[test]
    fn the_sp_metadata_names_the_acs_and_the_certificate_and_escapes_urls() {
        let (key, certificate) = provider_parts();
        let sp = ServiceProvider {
            entity_id: "https://vox.example/v1/sso/a&b/metadata",
            acs_url: "https://vox.example/v1/sso/a&b/acs",
            key: &key,
            certificate: &certificate,
        };
        let xml = sp.metadata().expect("metadata");
        let doc = Document::parse(&xml).expect("xml");
        let root = doc.root_element();
        assert_eq!(root.attribute("entityID"), Some(sp.entity_id));
        let acs = doc
            .descendants()
            .find(|n| is(n, METADATA, "AssertionConsumerService"))
            .expect("an ACS");
        assert_eq!(acs.attribute("Location"), Some(sp.acs_url));
        assert_eq!(acs.attribute("Binding"), Some(POST));
        let uses: Vec<&str> = doc
            .descendants()
            .filter(|n| is(n, METADATA, "KeyDescriptor"))
            .filter_map(|n| n.attribute("use"))
            .collect();
        assert_eq!(uses, ["signing", "encryption"]);
        let der = certificate.to_der().expect("der");
        for cert in doc.descendants().filter(|n| is(n, DSIG, "X509Certificate")) {
            let text = text_of(cert).expect("text");
            assert_eq!(
                base64::engine::general_purpose::STANDARD.decode(text).expect("b64"),
                der
            );
        }
    }

    #[test]
    fn idp_metadata_without_what_vox_needs_is_refused_with_what_is_missing() {
        let cases = [
            ("<x/>", "no IDPSSODescriptor"),
            ("not xml", "XML"),
            (
                r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="e"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://i/sso"/></IDPSSODescriptor></EntityDescriptor>"#,
                "HTTP-Redirect",
            ),
            (
                r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="e"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://i/sso"/></IDPSSODescriptor></EntityDescriptor>"#,
                "no signing certificate",
            ),
            (
                r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><IDPSSODescriptor/></EntityDescriptor>"#,
                "no entityID",
            ),
        ];
        for (xml, says) in cases {
            let e = IdentityProvider::from_metadata(xml).expect_err("refused");
            assert!(e.to_string().contains(says), "{e} (expected {says:?})");
        }
    }
}
