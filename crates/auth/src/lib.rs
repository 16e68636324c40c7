//! Client credentials of customer systems:
//!
//! * [`secret`]: the secret format (`vox_sk_…` with a checksum, so secret
//!   scanners can recognise leaked ones) and client ids;
//! * [`seal`]: secrets sealed at rest (ChaCha20-Poly1305 under a
//!   key-encryption key that never enters the log);
//! * [`signing`]: the signed request scheme `VOX1-HMAC-SHA256`.

pub mod seal;
pub mod secret;
mod secret_value;
pub mod signing;

pub use seal::{Kek, SealError};
pub use secret::{new_client_id, new_id, new_secret, secret_checksum_ok};
pub use secret_value::Secret;
pub use signing::{AuthorizationHeader, Scheme, SignatureError, SignedHeaders, SCHEME};
