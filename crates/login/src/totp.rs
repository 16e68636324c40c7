//! Two-factor authentication with time-based one-time passwords (TOTP,
//! RFC 6238) as every authenticator app does them: HMAC-SHA-1, 6 digits, a
//! 30-second step, and codes of the step before and after accepted too (a
//! clock off by up to 30 s, or a code typed as it changes).
//!
//! Enrolment: [`Seed::generate`], show [`qr_svg`] of [`uri`] (and
//! [`Seed::to_base32`] for typing in), store the seed sealed, and confirm
//! with a first [`verify`]. Login: [`verify`] gives the time step the code
//! belongs to; the caller stores the last step used per account and refuses
//! a step not newer than it, so a code cannot be used twice (RFC 6238
//! §5.2). Time is the caller's (`unix_secs`), so all of this is testable.
//!
//! For a lost phone: [`new_recovery_codes`], each usable once, of which
//! only [`recovery_code_hash`] is stored.

use std::fmt;

use auth::Secret;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::constant_time;

/// Digits in a code.
pub const DIGITS: usize = 6;
/// Seconds in a time step.
pub const STEP_SECS: u64 = 30;
/// Bytes in a [`Seed::generate`]d seed: 160 bits, as RFC 4226 recommends.
pub const SEED_BYTES: usize = 20;
/// The fewest bytes [`Seed::from_bytes`] accepts: 128 bits, RFC 4226's minimum.
pub const MIN_SEED_BYTES: usize = 16;
/// How many recovery codes [`new_recovery_codes`] gives.
pub const RECOVERY_CODES: usize = 10;

/// The secret an account shares with its authenticator app.
///
/// `Debug` prints `Seed(***)`; the bytes are wiped when it is dropped. Store
/// it sealed (e.g. with `auth::Kek`), never in plain text.
#[derive(Clone)]
pub struct Seed(Zeroizing<Vec<u8>>);

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(***)")
    }
}

/// A seed shorter than [`MIN_SEED_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a TOTP seed needs at least {min} bytes (128 bits, RFC 4226), this one has {got}: \
     the stored seed is damaged or was made elsewhere. Enrol the authenticator again \
     with a new seed"
)]
pub struct SeedTooShort {
    /// [`MIN_SEED_BYTES`].
    pub min: usize,
    /// Bytes given.
    pub got: usize,
}

impl Seed {
    /// A new seed of [`SEED_BYTES`] random bytes.
    pub fn generate() -> Seed {
        let mut bytes = Zeroizing::new(vec![0u8; SEED_BYTES]);
        rand::rng().fill_bytes(&mut bytes);
        Seed(bytes)
    }

    /// A seed from its bytes (as unsealed from the store): at least
    /// [`MIN_SEED_BYTES`]. The bytes are wiped on drop, also when refused.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Seed, SeedTooShort> {
        let bytes = Zeroizing::new(bytes);
        if bytes.len() < MIN_SEED_BYTES {
            return Err(SeedTooShort {
                min: MIN_SEED_BYTES,
                got: bytes.len(),
            });
        }
        Ok(Seed(bytes))
    }

    /// The raw bytes, to seal for storage.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Base32 (RFC 4648, upper case, no `=` padding), the form authenticator
    /// apps take when the seed is typed in rather than scanned.
    pub fn to_base32(&self) -> Secret {
        Secret::new(totp_rs::Secret::from(self.as_bytes()).to_base32())
    }

    /// RFC 6238 with this seed: SHA-1, [`DIGITS`], [`STEP_SECS`], ±1 step.
    fn totp(&self) -> totp_rs::Totp {
        // `build` would check only what holds already: a seed has at least
        // 16 bytes, and the parameters are RFC 6238's.
        totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_step_duration(STEP_SECS)
            .with_skew(1)
            .with_secret(self.as_bytes())
            .build_noncompliant()
    }
}

/// An issuer or account name that cannot go into an `otpauth://` URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelRefused {
    /// The issuer or the account name is empty (or only spaces).
    #[error(
        "the {field} for the authenticator app is empty; give the {field} (the issuer is the \
         service's name, e.g. \"Vox\"; the account is the person's e-mail address)"
    )]
    Empty {
        /// `"issuer"` or `"account"`.
        field: &'static str,
    },
    /// A `:` in the issuer or account name: the label is `issuer:account`,
    /// and authenticator apps split it at the first colon (even encoded).
    #[error(
        "the {field} for the authenticator app contains ':', which separates issuer and \
         account in the app's label; remove the ':' from the {field}"
    )]
    Colon {
        /// `"issuer"` or `"account"`.
        field: &'static str,
    },
}

/// The `otpauth://` URI that enrols `seed` in an authenticator app:
///
/// `otpauth://totp/<issuer>:<account>?secret=<base32>&issuer=<issuer>&algorithm=SHA1&digits=6&period=30`
///
/// The issuer and account are percent-encoded (all but `A–Z a–z 0–9 - . _ ~`,
/// so `alice@example.com` becomes `alice%40example.com`). Neither may be
/// empty or contain `:` ([`LabelRefused`]): apps split the label at the
/// first colon. The URI holds the seed, so it is a [`Secret`].
pub fn uri(seed: &Seed, issuer: &str, account: &str) -> Result<Secret, LabelRefused> {
    for (field, value) in [("issuer", issuer), ("account", account)] {
        if value.trim().is_empty() {
            return Err(LabelRefused::Empty { field });
        }
        if value.contains(':') {
            return Err(LabelRefused::Colon { field });
        }
    }
    let issuer = percent_encode(issuer);
    let account = percent_encode(account);
    let secret = seed.to_base32();
    // Sized once, so no copy of the seed is left behind by a reallocation.
    let mut uri = String::with_capacity(128 + 2 * issuer.len() + account.len() + secret.expose().len());
    uri.push_str("otpauth://totp/");
    uri.push_str(&issuer);
    uri.push(':');
    uri.push_str(&account);
    uri.push_str("?secret=");
    uri.push_str(secret.expose());
    uri.push_str("&issuer=");
    uri.push_str(&issuer);
    uri.push_str(&format!("&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}"));
    Ok(Secret::new(uri))
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A URI too long for a QR code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the enrolment URI ({bytes} bytes) does not fit in a QR code ({reason}); shorten the \
     issuer or account name, or let the person type in the base32 seed"
)]
pub struct QrRefused {
    /// Length of the URI.
    pub bytes: usize,
    /// What the QR encoder said.
    pub reason: String,
}

/// An SVG image (black on white, with the quiet zone, at least 240 × 240
/// pixels) of a QR code of `uri`, for the person to scan with their
/// authenticator app. It encodes the seed, so it is a [`Secret`]: show it
/// once, do not log or cache it.
pub fn qr_svg(uri: &Secret) -> Result<Secret, QrRefused> {
    let code =
        qrcode::QrCode::with_error_correction_level(uri.expose(), qrcode::EcLevel::M).map_err(|e| QrRefused {
            bytes: uri.expose().len(),
            reason: e.to_string(),
        })?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .quiet_zone(true)
        .build();
    Ok(Secret::new(svg))
}

/// The code for `seed` at `unix_secs`: [`DIGITS`] digits, zero-padded.
pub fn code_at(seed: &Seed, unix_secs: u64) -> String {
    seed.totp().generate(unix_secs).to_string()
}

/// Checks a code someone typed at `unix_secs`. Accepts the code of the
/// current time step (`unix_secs / 30`), the one before, and the one after,
/// and returns the step the code belongs to.
///
/// **Replay is the caller's to refuse**: store the returned step per
/// account and refuse a code whose step is not greater than the last one
/// used.
///
/// Spaces (any whitespace) are removed first (`"287 082"` is read as
/// `"287082"`); anything but then exactly 6 ASCII digits is `None`. The
/// comparison takes the same time wherever the digits differ, and all three
/// steps are always compared.
pub fn verify(seed: &Seed, code: &str, unix_secs: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = seed.totp();
    let now = unix_secs / STEP_SECS;
    let mut matched = None;
    for step in [now.checked_sub(1), Some(now), now.checked_add(1)]
        .into_iter()
        .flatten()
    {
        let Some(at) = step.checked_mul(STEP_SECS) else {
            continue;
        };
        let expected = totp.generate(at).to_string();
        if constant_time::eq(expected.as_bytes(), code.as_bytes()) && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// The letters of recovery codes: Crockford's base32 in lower case, digits
/// and letters without `i`, `l`, `o` and `u` (no look-alikes).
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Letters in a recovery code, 5 bits each: 80 bits.
const RECOVERY_LETTERS: usize = 16;

/// [`RECOVERY_CODES`] new recovery codes, each usable once instead of a
/// TOTP code: 16 random letters of a 32-letter alphabet without look-alikes
/// (80 bits), shown as `xxxx-xxxx-xxxx-xxxx` in lower case. Show them once;
/// store only [`recovery_code_hash`] of each.
pub fn new_recovery_codes() -> Vec<Secret> {
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut code = String::with_capacity(RECOVERY_LETTERS + 3);
            for i in 0..RECOVERY_LETTERS {
                if i > 0 && i % 4 == 0 {
                    code.push('-');
                }
                // 32 divides 2^32, so the low five bits are uniform.
                let letter = RECOVERY_ALPHABET[(rng.next_u32() & 31) as usize];
                code.push(char::from(letter));
            }
            Secret::new(code)
        })
        .collect()
}

/// What is stored for a recovery code: SHA-256 over a domain tag, the
/// `scope` (the caller passes `"<tenant>/<user>"`, so a code is bound to
/// one account) and the code normalised.
///
/// Normalised: spaces and dashes removed, lower case, and the look-alikes
/// the alphabet leaves out read as what they look like (`o` as `0`, `i` and
/// `l` as `1`), so `"ABCD EFGH-JKMN-PQRS"` and `"abcd-efgh-jkmn-pqrs"` hash
/// alike.
///
/// A fast hash is enough here, unlike for passwords: a code has 80 random
/// bits, far beyond what an attacker with the stored hashes can try.
pub fn recovery_code_hash(scope: &str, code: &str) -> [u8; 32] {
    let normalised: Zeroizing<String> = Zeroizing::new(
        code.chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .map(|c| match c {
                'o' => '0',
                'i' | 'l' => '1',
                c => c,
            })
            .collect(),
    );
    let mut hash = Sha256::new();
    hash.update(b"vox-recovery-code-v1\0");
    // The scope's length first, so no scope and code can run into another pair.
    hash.update((scope.len() as u64).to_be_bytes());
    hash.update(scope.as_bytes());
    hash.update(normalised.as_bytes());
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 seed.
    fn rfc_seed() -> Seed {
        Seed::from_bytes(b"12345678901234567890".to_vec()).expect("20 bytes")
    }

    /// RFC 6238 Appendix B, SHA-1: time and the 8-digit code; ours are
    /// their last 6 digits.
    const RFC_6238_SHA1: [(u64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    #[test]
    fn codes_match_rfc_6238_appendix_b() {
        let seed = rfc_seed();
        for (time, code8) in RFC_6238_SHA1 {
            let code = code_at(&seed, time);
            assert_eq!(code, code8[2..], "at {time}");
            assert_eq!(verify(&seed, &code, time), Some(time / 30), "at {time}");
        }
    }

    #[test]
    fn one_step_either_side_is_accepted_two_are_not() {
        let seed = rfc_seed();
        let now = 1_234_567_890;
        let step = now / 30;
        for offset in [-1i64, 0, 1] {
            let at = (now as i64 + offset * 30) as u64;
            let code = code_at(&seed, at);
            assert_eq!(
                verify(&seed, &code, now),
                Some(step.wrapping_add_signed(offset)),
                "offset {offset}"
            );
        }
        for offset in [-2i64, 2, -3, 3] {
            let at = (now as i64 + offset * 30) as u64;
            let code = code_at(&seed, at);
            assert_eq!(verify(&seed, &code, now), None, "offset {offset}");
        }
        // Another seed's code is refused.
        assert_eq!(verify(&Seed::generate(), &code_at(&seed, now), now), None);
    }

    #[test]
    fn spaces_are_ignored_anything_else_is_refused() {
        let seed = rfc_seed();
        let at = 59;
        assert_eq!(verify(&seed, "287 082", at), Some(1));
        assert_eq!(verify(&seed, " 287082\n", at), Some(1));
        assert_eq!(verify(&seed, "28 70 82", at), Some(1));
        for bad in [
            "",
            "28708",
            "2870821",
            "94287082",
            "28708a",
            "+28708",
            "-28708",
            "２８７０８２",
            "287-082",
        ] {
            assert_eq!(verify(&seed, bad, at), None, "{bad:?}");
        }
    }

    #[test]
    fn edges_of_time_do_not_panic() {
        let seed = rfc_seed();
        let code = code_at(&seed, 0);
        assert_eq!(verify(&seed, &code, 0), Some(0));
        assert_eq!(verify(&seed, &code, 29), Some(0));
        let late = code_at(&seed, u64::MAX);
        assert_eq!(verify(&seed, &late, u64::MAX), Some(u64::MAX / 30));
        assert_eq!(code_at(&seed, 0).len(), 6);
    }

    #[test]
    fn seeds_are_random_hidden_and_long_enough() {
        let a = Seed::generate();
        let b = Seed::generate();
        assert_eq!(a.as_bytes().len(), 20);
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_eq!(format!("{a:?}"), "Seed(***)");
        assert_eq!(format!("{:?}", a.to_base32()), "Secret(***)");
        assert_eq!(
            Seed::from_bytes(vec![7; 15]).expect_err("15 bytes"),
            SeedTooShort { min: 16, got: 15 }
        );
        assert!(Seed::from_bytes(vec![7; 16]).is_ok());
        assert!(SeedTooShort { min: 16, got: 15 }
            .to_string()
            .contains("at least 16 bytes"));
    }

    #[test]
    fn base32_is_rfc_4648_without_padding() {
        assert_eq!(rfc_seed().to_base32().expose(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        // 16 bytes need padding in RFC 4648; authenticator apps want none.
        let seed = Seed::from_bytes(vec![0xff; 16]).expect("16 bytes");
        assert_eq!(seed.to_base32().expose(), "77777777777777777777777774");
    }

    #[test]
    fn uri_has_every_parameter_and_parses_back() {
        let uri = uri(&rfc_seed(), "Vox", "alice@example.com").expect("valid label");
        assert_eq!(
            uri.expose(),
            "otpauth://totp/Vox:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Vox&algorithm=SHA1&digits=6&period=30"
        );
        let parsed = totp_rs::Totp::from_url(uri.expose()).expect("totp-rs reads it");
        assert_eq!(parsed.account_name(), "alice@example.com");
        assert_eq!(parsed.issuer(), Some("Vox"));
        assert_eq!(parsed.secret().as_bytes(), b"12345678901234567890");
        assert_eq!(parsed.digits(), 6);
        assert_eq!(parsed.step(), 30);
        assert_eq!(parsed.generate(59).to_string(), "287082");
    }

    #[test]
    fn uri_encodes_spaces_and_non_ascii() {
        let seed = Seed::generate();
        let uri = uri(&seed, "Acme Corp", "zoë+tag@example.com").expect("valid label");
        assert!(
            uri.expose()
                .starts_with("otpauth://totp/Acme%20Corp:zo%C3%AB%2Btag%40example.com?secret="),
            "{}",
            uri.expose()
        );
        assert!(uri.expose().contains("&issuer=Acme%20Corp&"));
        let parsed = totp_rs::Totp::from_url(uri.expose()).expect("totp-rs reads it");
        assert_eq!(parsed.account_name(), "zoë+tag@example.com");
        assert_eq!(parsed.issuer(), Some("Acme Corp"));
    }

    #[test]
    fn uri_refuses_empty_and_colon_labels() {
        let seed = Seed::generate();
        for (issuer, account, refused) in [
            ("", "a@example.com", LabelRefused::Empty { field: "issuer" }),
            ("Vox", " ", LabelRefused::Empty { field: "account" }),
            ("Vox:EU", "a@example.com", LabelRefused::Colon { field: "issuer" }),
            ("Vox", "tenant:alice", LabelRefused::Colon { field: "account" }),
        ] {
            assert_eq!(uri(&seed, issuer, account).expect_err(account), refused);
        }
        assert!(LabelRefused::Colon { field: "account" }
            .to_string()
            .contains("remove the ':' from the account"));
    }

    #[test]
    fn qr_code_is_an_svg_of_at_least_240_pixels() {
        let uri = uri(&Seed::generate(), "Vox", "alice@example.com").expect("valid label");
        let svg = qr_svg(&uri).expect("fits");
        let svg = svg.expose();
        assert!(svg.starts_with("<?xml"), "{svg}");
        assert!(svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        let width: u32 = svg
            .split("width=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|w| w.parse().ok())
            .expect("a width attribute");
        assert!(width >= 240, "{width}");
        // The seed is not in the picture as text.
        let seed_text = uri.expose().split("secret=").nth(1).expect("secret");
        assert!(!svg.contains(&seed_text[..16]));
    }

    #[test]
    fn qr_code_refuses_what_does_not_fit() {
        let too_long = Secret::new(format!("otpauth://totp/Vox:{}", "a".repeat(5000)));
        let refused = qr_svg(&too_long).expect_err("over a QR code's capacity");
        assert_eq!(refused.bytes, 5019);
        assert!(refused.to_string().contains("shorten the issuer or account name"));
    }

    #[test]
    fn recovery_codes_are_ten_distinct_80_bit_codes() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        for code in &codes {
            let code = code.expose();
            assert_eq!(code.len(), 19, "{code}");
            for (i, c) in code.chars().enumerate() {
                if i % 5 == 4 {
                    assert_eq!(c, '-', "{code}");
                } else {
                    assert!(RECOVERY_ALPHABET.contains(&(c as u8)), "{code}");
                }
            }
            assert!(!code.contains(['i', 'l', 'o', 'u']));
        }
        let distinct: std::collections::HashSet<&str> = codes.iter().map(Secret::expose).collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        assert_eq!(format!("{:?}", codes[0]), "Secret(***)");
    }

    #[test]
    fn recovery_code_hash_normalises_and_binds_the_scope() {
        let scope = "acme/alice";
        let hash = recovery_code_hash(scope, "abcd-efgh-jkmn-pq01");
        for same in [
            "ABCD-EFGH-JKMN-PQ01",
            "abcdefghjkmnpq01",
            "abcd efgh jkmn pq01",
            " abcd-efgh-jkmn-pqOl ",
        ] {
            assert_eq!(recovery_code_hash(scope, same), hash, "{same:?}");
        }
        assert_ne!(recovery_code_hash(scope, "abcd-efgh-jkmn-pq02"), hash);
        assert_ne!(recovery_code_hash("acme/bob", "abcd-efgh-jkmn-pq01"), hash);
        // Scope and code cannot be shifted into one another.
        assert_ne!(recovery_code_hash("acme/alicea", "bcd-efgh-jkmn-pq01"), hash);
        let code = new_recovery_codes().remove(0);
        assert_eq!(
            recovery_code_hash(scope, code.expose()),
            recovery_code_hash(scope, &code.expose().to_uppercase())
        );
    }
}
