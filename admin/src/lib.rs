//! Gatehouse node: the admin side (store, key pairs, admin listener) and the process that runs
//! a node in any mode. The `gatehouse` binary is a thin command line over [`node::run`].

pub mod admin_http;
pub mod api;
pub mod authtoken_keys;
pub mod cli;
pub mod cluster;
pub mod convert;
pub mod echo;
pub mod keys;
pub mod logging;
pub mod management;
pub mod node;
pub mod session_keys;
pub mod store;
