use super::*;
use tokio::io::AsyncReadExt;

/// Feeds `input` through the guard in pieces of `piece` bytes; returns what hyper would read.
async fn guarded(input: &[u8], piece: usize) -> Vec<u8> {
    let mut builder = tokio_test_reader(input, piece);
    let mut guard = FramingGuard::new(&mut builder, 16 * 1024);
    let mut out = Vec::new();
    let _ = guard.read_to_end(&mut out).await;
    out
}

fn tokio_test_reader(input: &[u8], piece: usize) -> impl AsyncRead + Unpin {
    let chunks: Vec<Vec<u8>> = input.chunks(piece.max(1)).map(<[u8]>::to_vec).collect();
    let stream = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, io::Error>(bytes::Bytes::from(c))),
    );
    tokio_util_like::StreamReader::new(stream)
}

mod tokio_util_like {
    //! A minimal stream-of-bytes reader for the tests.
    use super::*;
    use futures_util::Stream;

    pub(super) struct StreamReader<S> {
        stream: S,
        buf: bytes::Bytes,
    }

    impl<S> StreamReader<S> {
        pub(super) fn new(stream: S) -> Self {
            Self {
                stream,
                buf: bytes::Bytes::new(),
            }
        }
    }

    impl<S: Stream<Item = io::Result<bytes::Bytes>> + Unpin> AsyncRead for StreamReader<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            out: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            loop {
                if !self.buf.is_empty() {
                    let n = self.buf.len().min(out.remaining());
                    out.put_slice(&self.buf[..n]);
                    self.buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                match Pin::new(&mut self.stream).poll_next(cx) {
                    Poll::Ready(Some(Ok(b))) => self.buf = b,
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                    Poll::Ready(None) => return Poll::Ready(Ok(())),
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
    }
}

fn refused(out: &[u8]) -> bool {
    String::from_utf8_lossy(out).contains(REFUSAL_HEADER)
}

#[tokio::test]
async fn well_formed_pipelines_pass_unchanged_in_any_piece_size() {
    let input: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n\
GET /d HTTP/1.1\r\nHost: x\r\n\r\n";
    for piece in [1, 2, 3, 7, 64, 4096] {
        assert_eq!(guarded(input, piece).await, input, "piece size {piece}");
    }
}

#[tokio::test]
async fn ambiguous_framing_is_replaced_and_the_rest_dropped() {
    let cases: [&[u8]; 5] = [
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Gatehouse-Refusal: forged\r\n\r\n",
    ];
    for input in cases {
        for piece in [1, 5, 4096] {
            let out = guarded(input, piece).await;
            assert!(refused(&out), "{}", String::from_utf8_lossy(input));
            assert!(!String::from_utf8_lossy(&out).contains("smuggled"));
        }
    }
}

#[tokio::test]
async fn checked_requests_before_a_refused_one_pass_whole() {
    let good: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    let bad: &[u8] = b"POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n";
    let input = [good, bad].concat();
    for piece in [1, 4, 4096] {
        let out = guarded(&input, piece).await;
        assert!(out.starts_with(good), "piece size {piece}");
        let rest = String::from_utf8_lossy(&out[good.len()..]).to_string();
        assert!(
            rest.starts_with("GET / HTTP/1.1\r\nHost: refused.invalid"),
            "{rest}"
        );
        assert!(
            !rest.contains("smuggled") && !rest.contains("/c "),
            "{rest}"
        );
    }
}

#[tokio::test]
async fn a_smuggled_request_inside_a_body_is_not_a_head() {
    let input: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 56\r\n\r\n\
GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n\
GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
    let out = guarded(input, 3).await;
    assert!(!refused(&out), "body bytes were inspected as a head");
    assert_eq!(out, input);
}

#[tokio::test]
async fn http2_preface_passes_untouched() {
    let input: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    assert_eq!(guarded(input, 2).await, input);
}
