//! Web-session key roll end to end: a node whose session key is due rolls it at start; cookies
//! sealed with the previous key are still accepted, new cookies use the new key, and after a
//! second roll the oldest key (and its cookies) is gone.

use reqwest::header::COOKIE;

use crate::websession::{log_in, set_cookies, world, Setup, World};

/// Makes every stored web-session key look older than any roll period, as if the node had been
/// stopped for a year: the next start rolls.
fn age_session_keys(w: &World) -> anyhow::Result<()> {
    let db = w.node.dir.path().join("data").join("gatehouse.db");
    let conn = rusqlite::Connection::open(&db)?;
    let year_ms: i64 = 365 * 24 * 3_600_000;
    let changed = conn.execute(
        "UPDATE signing_keys SET created_at = created_at - ?1 WHERE purpose = 'WEB_SESSION'",
        [year_ms],
    )?;
    anyhow::ensure!(changed > 0, "no web-session key in {}", db.display());
    Ok(())
}

/// The `kid` in the protected header of a JWE/JWS cookie value.
fn kid_of(cookie: &str) -> anyhow::Result<String> {
    use base64::Engine as _;
    let header = cookie.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header)?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)?;
    Ok(v["kid"].as_str().unwrap_or_default().to_string())
}

/// Logs in as `user` in a fresh browser; returns the `PA.web` cookie's value.
async fn session_cookie(w: &World, user: &str) -> anyhow::Result<String> {
    let browser = w.browser()?;
    let done = log_in(w, &browser, "/web/keys", user).await?;
    anyhow::ensure!(done.status() == 302, "callback: {}", done.status());
    set_cookies(&done)
        .into_iter()
        .find_map(|c| {
            c.strip_prefix("PA.web=")
                .and_then(|v| v.split(';').next())
                .map(String::from)
        })
        .ok_or_else(|| anyhow::anyhow!("no session cookie"))
}

/// The status of `/web/keys` with exactly this session cookie (no redirects followed).
async fn status_with(w: &World, cookie: &str) -> anyhow::Result<u16> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok(http
        .get(w.url("/web/keys"))
        .header(COOKIE, format!("PA.web={cookie}"))
        .send()
        .await?
        .status()
        .as_u16())
}

#[tokio::test]
async fn cookies_of_the_previous_key_are_accepted_after_a_roll_and_refused_after_two(
) -> anyhow::Result<()> {
    let mut w = world(Setup::default()).await?;
    let first = session_cookie(&w, "alice").await?;
    assert_eq!(status_with(&w, &first).await?, 200);
    let first_kid = kid_of(&first)?;

    // Roll once: the first key becomes the previous one.
    w.node.kill_hard().await?;
    age_session_keys(&w)?;
    w.node.restart().await?;
    assert_eq!(
        status_with(&w, &first).await?,
        200,
        "a cookie of the previous key is still accepted"
    );
    let second = session_cookie(&w, "bob").await?;
    let second_kid = kid_of(&second)?;
    assert_ne!(
        second_kid, first_kid,
        "new cookies are sealed with the new key"
    );
    assert_eq!(status_with(&w, &second).await?, 200);

    // Roll again: the first key is gone, and so are its cookies (a new login is asked for).
    w.node.kill_hard().await?;
    age_session_keys(&w)?;
    w.node.restart().await?;
    assert_eq!(status_with(&w, &first).await?, 302);
    assert_eq!(status_with(&w, &second).await?, 200);
    Ok(())
}
