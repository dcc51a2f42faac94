//! Gatehouse configuration model: the document shared by the startup TOML, the admin API and the
//! cluster channel, its validation (every problem at once) and TOML loading with line numbers.
//!
//! This crate has no I/O runtime: the engine compiles a validated [`ConfigDocument`] into its
//! snapshot, and the admin node stores and serves the same document.

pub mod document;
pub mod global;
pub mod identity;
pub mod oauth;
pub mod objects;
pub mod problem;
pub mod rules;
pub mod secret;
pub mod toml_load;
pub mod validate;
pub mod websession;

pub use document::ConfigDocument;
pub use problem::{Problem, Problems};
pub use toml_load::{load_toml, TomlError};
pub use validate::validate;
