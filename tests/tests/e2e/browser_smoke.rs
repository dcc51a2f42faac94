//! The browser harness itself: a real headless Chromium fills and submits a form served by a
//! real HTTP server, sees the answer and the server's cookie; dropping it leaves no process.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gatehouse_tests::browser::Browser;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(15);

const FORM_PAGE: &str = r#"<!doctype html>
<html><head><title>Who are you?</title></head>
<body>
<form method="post" action="/greet">
  <label for="who">Name</label> <input id="who" name="who" type="text">
  <button id="go" type="submit">Go</button>
</form>
</body></html>"#;

/// A server with a form at `/` that posts to `/greet`, which greets the name it got and sets
/// cookie `greeted` (the name's letters only, `HttpOnly`).
struct FormSite {
    addr: SocketAddr,
    submitted: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FormSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FormSite {
    async fn start() -> anyhow::Result<FormSite> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let submitted = Arc::new(Mutex::new(Vec::new()));
        let seen = submitted.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let seen = seen.clone();
                        async move { Ok::<_, Infallible>(answer(req, &seen).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(FormSite {
            addr,
            submitted,
            task,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn submitted(&self) -> Vec<String> {
        self.submitted.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

async fn answer(req: Request<Incoming>, seen: &Mutex<Vec<String>>) -> Response<Full<Bytes>> {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    match (method, path.as_str()) {
        (Method::GET, "/") => html(StatusCode::OK, FORM_PAGE.to_string()),
        (Method::POST, "/greet") => {
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return html(StatusCode::BAD_REQUEST, "unreadable body".into()),
            };
            let who = form_field(&String::from_utf8_lossy(&body), "who").unwrap_or_default();
            if let Ok(mut v) = seen.lock() {
                v.push(who.clone());
            }
            let page = format!(
                "<!doctype html><html><body><h1 id=\"greeting\">Hello, {}!</h1></body></html>",
                escape(&who)
            );
            let token: String = who.chars().filter(char::is_ascii_alphanumeric).collect();
            let mut resp = html(StatusCode::OK, page);
            if let Ok(v) = format!("greeted={token}; Path=/; HttpOnly").parse() {
                resp.headers_mut().insert(http::header::SET_COOKIE, v);
            }
            resp
        }
        _ => html(StatusCode::NOT_FOUND, "not found".into()),
    }
}

fn html(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// Field `name` of an `application/x-www-form-urlencoded` body, decoded.
fn form_field(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| url_decode(v))
    })
}

fn url_decode(s: &str) -> String {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex: String = bytes.by_ref().take(2).map(char::from).collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap_or(b'?'));
            }
            _ => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[tokio::test]
async fn a_form_filled_in_chromium_reaches_the_server_and_its_cookie_comes_back(
) -> anyhow::Result<()> {
    let site = FormSite::start().await?;
    let browser = Browser::start().await?;

    browser.goto(&site.url("/")).await?;
    assert_eq!(browser.current_url().await?, site.url("/"));
    assert!(browser.page_source().await?.contains("Who are you?"));
    browser.fill("#who", "Ada Lovelace & co").await?;
    browser.click("#go").await?;

    let url = browser.wait_for_url("/greet", WAIT).await?;
    assert_eq!(url, site.url("/greet"));
    let text = browser
        .wait_for_text("Hello, Ada Lovelace & co!", WAIT)
        .await?;
    assert!(!text.contains("Name"), "still on the form: {text}");
    assert_eq!(site.submitted(), ["Ada Lovelace & co"]);
    let cookies = browser.cookies().await?;
    assert!(
        cookies.contains(&("greeted".to_string(), "AdaLovelaceco".to_string())),
        "{cookies:?}"
    );
    assert_eq!(
        browser.cookie("greeted").await?.as_deref(),
        Some("AdaLovelaceco")
    );
    // A predicate works too, and a wait that cannot succeed fails (with where the browser is).
    browser
        .wait_for_url(|u: &str| u.ends_with("/greet"), WAIT)
        .await?;
    let err = browser
        .wait_for_text("never shown", Duration::from_millis(300))
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(
        err.contains("timed out") && err.contains("Hello, Ada"),
        "{err}"
    );

    browser.close().await
}

#[tokio::test]
async fn dropping_the_browser_kills_chromedriver_and_chromium() -> anyhow::Result<()> {
    let browser = Browser::start().await?;
    browser.goto("about:blank").await?;
    let pids = browser.pids();
    let names: Vec<String> = pids.iter().map(|&p| command_name(p)).collect();
    assert!(
        names
            .iter()
            .any(|n| n.contains("chrom") && n != "chromedriver"),
        "no Chromium under chromedriver: {names:?}"
    );
    drop(browser);
    let running: Vec<(u32, String)> = pids
        .iter()
        .filter(|&&p| running(p))
        .map(|&p| (p, command_name(p)))
        .collect();
    assert!(running.is_empty(), "still running after drop: {running:?}");
    Ok(())
}

fn command_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Whether `pid` exists and is no zombie.
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let state = s.get(s.rfind(')')? + 1..)?.split_whitespace().next()?;
            Some(state != "Z")
        })
        .unwrap_or(false)
}
