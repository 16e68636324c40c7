//! Secret and client id format.

use rand::RngCore;

/// Prefix of every client secret.
pub const SECRET_PREFIX: &str = "vox_sk_";
/// Prefix of every client id.
pub const CLIENT_ID_PREFIX: &str = "vox_ci_";

/// A new 256-bit secret: `vox_sk_` + 64 hex digits of randomness + 8 hex
/// digits of CRC-32 over them. The checksum lets a scanner tell a real
/// leaked secret from a random string without asking Vox.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let body = hex::encode(bytes);
    format!("{SECRET_PREFIX}{body}{:08x}", crc32fast::hash(body.as_bytes()))
}

/// Whether `secret` has the format and a matching checksum.
pub fn secret_checksum_ok(secret: &str) -> bool {
    let Some(rest) = secret.strip_prefix(SECRET_PREFIX) else {
        return false;
    };
    if rest.len() != 72 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let (body, checksum) = rest.split_at(64);
    u32::from_str_radix(checksum, 16).is_ok_and(|c| c == crc32fast::hash(body.as_bytes()))
}

/// A new public client id, e.g. `vox_ci_5f0b7d3e2c1a4d8e`.
pub fn new_client_id() -> String {
    new_id(CLIENT_ID_PREFIX)
}

/// A random id: `prefix` and 16 hex digits (64 bits), e.g. `usr_…`, `sg_…`.
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// Whether `id` has the form of a client id (`vox_ci_` + 16 hex digits).
pub fn client_id_well_formed(id: &str) -> bool {
    id.strip_prefix(CLIENT_ID_PREFIX)
        .is_some_and(|rest| rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_carry_a_checksum() {
        let s = new_secret();
        assert!(s.starts_with("vox_sk_") && s.len() == 7 + 72);
        assert!(secret_checksum_ok(&s));
        let mut altered = s.clone().into_bytes();
        altered[10] = if altered[10] == b'a' { b'b' } else { b'a' };
        assert!(!secret_checksum_ok(&String::from_utf8(altered).expect("ascii")));
        assert!(!secret_checksum_ok("vox_sk_short"));
        assert_ne!(new_secret(), s);
        assert!(client_id_well_formed(&new_client_id()));
        assert!(!client_id_well_formed("vox_ci_nope") && !client_id_well_formed("x"));
    }
}
