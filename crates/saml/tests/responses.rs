//! Responses made by a real identity provider (pysaml2 7.5.5 with xmlsec1,
//! `tests/fixtures/make.py`) validated at the time they were made, and each
//! attack made from them: every one refused by the check it is about.

use base64::Engine;
use openssl::pkey::PKey;
use openssl::x509::X509;
use saml::{Check, Expect, IdentityProvider, Login, ServiceProvider};

const ACS: &str = "http://localhost:8080/saml/acs";
const SP: &str = "https://sp.test/saml/metadata";
const REQUEST: &str = "id-req-1";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn idp() -> IdentityProvider {
    IdentityProvider::from_metadata(&fixture("idp_md.xml")).expect("the IdP's metadata")
}

/// The unix time of an `xs:dateTime` in a fixture.
fn at(text: &str) -> i64 {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .expect("a time")
        .unix_timestamp()
}

/// The fixture's IssueInstant, and a few seconds.
fn issued(xml: &str) -> i64 {
    let start = xml.find("IssueInstant=\"").expect("IssueInstant") + 14;
    at(&xml[start..start + 20]) + 5
}

fn expect(now: i64) -> Expect<'static> {
    Expect {
        now,
        skew_seconds: 60,
        request_id: Some(REQUEST),
        idp_initiated: false,
    }
}

struct Sp {
    key: PKey<openssl::pkey::Private>,
    certificate: X509,
}

fn sp() -> Sp {
    Sp {
        key: PKey::private_key_from_pem(fixture("sp.key").as_bytes()).expect("the SP's key"),
        certificate: X509::from_pem(fixture("sp.crt").as_bytes()).expect("the SP's certificate"),
    }
}

fn validate_as(
    xml: &str,
    entity_id: &str,
    acs: &str,
    idp: &IdentityProvider,
    expect: &Expect<'_>,
) -> Result<Login, saml::Refusal> {
    let keys = sp();
    let provider = ServiceProvider {
        entity_id,
        acs_url: acs,
        key: &keys.key,
        certificate: &keys.certificate,
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(xml);
    provider.validate(&encoded, idp, expect)
}

fn validate(xml: &str) -> Result<Login, saml::Refusal> {
    validate_as(xml, SP, ACS, &idp(), &expect(issued(xml)))
}

fn refused(xml: &str, check: Check) -> saml::Refusal {
    let refusal = validate(xml).expect_err("a refusal");
    assert_eq!(refusal.check, check, "{refusal}");
    refusal
}

#[test]
fn a_response_signed_whole_or_in_its_assertion_or_both_is_a_login() {
    for name in ["signed_resp.xml", "signed_assertion.xml", "signed_both.xml"] {
        let login = validate(&fixture(name)).unwrap_or_else(|r| panic!("{name}: {r}"));
        assert_eq!(login.name_id.as_deref(), Some("admin@acme.fi.evil.com"), "{name}");
        assert_eq!(login.in_response_to.as_deref(), Some(REQUEST));
        assert_eq!(
            login.attributes.get("mail").map(Vec::as_slice),
            Some(&["admin@acme.fi.evil.com".to_owned()][..])
        );
        assert!(login.assertion_id.starts_with("id-"), "{}", login.assertion_id);
    }
}

#[test]
fn an_ecdsa_signature_verifies_with_the_idps_ec_certificate() {
    let xml = fixture("ec_signed_both.xml");
    let idp = IdentityProvider::from_metadata(&fixture("idpec_md.xml")).expect("metadata");
    let login = validate_as(&xml, SP, ACS, &idp, &expect(issued(&xml))).expect("a login");
    assert_eq!(login.name_id.as_deref(), Some("admin@acme.fi"));
}

#[test]
fn an_encrypted_assertion_decrypts_with_the_sps_key_in_every_cipher_pysaml2_offers() {
    for name in [
        "enc_signed_resp.xml", // triple DES, pysaml2's default
        "enc_aes128-cbc.xml",
        "enc_aes256-cbc.xml",
        "enc_aes128-gcm.xml",
        "enc_aes256-gcm.xml",
    ] {
        let login = validate(&fixture(name)).unwrap_or_else(|r| panic!("{name}: {r}"));
        assert_eq!(login.name_id.as_deref(), Some("admin@acme.fi.evil.com"), "{name}");
    }
}

#[test]
fn a_comment_in_the_name_id_does_not_cut_it_short() {
    // The signature covers the text without the comment, so it verifies;
    // the whole text is the name, not what precedes the comment.
    let xml = fixture("signed_assertion.xml").replace("admin@acme.fi.evil.com</", "admin@acme.fi<!---->.evil.com</");
    assert!(xml.contains("<!---->"));
    let login = validate(&xml).expect("a login");
    assert_eq!(login.name_id.as_deref(), Some("admin@acme.fi.evil.com"));
}

#[test]
fn an_unsigned_response_is_refused() {
    refused(&fixture("unsigned.xml"), Check::Signature);
}

#[test]
fn a_changed_assertion_is_refused() {
    let xml = fixture("signed_assertion.xml").replace("admin@acme.fi.evil.com</", "admin@acme.fi</");
    let r = refused(&xml, Check::Signature);
    assert!(r.detail.contains("digest"), "{r}");
    let xml = fixture("signed_resp.xml").replace("admin@acme.fi.evil.com</", "admin@acme.fi</");
    refused(&xml, Check::Signature);
}

#[test]
fn a_signature_by_another_key_is_refused() {
    // The EC identity provider's certificate for the RSA one's response.
    let xml = fixture("signed_both.xml");
    let other = IdentityProvider {
        certificates: IdentityProvider::from_metadata(&fixture("idpec_md.xml"))
            .expect("md")
            .certificates,
        ..idp()
    };
    let r = validate_as(&xml, SP, ACS, &other, &expect(issued(&xml))).expect_err("refused");
    assert_eq!(r.check, Check::Signature, "{r}");
}

#[test]
fn any_configured_certificate_verifies_during_a_rollover() {
    // Another RSA certificate first (it does not verify), the one that
    // signed second.
    let xml = fixture("signed_both.xml");
    let other = X509::from_pem(fixture("sp.crt").as_bytes()).expect("a certificate");
    let mut certificates = vec![other.to_der().expect("der")];
    certificates.extend(idp().certificates);
    let both = IdentityProvider { certificates, ..idp() };
    let login = validate_as(&xml, SP, ACS, &both, &expect(issued(&xml))).expect("a login");
    assert_eq!(login.name_id.as_deref(), Some("admin@acme.fi.evil.com"));
}

/// The assertion of `xml` (from its start tag to its end tag).
fn assertion_of(xml: &str) -> (usize, usize) {
    let start = xml.find("<ns1:Assertion ").expect("an assertion");
    let end = xml.find("</ns1:Assertion>").expect("its end") + "</ns1:Assertion>".len();
    (start, end)
}

/// A second assertion for someone else, unsigned, with its own ID.
fn evil(signed: &str) -> String {
    let (start, end) = assertion_of(signed);
    let mut evil = signed[start..end].replace("admin@acme.fi.evil.com", "ceo@acme.fi");
    let sig_start = evil.find("<ns2:Signature").expect("signature");
    let sig_end = evil.find("</ns2:Signature>").expect("end") + "</ns2:Signature>".len();
    evil.replace_range(sig_start..sig_end, "");
    let id_start = evil.find("ID=\"").expect("ID") + 4;
    let id_end = id_start + evil[id_start..].find('"').expect("end");
    evil.replace_range(id_start..id_end, "evil-1");
    evil
}

#[test]
fn signature_wrapping_is_refused_in_every_placement() {
    let signed = fixture("signed_assertion.xml");
    let (start, end) = assertion_of(&signed);
    let evil = evil(&signed);
    // An injected assertion before, or after, the signed one.
    let before = format!("{}{evil}{}", &signed[..start], &signed[start..]);
    let r = refused(&before, Check::Structure);
    assert!(r.detail.contains("more than one assertion"), "{r}");
    let after = format!("{}{evil}{}", &signed[..end], &signed[end..]);
    refused(&after, Check::Structure);
    // The signed assertion moved inside the injected one (XSW: the
    // signature still verifies over the element it references).
    let inner = &signed[start..end];
    let close = evil.rfind("</ns1:Assertion>").expect("end");
    let wrapping = format!("{}{}{}", &evil[..close], inner, &evil[close..]);
    let wrapped = format!("{}{wrapping}{}", &signed[..start], &signed[end..]);
    refused(&wrapped, Check::Structure);
    // The signed assertion moved into the Response's Extensions and the
    // injected one put in its place.
    let extensions = format!("<ns0:Extensions>{inner}</ns0:Extensions>");
    let issuer_end = signed.find("</ns1:Issuer>").expect("issuer") + "</ns1:Issuer>".len();
    let moved = format!(
        "{}{extensions}{}{evil}{}",
        &signed[..issuer_end],
        &signed[issuer_end..start],
        &signed[end..]
    );
    refused(&moved, Check::Structure);
}

#[test]
fn a_response_signature_does_not_cover_an_assertion_swapped_in() {
    // Signed Response, its assertion replaced by another: the digest of
    // the Response no longer matches.
    let signed = fixture("signed_resp.xml");
    let (start, end) = assertion_of(&signed);
    let evil = evil(&fixture("signed_assertion.xml"));
    let swapped = format!("{}{evil}{}", &signed[..start], &signed[end..]);
    refused(&swapped, Check::Signature);
}

#[test]
fn an_expired_or_early_assertion_is_refused_beyond_the_skew() {
    let xml = fixture("signed_both.xml");
    let now = issued(&xml);
    // Five minutes of validity, 60 s of skew.
    assert!(validate_as(&xml, SP, ACS, &idp(), &expect(now + 300 + 50)).is_ok());
    let r = validate_as(&xml, SP, ACS, &idp(), &expect(now + 300 + 70)).expect_err("expired");
    assert_eq!(r.check, Check::Time, "{r}");
    let r = validate_as(&xml, SP, ACS, &idp(), &expect(now - 120)).expect_err("early");
    assert_eq!(r.check, Check::Time, "{r}");
}

#[test]
fn another_audience_destination_or_issuer_is_refused() {
    let xml = fixture("signed_both.xml");
    let e = expect(issued(&xml));
    let r = validate_as(&xml, "https://other.test/saml/metadata", ACS, &idp(), &e).expect_err("audience");
    assert_eq!(r.check, Check::Audience, "{r}");
    // Another tenant's ACS: the Response's Destination is refused first.
    let r = validate_as(&xml, SP, "http://localhost:8080/saml/acs/other", &idp(), &e).expect_err("destination");
    assert_eq!(r.check, Check::Destination, "{r}");
    let other = IdentityProvider {
        entity_id: "https://other-idp.test/metadata".into(),
        ..idp()
    };
    let r = validate_as(&xml, SP, ACS, &other, &e).expect_err("issuer");
    assert_eq!(r.check, Check::Issuer, "{r}");
}

#[test]
fn a_recipient_other_than_the_acs_is_refused() {
    // Only the assertion is signed: the Response's Destination may be
    // made right, the signed Recipient may not.
    let xml = fixture("signed_assertion.xml").replace(
        &format!("Destination=\"{ACS}\""),
        "Destination=\"http://localhost:8080/saml/acs/b\"",
    );
    let r = validate_as(
        &xml,
        SP,
        "http://localhost:8080/saml/acs/b",
        &idp(),
        &expect(issued(&xml)),
    )
    .expect_err("recipient");
    assert_eq!(r.check, Check::Recipient, "{r}");
}

#[test]
fn an_answer_to_another_request_or_unsolicited_is_refused() {
    let xml = fixture("signed_both.xml");
    let now = issued(&xml);
    let other = Expect {
        request_id: Some("id-req-2"),
        ..expect(now)
    };
    let r = validate_as(&xml, SP, ACS, &idp(), &other).expect_err("another request");
    assert_eq!(r.check, Check::InResponseTo, "{r}");
    // No request outstanding for this browser: IdP-initiated, on or off,
    // cannot accept an answer to a request.
    for idp_initiated in [false, true] {
        let none = Expect {
            request_id: None,
            idp_initiated,
            ..expect(now)
        };
        let r = validate_as(&xml, SP, ACS, &idp(), &none).expect_err("no request");
        assert_eq!(r.check, Check::InResponseTo, "{r}");
    }
    // An unsolicited response: refused unless the tenant allows it.
    let unsolicited = fixture("unsolicited.xml");
    let now = issued(&unsolicited);
    let off = Expect {
        request_id: None,
        ..expect(now)
    };
    let r = validate_as(&unsolicited, SP, ACS, &idp(), &off).expect_err("IdP-initiated off");
    assert_eq!(r.check, Check::InResponseTo, "{r}");
    let on = Expect {
        idp_initiated: true,
        ..off
    };
    let login = validate_as(&unsolicited, SP, ACS, &idp(), &on).expect("IdP-initiated on");
    assert_eq!(login.in_response_to, None);
}

#[test]
fn malformed_documents_are_refused_before_any_other_check() {
    for xml in [
        "not xml",
        "<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>",
        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">",
    ] {
        let r = validate_as(xml, SP, ACS, &idp(), &expect(0)).expect_err("malformed");
        assert_eq!(r.check, Check::Xml, "{r}");
    }
    let assertion = "<Assertion xmlns=\"urn:oasis:names:tc:SAML:2.0:assertion\"/>";
    let r = validate_as(assertion, SP, ACS, &idp(), &expect(0)).expect_err("not a response");
    assert_eq!(r.check, Check::Structure, "{r}");
    assert!(r.detail.contains("not a SAML Response"), "{r}");
    let keys = sp();
    let provider = ServiceProvider {
        entity_id: SP,
        acs_url: ACS,
        key: &keys.key,
        certificate: &keys.certificate,
    };
    let r = provider.validate("%%%", &idp(), &expect(0)).expect_err("not base64");
    assert_eq!(r.check, Check::Xml);
    let huge = base64::engine::general_purpose::STANDARD.encode(vec![b'a'; saml::MAX_RESPONSE_BYTES + 1]);
    let r = provider.validate(&huge, &idp(), &expect(0)).expect_err("too large");
    assert_eq!(r.check, Check::Xml);
}

#[test]
fn duplicate_ids_are_refused() {
    let xml = fixture("signed_assertion.xml");
    let id_start = xml.find("<ns1:Assertion ").expect("assertion");
    let id = &xml[id_start..];
    let s = id.find("ID=\"").expect("ID") + 4;
    let value = &id[s..s + id[s..].find('"').expect("end")];
    let dup = xml.replacen("<ns1:Issuer", &format!("<ns1:Issuer ID=\"{value}\""), 1);
    refused(&dup, Check::Structure);
}

/// Metadata as Entra ID, Okta, Google Workspace and Keycloak publish it
/// (`tests/fixtures/metadata/SOURCES.md`: where each copy comes from).
#[test]
fn the_metadata_of_four_identity_products_is_read() {
    let cases = [
        // A byte-order mark, a signature, WS-Federation role descriptors, two keys.
        (
            "entra.xml",
            "https://sts.windows.net/8bd6e98d-",
            "https://login.windows.net/8bd6e98d-",
            2,
        ),
        (
            "okta.xml",
            "http://www.okta.com/exkppsa1qwuFV4D7z0h7",
            "https://dev-513394.oktapreview.com/app/",
            1,
        ),
        (
            "google.xml",
            "https://accounts.google.com/o/saml2?idpid=C023zw3x8",
            "https://accounts.google.com/o/saml2/idp?idpid=C023zw3x8",
            2,
        ),
        // An EntitiesDescriptor around one EntityDescriptor.
        (
            "keycloak.xml",
            "http://localhost:8080/auth/realms/master",
            "http://localhost:8080/auth/realms/master/protocol/saml",
            2,
        ),
    ];
    for (file, entity, sso, certificates) in cases {
        let xml = fixture(&format!("metadata/{file}"));
        let idp = IdentityProvider::from_metadata(&xml).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(idp.entity_id.starts_with(entity), "{file}: {}", idp.entity_id);
        assert!(idp.sso_url.starts_with(sso), "{file}: {}", idp.sso_url);
        assert_eq!(idp.certificates.len(), certificates, "{file}");
    }
}
