//! End-to-end test harness: the node as a real process, real backends, real TLS, all on
//! 127.0.0.1 with ports chosen by the system.
//!
//! Tests live in `tests/tests/*.rs`; they start a [`node::Node`] from a TOML configuration,
//! backends from [`backend::Backend`], and talk to them with [`client`] helpers.

pub mod admin;
pub mod backend;
pub mod browser;
pub mod client;
pub mod config;
pub mod idp;
pub mod jwks;
pub mod node;
pub mod pki;
pub mod tokens;
pub mod wait;

/// A port that was free a moment ago (bind `127.0.0.1:0`, read, release).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}
