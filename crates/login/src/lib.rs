//! What a person logs in with. A pure library: no I/O, no clock, no store;
//! the only side effect is running bcrypt on tokio's blocking pool.
//!
//! * [`password`]: the rules for a new password ([`password::check_new`]:
//!   12 characters or more, 72 bytes or fewer, a zxcvbn strength of 3 of 4)
//!   and bcrypt hashing that never truncates, never blocks the async runtime
//!   and takes the same time for an unknown account ([`password::Hasher`]).
//! * [`totp`]: two-factor codes per RFC 6238 (SHA-1, 6 digits, 30 s, ±1
//!   step), the `otpauth://` URI and its QR code for enrolment, and
//!   single-use recovery codes.
//! * [`token`]: opaque bearer tokens (`vox_st_…` sessions, `vox_pt_…`
//!   personal tokens, `vox_inv_…` invitations, `vox_ch_…` challenges), of
//!   which only a SHA-256 is stored, and the anti-CSRF value derived from a
//!   session token.
//!
//! Everything handed out that grants access (passwords, seeds in text form,
//! tokens, recovery codes) is an [`auth::Secret`]: it never prints and is
//! wiped from memory when dropped. The caller owns time (`unix_secs`
//! arguments) and storage (hashes in, hashes out), so every rule here is
//! testable without either.

pub mod constant_time;
pub mod password;
pub mod token;
pub mod totp;
