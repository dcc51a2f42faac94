//! Web sessions: the `PA.<audience>` cookie that carries an authenticated user's session.
//!
//! [`codec`] seals the session claims into a compact JWS or JWE and opens them again (it does
//! not check the claims), and [`jwe`] is the `dir` + `A128CBC-HS256` JWE it uses for encrypted
//! cookies.

pub mod codec;
pub mod jwe;
