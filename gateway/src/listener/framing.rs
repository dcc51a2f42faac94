//! HTTP/1 framing guard: inspects every request head on a connection before hyper parses it,
//! and refuses ambiguous framing that hyper would otherwise resolve silently
//! (`Content-Length` with `Transfer-Encoding`, repeated or listed `Content-Length`, obsolete line
//! folding).
//!
//! The guard follows message framing (content length, chunked bodies) so it sees each head of a
//! keep-alive or pipelined connection. A refused head is replaced by a synthetic request that
//! carries [`REFUSAL_HEADER`] and `Connection: close`; everything after it is discarded, so the
//! ambiguous body never reaches hyper. The pipeline answers that request with `400`.
//! HTTP/2 connections (preface `PRI * HTTP/2.0`) and upgraded connections pass through untouched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Header the guard puts on the synthetic request that stands for a refused one.
pub const REFUSAL_HEADER: &str = "x-gatehouse-refusal";

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";
const MAX_HEADERS: usize = 256;
/// Bytes asked of the socket per read while a header block is inspected.
const READ_CHUNK: usize = 16 * 1024;

/// Where the guard is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a complete request head.
    Head,
    /// Passing a body of known length.
    Length(u64),
    /// Passing a chunked body.
    Chunked(Chunk),
    /// Not inspecting any more (HTTP/2, upgrade, or a head hyper will refuse itself).
    Opaque,
    /// A head was refused: drop everything that follows.
    Discard,
}

/// Position inside a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line.
    Size { size: u64, in_ext: bool, digits: u8 },
    /// Expecting the LF of a size line.
    SizeLf { size: u64 },
    /// Inside chunk data.
    Data(u64),
    /// Expecting CRLF after data.
    DataCr,
    /// Expecting LF after data.
    DataLf,
    /// At the start of a trailer line (an empty one ends the body).
    TrailerStart,
    /// Inside a trailer line.
    TrailerLine,
    /// Expecting the LF ending a trailer line.
    TrailerLineLf,
    /// Expecting the LF of the final empty line.
    EndLf,
    /// The body is complete.
    Done,
}

/// What a request head says about framing.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Fine; body framing follows.
    Body(State),
    /// Refused, with the reason.
    Refuse(&'static str),
    /// Stop inspecting (upgrade, CONNECT, or something hyper refuses itself).
    Opaque,
}

/// An IO wrapper that guards request framing on the read side.
pub struct FramingGuard<IO> {
    inner: IO,
    state: State,
    /// Bytes read from the socket: the first `ready` of them are checked and wait for hyper,
    /// the rest are not examined yet. One buffer, consumed from the front: no copy between
    /// buffers and no allocation per request.
    pending: BytesMut,
    ready: usize,
    max_head: usize,
    eof: bool,
}

impl<IO> FramingGuard<IO> {
    /// Guards `inner`; a head longer than `max_head` is left to hyper's own limits.
    pub fn new(inner: IO, max_head: usize) -> Self {
        Self {
            inner,
            state: State::Head,
            pending: BytesMut::with_capacity(8192),
            ready: 0,
            max_head,
            eof: false,
        }
    }

    /// The bytes read but not examined yet.
    fn unexamined(&self) -> &[u8] {
        &self.pending[self.ready..]
    }

    /// Passes as many unexamined bytes as the state allows.
    fn advance(&mut self) {
        loop {
            let before = (self.ready, self.state);
            match self.state {
                State::Opaque => self.ready = self.pending.len(),
                State::Discard => self.pending.truncate(self.ready),
                State::Head => self.head(),
                State::Length(n) => {
                    let k = usize::try_from(n)
                        .unwrap_or(usize::MAX)
                        .min(self.unexamined().len());
                    self.ready += k;
                    let left = n - k as u64;
                    self.state = if left == 0 {
                        State::Head
                    } else {
                        State::Length(left)
                    };
                }
                State::Chunked(c) => self.chunked(c),
            }
            if self.unexamined().is_empty() || (self.ready, self.state) == before {
                return;
            }
        }
    }

    fn head(&mut self) {
        let bytes = self.unexamined();
        if bytes.len() < H2_PREFACE.len() && H2_PREFACE.starts_with(bytes) {
            return;
        }
        if bytes.starts_with(H2_PREFACE) {
            self.state = State::Opaque;
            return;
        }
        let skip = bytes
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        let Some(end) = find_head_end(&bytes[skip..]).map(|e| e + skip) else {
            if bytes.len() > self.max_head {
                self.state = State::Opaque;
            }
            return;
        };
        match inspect(&bytes[skip..end]) {
            Verdict::Body(next) => {
                self.ready += end;
                self.state = next;
            }
            Verdict::Opaque => self.state = State::Opaque,
            Verdict::Refuse(reason) => {
                tracing::info!("request refused before parsing: {reason}");
                // Checked requests before it still go out; the refused one and everything
                // after it are replaced by the synthetic request.
                self.pending.truncate(self.ready);
                self.pending.extend_from_slice(
                    format!(
                        "GET / HTTP/1.1\r\nHost: refused.invalid\r\nConnection: close\r\n{REFUSAL_HEADER}: {reason}\r\n\r\n"
                    )
                    .as_bytes(),
                );
                self.ready = self.pending.len();
                self.state = State::Discard;
            }
        }
    }

    fn chunked(&mut self, c: Chunk) {
        match scan_chunks(c, self.unexamined()) {
            Scan::More(next) => {
                self.ready = self.pending.len();
                self.state = State::Chunked(next);
            }
            Scan::Done(used) => {
                self.ready += used;
                self.state = State::Head;
            }
            Scan::Malformed => self.state = State::Opaque,
        }
    }
}

/// Result of scanning bytes of a chunked body.
enum Scan {
    /// All bytes belong to the body; it continues in this state.
    More(Chunk),
    /// The body ends after this many bytes.
    Done(usize),
    /// Not valid chunking (hyper refuses it itself).
    Malformed,
}

fn scan_chunks(mut c: Chunk, bytes: &[u8]) -> Scan {
    let mut used = 0;
    while used < bytes.len() {
        if let Chunk::Data(n) = c {
            let k = usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(bytes.len() - used);
            used += k;
            let left = n - k as u64;
            c = if left == 0 {
                Chunk::DataCr
            } else {
                Chunk::Data(left)
            };
            continue;
        }
        match step_chunk(c, bytes[used]) {
            Some(Chunk::Done) => return Scan::Done(used + 1),
            Some(next) => {
                used += 1;
                c = next;
            }
            None => return Scan::Malformed,
        }
    }
    Scan::More(c)
}

/// One byte of chunk framing outside data; `None` when malformed.
fn step_chunk(c: Chunk, b: u8) -> Option<Chunk> {
    match c {
        Chunk::Size {
            size,
            in_ext,
            digits,
        } => match b {
            b'\r' if digits > 0 => Some(Chunk::SizeLf { size }),
            b'\n' if digits > 0 => Some(after_size(size)),
            _ if in_ext => Some(c),
            b';' | b' ' | b'\t' if digits > 0 => Some(Chunk::Size {
                size,
                in_ext: true,
                digits,
            }),
            _ => {
                let d = char::from(b).to_digit(16)?;
                (digits < 15).then(|| Chunk::Size {
                    size: size * 16 + u64::from(d),
                    in_ext: false,
                    digits: digits + 1,
                })
            }
        },
        Chunk::SizeLf { size } => (b == b'\n').then(|| after_size(size)),
        Chunk::DataCr => match b {
            b'\r' => Some(Chunk::DataLf),
            b'\n' => Some(start_size()),
            _ => None,
        },
        Chunk::DataLf => (b == b'\n').then(start_size),
        Chunk::TrailerStart => match b {
            b'\r' => Some(Chunk::EndLf),
            b'\n' => Some(Chunk::Done),
            _ => Some(Chunk::TrailerLine),
        },
        Chunk::TrailerLine => match b {
            b'\r' => Some(Chunk::TrailerLineLf),
            b'\n' => Some(Chunk::TrailerStart),
            _ => Some(Chunk::TrailerLine),
        },
        Chunk::TrailerLineLf => (b == b'\n').then_some(Chunk::TrailerStart),
        Chunk::EndLf => (b == b'\n').then_some(Chunk::Done),
        Chunk::Data(_) | Chunk::Done => Some(c),
    }
}

fn start_size() -> Chunk {
    Chunk::Size {
        size: 0,
        in_ext: false,
        digits: 0,
    }
}

fn after_size(size: u64) -> Chunk {
    if size == 0 {
        Chunk::TrailerStart
    } else {
        Chunk::Data(size)
    }
}

/// End of the head (after its empty line), found with memchr's SIMD search.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    memchr::memmem::find(buf, b"\r\n\r\n").map(|p| p + 4)
}

/// A line of the head that starts with a space or tab: the continuation of the one before.
fn has_folded_line(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|i| matches!(head.get(i + 1), Some(b' ' | b'\t')))
}

/// Looks at one complete request head.
fn inspect(head: &[u8]) -> Verdict {
    if has_folded_line(head) {
        return Verdict::Refuse("obsolete line folding");
    }
    // Left uninitialised: httparse writes the headers it finds (8 KB not cleared per request).
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(head, &mut headers) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Verdict::Opaque,
    }
    let (mut lengths, mut te, mut upgrade) = (Vec::new(), None, false);
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            lengths.push(h.value);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te = Some(h.value);
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade = true;
        } else if h.name.eq_ignore_ascii_case(REFUSAL_HEADER) {
            return Verdict::Refuse("reserved header");
        }
    }
    if te.is_some() && !lengths.is_empty() {
        return Verdict::Refuse("both Content-Length and Transfer-Encoding");
    }
    if lengths.len() > 1 || lengths.iter().any(|v| v.contains(&b',')) {
        return Verdict::Refuse("duplicate Content-Length");
    }
    if upgrade || req.method == Some("CONNECT") {
        return Verdict::Opaque;
    }
    if let Some(v) = te {
        let chunked = std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.rsplit(',').next())
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        return if chunked {
            Verdict::Body(State::Chunked(start_size()))
        } else {
            Verdict::Opaque
        };
    }
    match lengths.first() {
        None => Verdict::Body(State::Head),
        Some(v) => match std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
        {
            Some(0) => Verdict::Body(State::Head),
            Some(n) => Verdict::Body(State::Length(n)),
            None => Verdict::Opaque,
        },
    }
}

impl<IO: AsyncRead + Unpin> FramingGuard<IO> {
    /// Body and opaque bytes with nothing buffered: read straight into the caller's buffer and
    /// only scan them; bytes past the end of the body go back to `pending`.
    fn poll_direct(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let end = match self.state {
            State::Length(n) => {
                let got = (buf.filled().len() - before) as u64;
                if got < n {
                    self.state = State::Length(n - got);
                    return Poll::Ready(Ok(()));
                }
                self.state = State::Head;
                before + usize::try_from(n).unwrap_or(usize::MAX)
            }
            State::Chunked(c) => match scan_chunks(c, &buf.filled()[before..]) {
                Scan::More(next) => {
                    self.state = State::Chunked(next);
                    return Poll::Ready(Ok(()));
                }
                Scan::Done(used) => {
                    self.state = State::Head;
                    before + used
                }
                Scan::Malformed => {
                    self.state = State::Opaque;
                    return Poll::Ready(Ok(()));
                }
            },
            _ => return Poll::Ready(Ok(())),
        };
        if end < buf.filled().len() {
            self.pending.extend_from_slice(&buf.filled()[end..]);
            buf.set_filled(end);
            self.advance();
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for FramingGuard<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.ready > 0 {
                let n = this.ready.min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                this.ready -= n;
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let direct = matches!(
                this.state,
                State::Length(_) | State::Chunked(_) | State::Opaque
            );
            if direct && this.pending.is_empty() {
                return this.poll_direct(cx, buf);
            }
            // Read straight into the spare capacity of `pending` (no zeroed scratch buffer).
            let before = this.pending.len();
            this.pending.reserve(READ_CHUNK);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.pending) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => {
                    this.eof = true;
                    this.ready = this.pending.len();
                }
                Poll::Ready(Ok(_)) if this.state == State::Discard => this.pending.truncate(before),
                Poll::Ready(Ok(_)) => this.advance(),
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for FramingGuard<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests;
