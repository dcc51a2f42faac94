//! Web sessions: the `PA.<audience>` cookie that carries an authenticated user's session.
//!
//! [`codec`] seals the session claims into a compact JWS or JWE and opens them again (it does
//! not check the claims), [`jwe`] is the `dir` + `A128CBC-HS256` JWE it uses for encrypted
//! cookies, and [`chunks`] spreads a value too big for one cookie over several.

pub mod callback;
pub mod chunks;
pub mod codec;
pub mod compiled;
pub mod cookies;
pub mod jwe;
pub mod login;
pub mod logout;
pub mod refresh;
pub mod session;
#[cfg(test)]
pub(crate) mod testing;
