//! Streaming: large bodies pass through both ways with flat gateway memory.

use futures_util::StreamExt;
use gatehouse_tests::backend::{Backend, Behavior};
use gatehouse_tests::node::Node;
use gatehouse_tests::{config, free_port};

const SIZE: u64 = 200 * 1024 * 1024;
const RSS_LIMIT_KIB: u64 = 100 * 1024;

#[tokio::test]
async fn a_200_mb_download_and_upload_stream_with_gateway_rss_under_100_mb() -> anyhow::Result<()> {
    let download = Backend::start("download", Behavior::Stream(SIZE)).await?;
    let upload = Backend::start("upload", Behavior::Echo).await?;
    let port = free_port();
    let toml = [
        config::listener(1, port, false),
        config::vhost(1, "*", port),
        config::site(1, &[&download.target()], ""),
        config::site(2, &[&upload.target()], ""),
        config::app(1, "/download", 1, 1, ""),
        config::app(2, "/upload", 1, 2, ""),
    ]
    .join("\n");
    let node = Node::builder().toml(toml).start().await?;
    let resp = reqwest::get(format!("http://127.0.0.1:{port}/download/big")).await?;
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        received += chunk?.len() as u64;
    }
    assert_eq!(received, SIZE);
    let chunks = futures_util::stream::iter(
        (0..SIZE / (64 * 1024))
            .map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from_static(&[b'u'; 64 * 1024]))),
    );
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/upload/big"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    assert_eq!(upload.seen()[0].body_len as u64, SIZE);
    let peak = node.peak_rss_kib().unwrap_or(u64::MAX);
    assert!(
        peak < RSS_LIMIT_KIB,
        "gateway peak RSS {peak} KiB for 2 x 200 MB"
    );
    Ok(())
}
