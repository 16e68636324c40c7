//! The auditlog crate through its public API, pinned to vectors other
//! implementations published or computed.

mod checkpoints;
mod ct;
mod go;
mod helpers;
mod properties;
