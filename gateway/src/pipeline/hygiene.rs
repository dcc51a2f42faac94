//! Request hygiene before anything else looks at a request: ambiguous framing (`400`), request
//! line and header limits (`414`/`431`), duplicated singleton headers (`400`).

use http::header::{AUTHORIZATION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::request::Parts;

use crate::listener::framing::REFUSAL_HEADER;
use crate::props::RequestLimits;

/// Why a request was refused before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HygieneError {
    /// The framing guard refused the request head (ambiguous length, line folding).
    #[error("ambiguous request framing")]
    Framing,
    /// Both `Content-Length` and `Transfer-Encoding`.
    #[error("both Content-Length and Transfer-Encoding")]
    LengthAndChunked,
    /// More than one `Content-Length`, or a list.
    #[error("duplicate Content-Length")]
    DuplicateLength,
    /// A singleton header sent twice.
    #[error("duplicate {0} header")]
    DuplicateHeader(&'static str),
    /// Request line over `pa.default.limitRequestLine`.
    #[error("request line too long")]
    LineTooLong,
    /// Headers over `pa.default.maxHttpHeaderSize` or `maxHeaderCount`.
    #[error("request headers too large")]
    HeadersTooLarge,
}

/// Checks a request head.
pub fn check(parts: &Parts, limits: &RequestLimits) -> Result<(), HygieneError> {
    if parts.headers.contains_key(REFUSAL_HEADER) {
        return Err(HygieneError::Framing);
    }
    let target = parts.uri.path_and_query().map_or(1, |p| p.as_str().len());
    if parts.method.as_str().len() + 1 + target + 9 > limits.request_line {
        return Err(HygieneError::LineTooLong);
    }
    let headers = &parts.headers;
    if headers.len() > limits.header_count {
        return Err(HygieneError::HeadersTooLarge);
    }
    let bytes: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    if bytes > limits.header_bytes {
        return Err(HygieneError::HeadersTooLarge);
    }
    let lengths = headers.get_all(CONTENT_LENGTH).iter().count();
    if lengths > 0 && headers.contains_key(TRANSFER_ENCODING) {
        return Err(HygieneError::LengthAndChunked);
    }
    let listed = headers
        .get(CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes().contains(&b','));
    if lengths > 1 || listed {
        return Err(HygieneError::DuplicateLength);
    }
    for (name, label) in [(HOST, "Host"), (AUTHORIZATION, "Authorization")] {
        if headers.get_all(&name).iter().count() > 1 {
            return Err(HygieneError::DuplicateHeader(label));
        }
    }
    Ok(())
}
