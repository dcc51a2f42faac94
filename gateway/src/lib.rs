//! Gatehouse engine: the identity-aware reverse proxy that routes, normalises, authorises and
//! proxies requests on engine listeners.
//!
//! The engine reads an immutable [`snapshot::Snapshot`] per request (swapped atomically when
//! the configuration changes) and runs the [`pipeline`]. Start-up settings come from
//! run.properties ([`props`]); the runtime configuration is a `gatehouse_model::ConfigDocument`.

pub mod access_log;
pub mod authtoken;
pub mod decimal;
pub mod engine;
pub mod host_info;
pub mod identity;
pub mod listener;
pub mod listeners;
pub mod metrics;
pub mod oauth;
pub mod path;
pub mod pipeline;
pub mod policy;
pub mod props;
pub mod reserved;
pub mod route;
pub mod snapshot;
pub mod stats;
pub mod tls;
pub mod upstream;
pub mod websession;

pub use engine::{Engine, EngineSettings};
