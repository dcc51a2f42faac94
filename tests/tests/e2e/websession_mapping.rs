//! Identity mappings on web applications: a JWT minted per user and session.

use gatehouse_tests::idp;

use crate::websession::{log_in, protected_app, world, Setup};

/// A JWT identity mapping on a web application: each user's requests carry a JWT naming that
/// user (minted JWTs are reused per session, never across sessions).
#[tokio::test]
async fn jwt_mapping_mints_for_each_web_user() -> anyhow::Result<()> {
    let more = [
        "[[identityMappings]]\nid = 3\nname = \"web jwt\"\ntype = \"JWT\"\n\
         configuration = { headerName = \"X-Web-Jwt\", audience = \"site\" }\n"
            .to_string(),
        protected_app(14, "/jwt", "identityMappingIds = { Web = 3 }\n"),
    ]
    .join("\n");
    let w = world(Setup::with_more(more)).await?;
    let mut seen_subjects = Vec::new();
    for user in ["alice", "bob", "alice"] {
        let browser = w.browser()?;
        let done = log_in(&w, &browser, "/jwt/page", user).await?;
        assert_eq!(done.status(), 302, "{user}: callback");
        for _ in 0..2 {
            let page = browser.get(w.url("/jwt/page")).send().await?;
            assert_eq!(page.status(), 200);
            let seen = w.backend.last_seen("/jwt/page")?;
            let jwt = seen.headers["x-web-jwt"].to_str()?.to_string();
            let (_, claims) = idp::decode_jwt_unverified(&jwt)?;
            assert_eq!(
                claims["sub"], user,
                "the JWT names the user who sent the request"
            );
            assert_eq!(claims["aud"], "site");
            seen_subjects.push(claims["sub"].as_str().unwrap_or_default().to_string());
        }
    }
    assert_eq!(
        seen_subjects,
        ["alice", "alice", "bob", "bob", "alice", "alice"]
    );
    Ok(())
}
