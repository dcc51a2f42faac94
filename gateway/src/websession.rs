//! Web sessions: the `PA.<audience>` cookie that carries an authenticated user's session.
//!
//! [`jwe`] is the `dir` + `A128CBC-HS256` compact JWE used for encrypted session cookies.

pub mod jwe;
