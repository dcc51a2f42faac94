//! Path normalisation (SPEC §5.2): the one canonical path used for routing, for policy and for
//! the upstream request.
//!
//! Steps, in order: percent-decode up to `decode_count` times (refuse if it would still change),
//! refuse NUL and control characters, treat `\` as `/`, drop `;` parameters from every segment,
//! resolve `.` and `..` (refuse climbing above the root), collapse empty segments unless the
//! application keeps them. The result is decoded text; [`encode_for_upstream`] turns it back into
//! a request path that a backend decodes to exactly the same text.

use std::borrow::Cow;

use crate::props::PathSettings;

/// Why a path was refused (always `400`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not an origin-form path.
    #[error("path must start with '/'")]
    NotAbsolute,
    /// Still percent-encoded after the allowed decoding passes.
    #[error("path is encoded too many times")]
    TooManyEncodings,
    /// An encoded NUL.
    #[error("path contains NUL")]
    Nul,
    /// A control character.
    #[error("path contains a control character")]
    Control,
    /// Not UTF-8 once decoded.
    #[error("path is not UTF-8")]
    NotUtf8,
    /// `..` above the root.
    #[error("path climbs above the root")]
    AboveRoot,
    /// An encoded separator or dot while `pa.uri.canonicalize=false`.
    #[error("path contains an encoded separator")]
    EncodedSeparator,
    /// A `%` not followed by two hex digits (e.g. IIS-style `%u002e`).
    #[error("path contains a malformed percent-encoding")]
    BadEncoding,
}

/// Normalises a raw request path (without query). `keep_empty` keeps `//` segments.
pub fn normalize(
    raw: &str,
    settings: PathSettings,
    keep_empty: bool,
) -> Result<Cow<'_, str>, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_plain(raw, keep_empty) {
        return Ok(Cow::Borrowed(raw));
    }
    check_escapes(raw.as_bytes())?;
    let decoded = decode_all(raw.as_bytes(), settings)?;
    check_bytes(&decoded)?;
    let text = String::from_utf8(decoded).map_err(|_| PathError::NotUtf8)?;
    Ok(Cow::Owned(resolve(&text.replace('\\', "/"), keep_empty)?))
}

/// True when the path needs no work: no escapes, dots, parameters, backslashes or empty segments.
fn is_plain(raw: &str, keep_empty: bool) -> bool {
    let bytes = raw.as_bytes();
    let mut prev = 0u8;
    for &b in bytes {
        match b {
            b'%' | b'\\' | b';' => return false,
            b'.' if prev == b'/' => return false,
            b'/' if prev == b'/' && !keep_empty => return false,
            0..=0x1f | 0x7f => return false,
            _ => {}
        }
        prev = b;
    }
    true
}

fn decode_all(raw: &[u8], settings: PathSettings) -> Result<Vec<u8>, PathError> {
    let mut current = raw.to_vec();
    for _ in 0..settings.decode_count {
        if !settings.canonicalize && has_encoded_separator(&current) {
            return Err(PathError::EncodedSeparator);
        }
        match decode_once(&current) {
            Some(next) => current = next,
            None => return Ok(current),
        }
    }
    if decode_once(&current).is_some() {
        return Err(PathError::TooManyEncodings);
    }
    Ok(current)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One percent-decoding pass; `None` when nothing was decoded.
fn decode_once(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut changed = false;
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                changed = true;
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    changed.then_some(out)
}

/// Every `%` of the raw path must start a two-hex-digit escape.
fn check_escapes(raw: &[u8]) -> Result<(), PathError> {
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let ok = raw.get(i + 1).copied().and_then(hex).is_some()
                && raw.get(i + 2).copied().and_then(hex).is_some();
            if !ok {
                return Err(PathError::BadEncoding);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn has_encoded_separator(input: &[u8]) -> bool {
    input.windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'2', b'f') | (b'5', b'c') | (b'2', b'e')
            )
    })
}

fn check_bytes(bytes: &[u8]) -> Result<(), PathError> {
    for &b in bytes {
        match b {
            0 => return Err(PathError::Nul),
            1..=0x1f | 0x7f => return Err(PathError::Control),
            _ => {}
        }
    }
    Ok(())
}

/// Resolves segments of a decoded path that starts with `/`.
fn resolve(path: &str, keep_empty: bool) -> Result<String, PathError> {
    let mut out: Vec<&str> = Vec::new();
    let raw_segments: Vec<&str> = path[1..].split('/').collect();
    let last = raw_segments.len() - 1;
    let mut trailing = false;
    for (i, seg) in raw_segments.iter().enumerate() {
        let seg = seg.split(';').next().unwrap_or("");
        match seg {
            "." => trailing = i == last,
            ".." => {
                out.pop().ok_or(PathError::AboveRoot)?;
                trailing = i == last;
            }
            "" if i == last => trailing = true,
            "" if !keep_empty => {}
            s => out.push(s),
        }
    }
    let mut result = String::with_capacity(path.len());
    for seg in &out {
        result.push('/');
        result.push_str(seg);
    }
    if trailing || out.is_empty() {
        result.push('/');
    }
    Ok(result)
}

/// Percent-encodes a normalised path for the upstream request line.
pub fn encode_for_upstream(path: &str) -> Cow<'_, str> {
    let needs = path.bytes().any(|b| !keeps(b));
    if !needs {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len() + 8);
    for b in path.bytes() {
        if keeps(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    Cow::Owned(out)
}

/// Bytes sent as they are: unreserved, sub-delimiters except `;`, `:`, `@` and `/`.
fn keeps(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@/".contains(&b)
}

#[cfg(test)]
mod tests;
