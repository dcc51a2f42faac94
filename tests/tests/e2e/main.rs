//! End-to-end tests of the node as a real process (one test binary, one module per area).

mod admin_api;
mod admin_keys;
mod browser_login;
mod browser_smoke;
mod cluster;
mod cluster_rotation;
mod hygiene;
mod oauth;
mod ops;
mod paths;
mod processing;
mod provider;
mod proxy;
mod proxy_pool;
mod reserved;
mod rules;
mod startup;
mod streaming;
mod swap;
mod websession;
mod websession_keys;
mod websession_mapping;
