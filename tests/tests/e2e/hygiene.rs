//! Request hygiene: ambiguous framing and limits, on raw sockets.

use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::node::Node;
use gatehouse_tests::{client, config, free_port};

#[tokio::test]
async fn ambiguous_framing_and_oversize_requests_are_refused() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let _node = Node::builder()
        .toml(config::simple(port, false, "/", &[&backend.target()]))
        .prop("pa.default.limitRequestLine", 200)
        .prop("pa.default.maxHeaderCount", 20)
        .prop("pa.default.maxHttpHeaderSize", 1000)
        .start()
        .await?;
    let addr = ([127, 0, 0, 1], port).into();
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "CL and TE",
            format!("POST /x HTTP/1.1\r\nHost: a:{port}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            400,
        ),
        (
            "duplicate CL",
            format!("POST /x HTTP/1.1\r\nHost: a:{port}\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd"),
            400,
        ),
        ("CL list", format!("POST /x HTTP/1.1\r\nHost: a:{port}\r\nContent-Length: 4, 4\r\n\r\nabcd"), 400),
        ("obs-fold", format!("GET /x HTTP/1.1\r\nHost: a:{port}\r\nX-Folded: one\r\n two\r\n\r\n"), 400),
        ("duplicate Host", format!("GET /x HTTP/1.1\r\nHost: a:{port}\r\nHost: b:{port}\r\n\r\n"), 400),
        (
            "long request line",
            format!("GET /{} HTTP/1.1\r\nHost: a:{port}\r\n\r\n", "a".repeat(300)),
            414,
        ),
        (
            "header bytes",
            format!("GET /x HTTP/1.1\r\nHost: a:{port}\r\nX-Big: {}\r\n\r\n", "b".repeat(1200)),
            431,
        ),
        (
            "header count",
            format!(
                "GET /x HTTP/1.1\r\nHost: a:{port}\r\n{}\r\n",
                (0..30).map(|i| format!("X-H{i}: v\r\n")).collect::<String>()
            ),
            431,
        ),
        ("fine", format!("GET /x HTTP/1.1\r\nHost: a:{port}\r\nConnection: close\r\n\r\n"), 200),
    ];
    for (what, raw, expected) in cases {
        let resp = client::raw(addr, raw.as_bytes()).await?;
        assert_eq!(client::status_of(&resp), expected, "{what}: {resp}");
    }
    assert_eq!(
        backend.seen().len(),
        1,
        "only the well-formed request reached the backend"
    );
    Ok(())
}

#[tokio::test]
async fn an_answer_given_before_the_body_was_read_closes_the_connection() -> anyhow::Result<()> {
    let backend = Backend::start("b", Behavior::Echo).await?;
    let port = free_port();
    let _node = Node::builder()
        .toml(config::simple(port, false, "/app", &[&backend.target()]))
        .start()
        .await?;
    let addr = ([127, 0, 0, 1], port).into();
    // The body has not been sent yet when the gateway answers (unknown resource, heartbeat):
    // reusing the connection would read the body as the next request.
    for path in ["/nowhere", "/pa/heartbeat.ping"] {
        let head = client::raw_head(
            addr,
            format!("POST {path} HTTP/1.1\r\nHost: a:{port}\r\nContent-Length: 20\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        assert!(
            head.to_ascii_lowercase().contains("connection: close"),
            "{path}: {head}"
        );
    }
    // A proxied request with a body keeps the connection.
    let head = client::raw_head(
        addr,
        format!("POST /app/x HTTP/1.1\r\nHost: a:{port}\r\nContent-Length: 2\r\n\r\n{{}}")
            .as_bytes(),
    )
    .await?;
    assert_eq!(client::status_of(&head), 200, "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    Ok(())
}
