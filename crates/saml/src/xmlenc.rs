//! XML Encryption of an `EncryptedAssertion`: the content key wrapped for
//! the service provider's RSA key with OAEP (RSA PKCS #1 v1.5 is refused:
//! it invites padding-oracle attacks), the assertion encrypted with AES
//! (CBC or GCM) or triple DES (CBC, pysaml2's default).

use base64::Engine;
use openssl::md::Md;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::symm::{decrypt_aead, Cipher, Crypter, Mode};
use roxmltree::Node;

use crate::{is, text_of, Check, Refusal, DSIG, XMLENC};

const XMLENC11: &str = "http://www.w3.org/2009/xmlenc11#";

/// The plaintext (XML) of an `EncryptedAssertion`.
pub fn decrypt(encrypted: Node<'_, '_>, key: &PKey<Private>) -> Result<String, Refusal> {
    let bad = |m: String| Refusal::new(Check::Decryption, m);
    let data = one(encrypted, XMLENC, "EncryptedData")?;
    let algorithm = one(data, XMLENC, "EncryptionMethod")?
        .attribute("Algorithm")
        .unwrap_or("")
        .to_owned();
    let (cipher, gcm) = data_cipher(&algorithm).ok_or_else(|| {
        bad(format!(
            "the assertion is encrypted with {algorithm:?}: Vox decrypts AES-128/192/256 in CBC or GCM mode and triple DES"
        ))
    })?;
    // The wrapped key: in the data's KeyInfo, or beside the data.
    let mut wrapped: Vec<Node> = Vec::new();
    if let Some(info) = data.children().find(|c| is(c, DSIG, "KeyInfo")) {
        wrapped.extend(info.children().filter(|c| is(c, XMLENC, "EncryptedKey")));
    }
    wrapped.extend(encrypted.children().filter(|c| is(c, XMLENC, "EncryptedKey")));
    if wrapped.is_empty() {
        return Err(bad("the encrypted assertion carries no EncryptedKey".into()));
    }
    let mut last = String::new();
    for w in wrapped {
        match unwrap_key(w, key) {
            Ok(content_key) if content_key.len() == cipher.key_len() => {
                let value = cipher_value(data)?;
                let plain = decrypt_data(cipher, gcm, &content_key, &value)?;
                return String::from_utf8(plain).map_err(|_| bad("the decrypted assertion is not UTF-8".into()));
            }
            Ok(k) => {
                last = format!(
                    "the content key has {} bytes, not the {} of {algorithm}",
                    k.len(),
                    cipher.key_len()
                )
            }
            Err(r) => last = r.detail,
        }
    }
    Err(bad(format!(
        "the assertion does not decrypt with this service provider's key: {last}"
    )))
}

fn data_cipher(uri: &str) -> Option<(Cipher, bool)> {
    Some(match uri {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => (Cipher::aes_128_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => (Cipher::aes_192_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => (Cipher::aes_256_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#tripledes-cbc" => (Cipher::des_ede3_cbc(), false),
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => (Cipher::aes_128_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes192-gcm" => (Cipher::aes_192_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => (Cipher::aes_256_gcm(), true),
        _ => return None,
    })
}

/// The content key of an `EncryptedKey`, with RSA-OAEP.
fn unwrap_key(encrypted_key: Node<'_, '_>, key: &PKey<Private>) -> Result<Vec<u8>, Refusal> {
    let bad = |m: String| Refusal::new(Check::Decryption, m);
    let method = one(encrypted_key, XMLENC, "EncryptionMethod")?;
    let algorithm = method.attribute("Algorithm").unwrap_or("");
    let digest = method
        .children()
        .find(|c| is(c, DSIG, "DigestMethod"))
        .map(|d| d.attribute("Algorithm").unwrap_or(""));
    let oaep_md = match digest {
        None | Some("http://www.w3.org/2000/09/xmldsig#sha1") => Md::sha1(),
        Some("http://www.w3.org/2001/04/xmlenc#sha256") => Md::sha256(),
        Some("http://www.w3.org/2001/04/xmldsig-more#sha384") => Md::sha384(),
        Some("http://www.w3.org/2001/04/xmlenc#sha512") => Md::sha512(),
        Some(other) => return Err(bad(format!("the OAEP digest {other:?} is not supported"))),
    };
    let mgf_md = match algorithm {
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p" => Md::sha1(),
        "http://www.w3.org/2009/xmlenc11#rsa-oaep" => {
            match method.children().find(|c| is(c, XMLENC11, "MGF")).map(|m| m.attribute("Algorithm").unwrap_or("")) {
                None | Some("http://www.w3.org/2009/xmlenc11#mgf1sha1") => Md::sha1(),
                Some("http://www.w3.org/2009/xmlenc11#mgf1sha256") => Md::sha256(),
                Some("http://www.w3.org/2009/xmlenc11#mgf1sha384") => Md::sha384(),
                Some("http://www.w3.org/2009/xmlenc11#mgf1sha512") => Md::sha512(),
                Some(other) => return Err(bad(format!("the OAEP mask function {other:?} is not supported"))),
            }
        }
        "http://www.w3.org/2001/04/xmlenc#rsa-1_5" => {
            return Err(bad(
                "the key is wrapped with RSA PKCS #1 v1.5, which Vox refuses (padding oracles): set the identity provider to RSA-OAEP".into(),
            ))
        }
        other => return Err(bad(format!("the key transport {other:?} is not supported (RSA-OAEP)"))),
    };
    if method.children().any(|c| is(&c, XMLENC, "OAEPparams")) {
        return Err(bad("OAEP parameters (a label) are not supported".into()));
    }
    let wrapped = cipher_value(encrypted_key)?;
    let mut ctx = PkeyCtx::new(key).map_err(|e| bad(format!("the service provider's key: {e}")))?;
    let mut out = Vec::new();
    ctx.decrypt_init()
        .and_then(|()| ctx.set_rsa_padding(Padding::PKCS1_OAEP))
        .and_then(|()| ctx.set_rsa_oaep_md(oaep_md))
        .and_then(|()| ctx.set_rsa_mgf1_md(mgf_md))
        .and_then(|()| ctx.decrypt_to_vec(&wrapped, &mut out))
        .map_err(|_| bad("the content key is not wrapped for this service provider's key".into()))?;
    Ok(out)
}

/// IV, ciphertext (and for GCM the tag) → plaintext.
fn decrypt_data(cipher: Cipher, gcm: bool, key: &[u8], value: &[u8]) -> Result<Vec<u8>, Refusal> {
    let bad = |m: &str| Refusal::new(Check::Decryption, m);
    if gcm {
        if value.len() < 12 + 16 {
            return Err(bad("the encrypted assertion is too short"));
        }
        let (iv, rest) = value.split_at(12);
        let (data, tag) = rest.split_at(rest.len() - 16);
        return decrypt_aead(cipher, key, Some(iv), &[], data, tag)
            .map_err(|_| bad("the encrypted assertion fails its authentication tag"));
    }
    let block = cipher.block_size();
    if value.len() < 2 * block || value.len() % block != 0 {
        return Err(bad("the encrypted assertion is not whole blocks"));
    }
    let (iv, data) = value.split_at(block);
    let mut crypter = Crypter::new(cipher, Mode::Decrypt, key, Some(iv))
        .map_err(|_| bad("the content key does not fit the cipher"))?;
    crypter.pad(false);
    let mut out = vec![0; data.len() + block];
    let n = crypter
        .update(data, &mut out)
        .map_err(|_| bad("the encrypted assertion does not decrypt"))?;
    let m = crypter
        .finalize(&mut out[n..])
        .map_err(|_| bad("the encrypted assertion does not decrypt"))?;
    out.truncate(n + m);
    // XML Encryption's padding: the last byte says how many to drop.
    let pad = usize::from(*out.last().unwrap_or(&0));
    if pad == 0 || pad > block || pad > out.len() {
        return Err(bad("the encrypted assertion's padding is wrong"));
    }
    out.truncate(out.len() - pad);
    Ok(out)
}

fn cipher_value(node: Node<'_, '_>) -> Result<Vec<u8>, Refusal> {
    let data = one(node, XMLENC, "CipherData")?;
    let value = one(data, XMLENC, "CipherValue")?;
    let text: String = text_of(value)
        .map_err(|m| Refusal::new(Check::Decryption, m))?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| Refusal::new(Check::Decryption, format!("a CipherValue is not base64: {e}")))
}

fn one<'a, 'i>(node: Node<'a, 'i>, namespace: &str, name: &str) -> Result<Node<'a, 'i>, Refusal> {
    crate::dsig::only_child(node, namespace, name).map_err(|m| Refusal::new(Check::Decryption, m))
}
