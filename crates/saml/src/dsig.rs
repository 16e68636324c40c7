//! XML-DSig as SAML uses it: an enveloped signature, the direct child of the
//! element it signs, with exactly one reference, to that element's `ID`,
//! canonicalized by exclusive C14N. Verified with the configured
//! certificates only (a `KeyInfo` in the message is ignored).

use base64::Engine;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Public};
use openssl::sign::Verifier;
use roxmltree::Node;

use crate::c14n;
use crate::{Check, Refusal, DSIG};

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// The signature methods accepted (SHA-1 is not).
fn signature_method(uri: &str) -> Option<(MessageDigest, bool)> {
    // (digest, ecdsa)
    Some(match uri {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => (MessageDigest::sha256(), false),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => (MessageDigest::sha384(), false),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => (MessageDigest::sha512(), false),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => (MessageDigest::sha256(), true),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => (MessageDigest::sha384(), true),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => (MessageDigest::sha512(), true),
        _ => return None,
    })
}

fn digest_method(uri: &str) -> Option<MessageDigest> {
    Some(match uri {
        "http://www.w3.org/2001/04/xmlenc#sha256" => MessageDigest::sha256(),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => MessageDigest::sha384(),
        "http://www.w3.org/2001/04/xmlenc#sha512" => MessageDigest::sha512(),
        _ => return None,
    })
}

/// The element's direct `ds:Signature` children.
pub fn signatures<'a, 'i>(element: Node<'a, 'i>) -> Vec<Node<'a, 'i>> {
    element
        .children()
        .filter(|c| c.is_element() && c.tag_name().namespace() == Some(DSIG) && c.tag_name().name() == "Signature")
        .collect()
}

/// Verifies `signature` (a direct child of `element`) over `element` with one
/// of `keys`.
pub fn verify(element: Node<'_, '_>, signature: Node<'_, '_>, keys: &[PKey<Public>]) -> Result<(), Refusal> {
    let bad = |why: String| Refusal::new(Check::Signature, why);
    let id = element
        .attribute("ID")
        .ok_or_else(|| bad(format!("the signed <{}> has no ID", element.tag_name().name())))?;
    let signed_info = only_child(signature, DSIG, "SignedInfo").map_err(bad)?;
    let canonicalization = only_child(signed_info, DSIG, "CanonicalizationMethod").map_err(bad)?;
    if canonicalization.attribute("Algorithm") != Some(EXC_C14N) {
        return Err(bad(format!(
            "canonicalization {:?} is not exclusive C14N without comments",
            canonicalization.attribute("Algorithm").unwrap_or("")
        )));
    }
    let method_uri = only_child(signed_info, DSIG, "SignatureMethod")
        .map_err(bad)?
        .attribute("Algorithm")
        .unwrap_or("");
    let (digest, ecdsa) = signature_method(method_uri).ok_or_else(|| {
        bad(format!(
            "signature method {method_uri:?} is not accepted (RSA or ECDSA with SHA-256, -384 or -512)"
        ))
    })?;
    let reference = only_child(signed_info, DSIG, "Reference").map_err(bad)?;
    if reference.attribute("URI") != Some(&format!("#{id}")) {
        return Err(bad(format!(
            "the signature references {:?}, not the element it is in (#{id})",
            reference.attribute("URI").unwrap_or("")
        )));
    }
    // Transforms: the enveloped signature, then exclusive C14N, nothing else.
    let transforms = only_child(reference, DSIG, "Transforms").map_err(bad)?;
    let list: Vec<Node> = transforms.children().filter(Node::is_element).collect();
    let algorithms: Vec<&str> = list.iter().map(|t| t.attribute("Algorithm").unwrap_or("")).collect();
    if algorithms != [ENVELOPED, EXC_C14N] || list.iter().any(|t| t.tag_name().name() != "Transform") {
        return Err(bad(format!(
            "transforms {algorithms:?} are not the enveloped signature and exclusive C14N"
        )));
    }
    let prefixes = inclusive_prefixes(list[1]);
    let digest_uri = only_child(reference, DSIG, "DigestMethod")
        .map_err(bad)?
        .attribute("Algorithm")
        .unwrap_or("");
    let digest_of_reference = digest_method(digest_uri).ok_or_else(|| {
        bad(format!(
            "digest method {digest_uri:?} is not accepted (SHA-256, -384 or -512)"
        ))
    })?;
    let expected = base64_of(only_child(reference, DSIG, "DigestValue").map_err(bad)?).map_err(bad)?;
    let canonical = c14n::exclusive(element, Some(signature.id()), &prefixes);
    let actual =
        openssl::hash::hash(digest_of_reference, canonical.as_bytes()).map_err(|e| bad(format!("digest: {e}")))?;
    if *actual != *expected.as_slice() {
        return Err(bad(format!(
            "the digest of <{}> does not match: it was changed after signing",
            element.tag_name().name()
        )));
    }
    let signed = c14n::exclusive(signed_info, None, &inclusive_prefixes(canonicalization));
    let value = base64_of(only_child(signature, DSIG, "SignatureValue").map_err(bad)?).map_err(bad)?;
    // XML-DSig carries an ECDSA signature as r || s; OpenSSL wants DER.
    let value = if ecdsa {
        let half = value.len() / 2;
        BigNum::from_slice(&value[..half])
            .and_then(|r| Ok((r, BigNum::from_slice(&value[half..])?)))
            .and_then(|(r, s)| EcdsaSig::from_private_components(r, s))
            .and_then(|sig| sig.to_der())
            .map_err(|_| bad("the ECDSA signature value is not r || s".into()))?
    } else {
        value
    };
    for key in keys.iter().filter(|k| (k.id() == Id::EC) == ecdsa) {
        let verified = Verifier::new(digest, key)
            .and_then(|mut v| v.verify_oneshot(&value, signed.as_bytes()))
            .unwrap_or(false);
        if verified {
            return Ok(());
        }
    }
    Err(bad(format!(
        "the signature of <{}> does not verify with any configured certificate of the identity provider",
        element.tag_name().name()
    )))
}

/// The `PrefixList` of a transform's or canonicalization's
/// `InclusiveNamespaces`.
fn inclusive_prefixes<'a>(node: Node<'a, '_>) -> Vec<&'a str> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == "InclusiveNamespaces")
        .and_then(|c| c.attribute("PrefixList"))
        .map(|list| list.split_ascii_whitespace().collect())
        .unwrap_or_default()
}

/// The one child element `name` in `namespace`.
pub fn only_child<'a, 'i>(node: Node<'a, 'i>, namespace: &str, name: &str) -> Result<Node<'a, 'i>, String> {
    let mut found = node
        .children()
        .filter(|c| c.is_element() && c.tag_name().namespace() == Some(namespace) && c.tag_name().name() == name);
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(format!("<{}> has no <{name}>", node.tag_name().name())),
        (Some(_), Some(_)) => Err(format!("<{}> has more than one <{name}>", node.tag_name().name())),
    }
}

fn base64_of(node: Node<'_, '_>) -> Result<Vec<u8>, String> {
    let text: String = crate::text_of(node)?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("<{}> is not base64: {e}", node.tag_name().name()))
}
