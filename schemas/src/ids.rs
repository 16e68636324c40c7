//! Typed identifiers: a value of [`TenantId`] is a valid tenant id by
//! construction. Each is made only by `parse` (also when deserialised), is
//! a string on the wire (`#[serde(transparent)]`-like), and borrows as
//! `&str` so that maps keyed by it can be looked up with a plain string.
//! A new kind of id is one `identifier!` line with its rule.

use std::borrow::Borrow;
use std::fmt;

/// Why a string is not a valid identifier of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} '{value}' is not valid: {rule}")]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

/// A slug: 1 to 63 characters of `a-z 0-9 - _`, starting with a letter or
/// digit (URL- and log-key-safe).
fn slug(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && value.as_bytes()[0].is_ascii_alphanumeric()
}

const SLUG_RULE: &str = "use 1 to 63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit";

/// A client id: 1 to 64 characters of `A-Z a-z 0-9 - _` (issued ones are
/// `vox_ci_` and 16 hex digits).
fn token(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An event id: a UUID in its hyphenated lower-case form.
fn uuid(value: &str) -> bool {
    value.len() == 36
        && value.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

macro_rules! identifier {
    ($(#[$meta:meta])* $name:ident, $what:literal, $valid:ident, $rule:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The only way to make one.
            pub fn parse(value: &str) -> Result<$name, InvalidId> {
                if $valid(value) {
                    Ok($name(value.to_owned()))
                } else {
                    Err(InvalidId {
                        what: $what,
                        value: value.chars().take(80).collect(),
                        rule: $rule,
                    })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(value: &str) -> Result<$name, InvalidId> {
                $name::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> String {
                id.0.clone()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let value = String::deserialize(d)?;
                $name::parse(&value).map_err(serde::de::Error::custom)
            }
        }
    };
}

identifier!(
    /// A tenant: one company.
    TenantId, "tenant id", slug, SLUG_RULE
);
identifier!(
    /// A collection of a tenant.
    CollectionId, "collection id", slug, SLUG_RULE
);
identifier!(
    /// A region tenants are pinned to, e.g. `eu`.
    Region, "region", slug, SLUG_RULE
);
identifier!(
    /// A client credential of a customer system.
    ClientId, "client id", token, "use 1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'"
);
identifier!(
    /// A person's account: `usr_` and 16 hex digits, made by Vox.
    UserId, "user id", token, "use the id Vox gave, such as usr_0011223344556677"
);
identifier!(
    /// A group of a tenant's users.
    GroupId, "group id", slug, SLUG_RULE
);
identifier!(
    /// A grant, made by Vox: a support access grant (`sg_` and 16 hex
    /// digits) or a feedback access grant (`ag_` and 16 hex digits).
    GrantId, "grant id", token, "use the id Vox gave, such as ag_0011223344556677 or sg_0011223344556677"
);
identifier!(
    /// A feedback item's id (UUIDv5 of tenant, collection and external id).
    EventId, "event id", uuid, "use a UUID such as 1b3f81b9-5ab9-560a-b9b8-9274acc49de5"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_by_construction() {
        assert_eq!(TenantId::parse("acme").map(|t| t.to_string()), Ok("acme".to_owned()));
        for bad in ["", "Acme", "-x", "a b", &"a".repeat(64)] {
            let err = TenantId::parse(bad).expect_err(bad);
            assert!(err.to_string().starts_with("tenant id '"), "{err}");
        }
        assert!(ClientId::parse("vox_ci_0123456789abcdef").is_ok());
        assert!(ClientId::parse("<script>").is_err());
        assert!(EventId::parse("1b3f81b9-5ab9-560a-b9b8-9274acc49de5").is_ok());
        assert!(EventId::parse("1B3F81B9-5AB9-560A-B9B8-9274ACC49DE5").is_err());
        let json: Result<TenantId, _> = serde_json::from_str("\"Not Valid\"");
        assert!(json.is_err(), "deserialising parses too");
        let ok: TenantId = serde_json::from_str("\"acme\"").expect("valid");
        assert_eq!(serde_json::to_string(&ok).expect("json"), "\"acme\"");
        let map: std::collections::HashMap<TenantId, u8> = [(ok, 1)].into();
        assert_eq!(map.get("acme"), Some(&1), "looked up by a plain string");
    }
}
