//! The `vox` binary's library: configuration, the admin commands that append
//! configuration events, the push client, and the wiring that runs the roles
//! (all in one process on the embedded backends, or one role per process on
//! Kafka + PostgreSQL). `main.rs` only parses the command line.

/// The configuration commands (`directory::commands`).
pub use directory::commands as admin;
pub mod audit;
pub mod cli;
pub mod grants;
pub mod inspect;
pub mod people;
pub mod push;
pub mod ruleset;
pub mod serve;
pub mod settings;
pub mod sso;
