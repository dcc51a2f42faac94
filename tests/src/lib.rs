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
pub mod tamper;
pub mod tokens;
pub mod wait;

/// A port that was free a moment ago (bind `127.0.0.1:0`, read, release), never one this
/// process handed out before: the kernel may offer a just-released port again, and a node given
/// the same port for two listeners fails to start.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..64 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0);
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if port != 0 && !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    0
}
