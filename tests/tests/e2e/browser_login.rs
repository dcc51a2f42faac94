//! A web session in a real headless Chromium: a protected page of a `Web` application sends the
//! browser to the real OpenID provider (oidc-provider), whose login (and consent) forms are filled
//! and submitted as a person would; the browser lands back on the backend's page with the mapped
//! identity, then logs out through the gateway, and the protected page needs a new login.

use std::time::Duration;

use fantoccini::Locator;
use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::browser::Browser;
use gatehouse_tests::idp::{self, Idp, IdpOptions};
use gatehouse_tests::node::Node;
use gatehouse_tests::{config, free_port, wait};
use serde_json::Value;

/// Deadline of every wait on the browser.
const WAIT: Duration = Duration::from_secs(10);
/// The account typed into the provider's login form (its `sub`, hence `X-User`).
const USER: &str = "erin";
/// The provider's dev-interaction login form (oidc-provider's `login` view).
const LOGIN_FORM: &str = "form input[name=\"prompt\"][value=\"login\"]";
/// The provider's dev-interaction consent form (oidc-provider's `interaction` view).
const CONSENT_FORM: &str = "form input[name=\"prompt\"][value=\"consent\"]";
/// What the gateway logs when a callback has exchanged a code and set the session cookie.
const LOGIN_COMPLETED: &str = "web session login completed";

/// The gateway's configuration: a plain-HTTP engine listener, the provider's CA trusted through
/// a certificate group, web session `web` (cookie `PA.web`, not `Secure` on plain HTTP; kept from
/// the site), and a protected `Web` application at `/web` whose subject goes to the backend as
/// `X-User`.
fn toml(port: u16, backend: &str, idp: &Idp) -> String {
    let pem = idp.ca_pem().replace('\n', "\\n");
    [
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::site(1, &[backend], "sendPaCookie = false\n"),
        format!("[[certificates]]\nid = 1\nalias = \"idp ca\"\nfileData = \"{pem}\"\n"),
        "[[trustedCertificateGroups]]\nid = 10\nname = \"idp\"\ncertIds = [1]\n".into(),
        format!(
            "[oidcProvider]\nissuer = \"{}\"\ntrustedCertificateGroupId = 10\nuseSlo = false\n",
            idp.issuer()
        ),
        format!(
            "[[webSessions]]\nid = 1\nname = \"web\"\naudience = \"web\"\nsecureCookie = false\n\
             scopes = [\"profile\", \"email\"]\n\
             clientCredentials = {{ clientId = \"{}\", clientSecret = \"{}\", \
             authMethod = \"client_secret_basic\" }}\n",
            idp::WEB_ID,
            idp::WEB_SECRET
        ),
        "[[identityMappings]]\nid = 1\nname = \"headers\"\ntype = \"Header\"\n\
         configuration = { attributeHeaderMappings = [\
         { subject = true, headerName = \"X-User\" }] }\n"
            .into(),
        config::app(
            1,
            "/web",
            1,
            1,
            "webSessionId = 1\nidentityMappingIds = { Web = 1 }\n",
        )
        .replace("unprotected = true", "unprotected = false"),
    ]
    .join("\n")
}

/// Where the browser is after a step of the login.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    /// The provider's login form.
    LoginForm,
    /// The provider's consent form.
    ConsentForm,
    /// Back on the protected page.
    Back,
}

/// Waits until the browser is back on `page`, or on a page of the provider (`interaction`) that
/// shows one of the forms in `forms`.
async fn next_stop(
    browser: &Browser,
    page: &str,
    interaction: &str,
    forms: &[Stop],
) -> anyhow::Result<Stop> {
    let found = wait::until(
        &format!("{page}, or the provider's {forms:?}"),
        WAIT,
        || async move {
            let url = browser.current_url().await.ok()?;
            if url == page {
                return Some(Stop::Back);
            }
            if !url.starts_with(interaction) {
                return None;
            }
            for form in forms {
                let css = match form {
                    Stop::LoginForm => LOGIN_FORM,
                    Stop::ConsentForm => CONSENT_FORM,
                    Stop::Back => continue,
                };
                if browser.client().find(Locator::Css(css)).await.is_ok() {
                    return Some(*form);
                }
            }
            None
        },
    )
    .await;
    match found {
        Ok(stop) => Ok(stop),
        Err(e) => {
            let url = browser.current_url().await.unwrap_or_default();
            let text = browser.body_text().await.unwrap_or_default();
            Err(e.context(format!("the browser is at {url}, showing:\n{text:.2000}")))
        }
    }
}

/// On the provider's login form: types `USER` and a password and submits; confirms the consent
/// form when the provider shows one; waits until the browser is back on `page`.
async fn log_in_at_provider(
    browser: &Browser,
    page: &str,
    interaction: &str,
) -> anyhow::Result<()> {
    browser.fill("input[name=\"login\"]", USER).await?;
    browser
        .fill("input[name=\"password\"]", "any password will do")
        .await?;
    browser
        .click(&format!("{LOGIN_FORM} ~ button[type=\"submit\"]"))
        .await?;
    // The login page, still shown until the submit's navigation commits, passes for neither:
    // it has no consent form and is not `page`.
    if next_stop(browser, page, interaction, &[Stop::ConsentForm]).await? == Stop::ConsentForm {
        browser
            .click(&format!("{CONSENT_FORM} ~ button[type=\"submit\"]"))
            .await?;
    }
    browser.wait_for_url(|u: &str| u == page, WAIT).await?;
    Ok(())
}

/// The backend's echo as the browser shows it: the JSON in the page's text.
fn echo(text: &str) -> anyhow::Result<Value> {
    let start = text.find('{');
    let end = text.rfind('}');
    match (start, end) {
        (Some(s), Some(e)) if s < e => Ok(serde_json::from_str(&text[s..=e])?),
        _ => anyhow::bail!("no JSON on the page: {text:.2000}"),
    }
}

/// How many logins the gateway has completed (callbacks that exchanged a code).
fn completed_logins(node: &Node) -> usize {
    node.stderr().matches(LOGIN_COMPLETED).count()
}

#[tokio::test]
async fn chromium_logs_in_at_the_provider_and_out_through_the_gateway() -> anyhow::Result<()> {
    let port = free_port();
    let idp = Idp::start(IdpOptions {
        redirect_uris: vec![format!("http://localhost:{port}/pa/oidc/cb")],
        ..IdpOptions::default()
    })
    .await?;
    let backend = Backend::start("web", Behavior::Echo).await?;
    let node = Node::builder()
        .toml(toml(port, &backend.target(), &idp))
        .start()
        .await?;
    let browser = Browser::start().await?;
    let gateway = |path: &str| format!("http://localhost:{port}{path}");
    let page = gateway("/web/page?x=1");
    let interaction = format!("{}/interaction/", idp.issuer());

    // The protected page sends the browser to the provider's login form.
    browser.goto(&page).await?;
    browser.wait_for_url(interaction.as_str(), WAIT).await?;
    assert_eq!(
        next_stop(&browser, &page, &interaction, &[Stop::LoginForm]).await?,
        Stop::LoginForm
    );
    assert_eq!(browser.cookie("PA.web").await?, None, "no session yet");

    // Log in (and consent); back on the page, the backend's echo shows the mapped identity.
    log_in_at_provider(&browser, &page, &interaction).await?;
    let text = browser.wait_for_text(&format!("\"{USER}\""), WAIT).await?;
    let seen = echo(&text)?;
    assert_eq!(seen["path"], "/web/page", "{seen}");
    assert_eq!(seen["headers"]["x-user"], USER, "{seen}");
    let cookie_header = seen["headers"]["cookie"].as_str().unwrap_or_default();
    assert!(
        !cookie_header.contains("PA."),
        "the session cookie reaches the backend: {cookie_header}"
    );
    assert_eq!(
        backend.last_seen("/web/page")?.header_values("x-user"),
        [USER]
    );
    let session = browser.client().get_named_cookie("PA.web").await?;
    assert_eq!(session.http_only(), Some(true), "{session}");
    assert!(!session.value().is_empty(), "{session}");
    assert_eq!(completed_logins(&node), 1, "{}", node.stderr());

    // Logout through the gateway: the signed-out page, and no session cookie any more.
    browser.goto(&gateway("/pa/oidc/logout")).await?;
    browser.wait_for_text("You are signed out.", WAIT).await?;
    assert_eq!(
        browser.cookie("PA.web").await?,
        None,
        "logout left the cookie"
    );

    // The protected page starts a login again. The provider's own session is still alive (no
    // single logout here), so it may answer at once without showing a form; either way the
    // gateway must complete a second login through its callback and set a new cookie.
    browser.goto(&page).await?;
    let stop = next_stop(
        &browser,
        &page,
        &interaction,
        &[Stop::LoginForm, Stop::ConsentForm],
    )
    .await?;
    match stop {
        Stop::LoginForm => log_in_at_provider(&browser, &page, &interaction).await?,
        Stop::ConsentForm => {
            browser
                .click(&format!("{CONSENT_FORM} ~ button[type=\"submit\"]"))
                .await?;
            browser.wait_for_url(|u: &str| u == page, WAIT).await?;
        }
        Stop::Back => {}
    }
    wait::until("the gateway's second completed login", WAIT, || async {
        (completed_logins(&node) == 2).then_some(())
    })
    .await
    .map_err(|e| {
        e.context(format!(
            "no new login after the logout ({} completed); the gateway's log:\n{}",
            completed_logins(&node),
            node.stderr()
        ))
    })?;
    let again = echo(&browser.wait_for_text(&format!("\"{USER}\""), WAIT).await?)?;
    assert_eq!(again["headers"]["x-user"], USER, "{again}");
    let renewed = browser.client().get_named_cookie("PA.web").await?;
    assert_ne!(renewed.value(), session.value(), "a new session cookie");

    browser.close().await
}
