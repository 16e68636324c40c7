//! Opaque bearer tokens: a kind prefix and 256 random bits, e.g.
//! `vox_st_` + 43 base64url characters.
//!
//! The token is handed out once ([`new_token`], an [`auth::Secret`]); only
//! its [`token_hash`] is stored, so a copy of the store opens nothing. The
//! prefix lets secret scanners recognise a leaked token, and lets the API
//! refuse a malformed one ([`kind_of`]) without a store lookup. A SHA-256
//! (not bcrypt) is right here: 256 random bits cannot be guessed, however
//! fast the hash.
//!
//! [`csrf_token`] derives the anti-CSRF value of a browser session from
//! its session token.

use auth::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::constant_time;

/// Random bytes in a token: 256 bits.
const RANDOM_BYTES: usize = 32;
/// Their length in base64url without padding.
const ENCODED_LEN: usize = 43;

/// What a token opens. Each kind has its own prefix, so a token of one kind
/// cannot be passed off as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A browser session (`vox_st_`), usually in a cookie.
    Session,
    /// A personal access token for scripts (`vox_pt_`).
    Personal,
    /// An invitation to join a tenant, sent by e-mail (`vox_inv_`).
    Invitation,
    /// A login half done, waiting for the second factor (`vox_ch_`).
    Challenge,
}

impl TokenKind {
    /// Every kind.
    pub const ALL: [TokenKind; 4] = [
        TokenKind::Session,
        TokenKind::Personal,
        TokenKind::Invitation,
        TokenKind::Challenge,
    ];

    /// The prefix of tokens of this kind: `vox_st_`, `vox_pt_`, `vox_inv_`
    /// or `vox_ch_`. No prefix is the start of another.
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::Session => "vox_st_",
            TokenKind::Personal => "vox_pt_",
            TokenKind::Invitation => "vox_inv_",
            TokenKind::Challenge => "vox_ch_",
        }
    }
}

/// A new token of `kind`: its prefix, then base64url without padding of
/// 32 bytes from the operating system's randomness (via `rand::rng()`, a
/// CSPRNG seeded and reseeded from the OS). Give it out once; store
/// [`token_hash`].
pub fn new_token(kind: TokenKind) -> Secret {
    let mut bytes = Zeroizing::new([0u8; RANDOM_BYTES]);
    rand::rng().fill_bytes(&mut *bytes);
    let mut token = String::with_capacity(kind.prefix().len() + ENCODED_LEN);
    token.push_str(kind.prefix());
    URL_SAFE_NO_PAD.encode_string(bytes.as_slice(), &mut token);
    Secret::new(token)
}

/// What is stored for a token, and looked up when one is presented:
/// SHA-256 of the whole token, prefix included.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The kind of a well-formed token: a known prefix followed by exactly
/// 43 base64url characters that decode to 32 bytes (canonically, no
/// padding). `None` for anything else, so the API can refuse it without a
/// store lookup. A well-formed token may still be unknown, expired or
/// revoked: only the store can tell.
pub fn kind_of(token: &str) -> Option<TokenKind> {
    let kind = TokenKind::ALL
        .into_iter()
        .find(|kind| token.starts_with(kind.prefix()))?;
    let random = &token[kind.prefix().len()..];
    if random.len() != ENCODED_LEN {
        return None;
    }
    let mut bytes = Zeroizing::new([0u8; RANDOM_BYTES + 3]);
    let decoded = URL_SAFE_NO_PAD.decode_slice(random, &mut *bytes).ok()?;
    (decoded == RANDOM_BYTES).then_some(kind)
}

/// The anti-CSRF value of a browser session: base64url (no padding) of
/// SHA-256(`"vox-csrf-v1\0"` + session token), 43 characters.
///
/// Signed double-submit: the page receives this value (e.g. in a
/// non-`HttpOnly` cookie or in the HTML) and sends it back in a header with
/// every state-changing request; the server recomputes it from the session
/// cookie and compares with [`csrf_matches`]. Another site can make the
/// browser send the cookie but cannot read it, so it cannot compute the
/// value. Nothing is stored, and the value reveals nothing about the
/// session token.
pub fn csrf_token(session_token: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"vox-csrf-v1\0");
    hash.update(session_token.as_bytes());
    URL_SAFE_NO_PAD.encode(hash.finalize())
}

/// Whether `presented` is [`csrf_token`] of `session_token`, compared in
/// time that does not depend on where they differ.
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    constant_time::eq(csrf_token(session_token).as_bytes(), presented.as_bytes())
}

/// A public id for a token (12 lower-case hex characters, 48 random bits),
/// to list and revoke tokens without showing their value. Unique enough
/// among one account's tokens; the store should still refuse a duplicate.
pub fn new_public_id() -> String {
    let mut bytes = [0u8; 6];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_their_prefix_and_256_random_bits() {
        for kind in TokenKind::ALL {
            let a = new_token(kind);
            let b = new_token(kind);
            assert_ne!(a, b);
            let a = a.expose();
            assert!(a.starts_with(kind.prefix()), "{a}");
            assert_eq!(a.len(), kind.prefix().len() + 43);
            let random = URL_SAFE_NO_PAD.decode(&a[kind.prefix().len()..]).expect("base64url");
            assert_eq!(random.len(), 32);
            assert!(!a.contains(['=', '+', '/']), "{a}");
        }
        assert_eq!(format!("{:?}", new_token(TokenKind::Session)), "Secret(***)");
    }

    #[test]
    fn kinds_round_trip() {
        for kind in TokenKind::ALL {
            for _ in 0..20 {
                assert_eq!(kind_of(new_token(kind).expose()), Some(kind));
            }
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = new_token(TokenKind::Personal);
        let good = good.expose();
        let random = &good["vox_pt_".len()..];
        let cases = [
            String::new(),
            "vox_pt_".to_owned(),
            random.to_owned(),
            format!("vox_xx_{random}"),
            format!("VOX_PT_{random}"),
            format!("vox_sk_{random}"),
            format!("{good}A"),
            good[..good.len() - 1].to_owned(),
            format!("vox_pt_{}=", &random[..42]),
            format!("vox_pt_{}+", &random[..42]),
            format!("vox_pt_{}/", &random[..42]),
            format!("vox_pt_{}.", &random[..42]),
            format!("vox_pt_{}é", &random[..41]),
            format!(" {good}"),
            format!("{good}\n"),
            // 43 characters whose last one carries bits beyond 32 bytes.
            format!("vox_pt_{}B", "A".repeat(42)),
        ];
        for token in &cases {
            assert_eq!(kind_of(token), None, "{token:?}");
        }
        // The canonical spelling of the same 32 zero bytes is accepted.
        assert_eq!(
            kind_of(&format!("vox_pt_{}", "A".repeat(43))),
            Some(TokenKind::Personal)
        );
    }

    #[test]
    fn token_hash_is_sha256_of_the_whole_token() {
        // SHA-256("abc"), FIPS 180-2.
        assert_eq!(
            token_hash("abc").iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let token = new_token(TokenKind::Session);
        let token = token.expose();
        assert_eq!(token_hash(token), token_hash(token));
        // The prefix counts: the same random part of another kind differs.
        let other = token.replacen("vox_st_", "vox_pt_", 1);
        assert_ne!(token_hash(token), token_hash(&other));
    }

    #[test]
    fn csrf_value_is_derived_from_the_session_and_checked() {
        let session = new_token(TokenKind::Session);
        let other = new_token(TokenKind::Session);
        let csrf = csrf_token(session.expose());
        assert_eq!(csrf.len(), 43);
        assert_eq!(csrf, csrf_token(session.expose()), "deterministic");
        assert_ne!(csrf, csrf_token(other.expose()));
        assert!(!csrf.contains(session.expose()));
        assert!(csrf_matches(session.expose(), &csrf));
        assert!(!csrf_matches(other.expose(), &csrf));
        assert!(!csrf_matches(session.expose(), ""));
        assert!(!csrf_matches(session.expose(), &csrf[..42]));
        assert!(!csrf_matches(session.expose(), &format!("{csrf}A")));
        let mut flipped = csrf.clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).expect("ASCII");
        assert!(!csrf_matches(session.expose(), &flipped));
        // Pinned: the value is part of the browser contract.
        let mut expected = Sha256::new();
        expected.update(b"vox-csrf-v1\0vox_st_x");
        assert_eq!(csrf_token("vox_st_x"), URL_SAFE_NO_PAD.encode(expected.finalize()));
    }

    #[test]
    fn public_ids_are_12_lower_case_hex() {
        let a = new_public_id();
        let b = new_public_id();
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.len(), 12);
            assert!(
                id.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
                "{id}"
            );
        }
    }
}
