//! Splits a sealed session value over several cookies when it is too big for one, joins the
//! pieces back, and names the cookies to expire. Pure functions on names and values: setting
//! the cookie attributes (path, domain, `Secure`, `HttpOnly`, `SameSite`, expiry) is the
//! caller's job, and every chunk must get the same ones.
//!
//! # Scheme
//!
//! A cookie *fits* when `name=value` is at most `threshold` bytes (run.properties
//! `pa.default.session.cookie.size.threshold`, 4093 by default in PingAccess; attributes are
//! not counted).
//!
//! * If `name=value` fits, and the value does not begin with a count prefix (below), it is one
//!   cookie `name=value`. Sealed session values (compact JWS/JWE: base64url and dots) never
//!   contain `~`, so this is the usual case.
//! * Otherwise the value is cut into `n` consecutive pieces, `1 <= n <= MAX_CHUNKS`, carried by
//!   `name=<n>~<piece 0>`, `name.1=<piece 1>`, …, `name.<n-1>=<piece n-1>`: the first cookie
//!   keeps the plain name and says, in decimal before a `~`, how many cookies there are. Every
//!   one of them fits. (`n = 1` only for a value that fits but itself begins with a count
//!   prefix, so that it cannot be misread.)
//!
//! A count prefix is one or more ASCII digits followed by `~` at the start of the `name` value.
//! Because the first cookie states the count, [`join`] reads exactly `name.1` to `name.<n-1>`:
//! a missing piece is detected, and leftovers `name.<k>` with `k >= n` from an earlier, longer
//! value are ignored. Pieces are cut at character boundaries.
//!
//! A name `X.<digits>` is a chunk of `X`: do not give two sessions names that collide that way
//! (audiences `app` and `app.1`).

/// The most cookies one value may occupy, the first included. Bounds the work [`join`] does
/// and the size of a session (16 × 4093 bytes is just under the codec's 64 KiB token limit).
pub const MAX_CHUNKS: usize = 16;

/// Separates the count from the first piece in the first cookie.
const COUNT_END: char = '~';

/// Why a value cannot be stored in cookies.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkError {
    /// The value needs more than [`MAX_CHUNKS`] cookies of `threshold` bytes (or the threshold
    /// does not even leave room for the cookie names).
    #[error(
        "cookie '{name}' value of {len} bytes does not fit in {max} cookies of {threshold} bytes"
    )]
    TooLarge {
        /// Cookie name.
        name: String,
        /// Value length.
        len: usize,
        /// The size threshold.
        threshold: usize,
        /// [`MAX_CHUNKS`].
        max: usize,
    },
}

/// The cookies (name, value) that carry `value` under `name`, first cookie first (see the
/// module documentation for the scheme).
pub fn split(
    name: &str,
    value: &str,
    threshold: usize,
) -> Result<Vec<(String, String)>, ChunkError> {
    if name.len() + 1 + value.len() <= threshold && count_prefix(value).is_none() {
        return Ok(vec![(name.to_string(), value.to_string())]);
    }
    let too_large = || ChunkError::TooLarge {
        name: name.to_string(),
        len: value.len(),
        threshold,
        max: MAX_CHUNKS,
    };
    // The prefix length depends on the count: try one digit, then two (MAX_CHUNKS < 100).
    for digits in 1..=2 {
        let Some(pieces) = cut(name, value, threshold, digits + 1) else {
            continue;
        };
        if pieces.len().to_string().len() != digits {
            continue;
        }
        let count = pieces.len();
        return Ok(pieces
            .into_iter()
            .enumerate()
            .map(|(i, piece)| match i {
                0 => (name.to_string(), format!("{count}{COUNT_END}{piece}")),
                _ => (chunk_name(name, i), piece.to_string()),
            })
            .collect());
    }
    Err(too_large())
}

/// Cuts `value` greedily into at most [`MAX_CHUNKS`] pieces that fit their cookies, the first
/// one also holding a `prefix_len`-byte count prefix; `None` if they do not suffice.
fn cut<'v>(
    name: &str,
    value: &'v str,
    threshold: usize,
    prefix_len: usize,
) -> Option<Vec<&'v str>> {
    let mut pieces = Vec::new();
    let mut rest = value;
    while pieces.is_empty() || !rest.is_empty() {
        let i = pieces.len();
        if i == MAX_CHUNKS {
            return None;
        }
        let overhead = match i {
            0 => name.len() + 1 + prefix_len,
            _ => chunk_name(name, i).len() + 1,
        };
        let room = threshold.checked_sub(overhead)?;
        let mut take = rest.len().min(room);
        while !rest.is_char_boundary(take) {
            take -= 1;
        }
        if take == 0 && !rest.is_empty() {
            return None;
        }
        let (piece, tail) = rest.split_at(take);
        pieces.push(piece);
        rest = tail;
    }
    Some(pieces)
}

/// Reassembles the value stored under `name` from the cookies a request carries, in any order.
/// `None` if there is no `name` cookie, its count is invalid, or a piece is missing.
///
/// When a name occurs more than once the first occurrence counts: browsers send the cookie
/// with the longest path first (RFC 6265 §5.4).
pub fn join<'a>(
    cookies: impl IntoIterator<Item = (&'a str, &'a str)>,
    name: &str,
) -> Option<String> {
    let mut first: Option<&str> = None;
    let mut pieces: [Option<&str>; MAX_CHUNKS] = [None; MAX_CHUNKS];
    for (cookie, value) in cookies {
        if cookie == name {
            first.get_or_insert(value);
        } else if let Some(slot) = chunk_index(name, cookie).and_then(|i| pieces.get_mut(i)) {
            slot.get_or_insert(value);
        }
    }
    let first = first?;
    let Some((count, piece0)) = count_prefix(first) else {
        return Some(first.to_string());
    };
    let count = parse_index(count).filter(|n| (1..=MAX_CHUNKS).contains(n))?;
    let mut value = piece0.to_string();
    for piece in pieces.get(1..count)? {
        value.push_str((*piece)?);
    }
    Some(value)
}

/// The cookies among `present` (the names a request carries) that belong to `name`: `name`
/// itself and every `name.<k>`, `k >= 1`, whatever the count says. Expire them all at logout.
/// Each name is listed once, in first-seen order.
pub fn names_to_clear<'a>(name: &str, present: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for cookie in present {
        let ours = cookie == name || chunk_index(name, cookie).is_some();
        if ours && !out.iter().any(|seen| seen == cookie) {
            out.push(cookie.to_string());
        }
    }
    out
}

/// When a new value is written as `written` (from [`split`]): the cookies of `name` among
/// `present` that it does not overwrite, which must be expired (the value shrank).
pub fn stale_names<'a>(
    name: &str,
    present: impl IntoIterator<Item = &'a str>,
    written: &[(String, String)],
) -> Vec<String> {
    let mut out = names_to_clear(name, present);
    out.retain(|cookie| !written.iter().any(|(w, _)| w == cookie));
    out
}

/// `name.<i>`.
fn chunk_name(name: &str, i: usize) -> String {
    format!("{name}.{i}")
}

/// `Some(i)` if `cookie` is `name.<i>` with `i >= 1` written canonically (no leading zero).
fn chunk_index(name: &str, cookie: &str) -> Option<usize> {
    let digits = cookie.strip_prefix(name)?.strip_prefix('.')?;
    parse_index(digits).filter(|&i| i >= 1)
}

/// A canonical decimal number (ASCII digits, no sign, no leading zero, at most 9 digits).
fn parse_index(digits: &str) -> Option<usize> {
    let canonical = !digits.is_empty()
        && digits.len() <= 9
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

/// Splits `<digits>~<rest>` into the digits and the rest.
fn count_prefix(value: &str) -> Option<(&str, &str)> {
    let end = value.bytes().take_while(u8::is_ascii_digit).count();
    let rest = value[end..].strip_prefix(COUNT_END)?;
    (end > 0).then(|| (&value[..end], rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(cookies: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
        cookies.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// A value that looks like a sealed token: base64url and dots.
    fn token(len: usize) -> String {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
        (0..len)
            .map(|i| alphabet[(i * 7 + i / 3) % alphabet.len()] as char)
            .collect()
    }

    #[test]
    fn small_value_is_one_plain_cookie() {
        let value = token(4093 - "PA.app=".len());
        let cookies = split("PA.app", &value, 4093).unwrap();
        assert_eq!(cookies, vec![("PA.app".to_string(), value.clone())]);
        assert_eq!(join(pairs(&cookies), "PA.app"), Some(value));
        assert_eq!(
            split("PA.app", "", 4093).unwrap(),
            vec![("PA.app".into(), String::new())]
        );
    }

    #[test]
    fn one_byte_over_is_two_chunks() {
        let value = token(4093 - "PA.app=".len() + 1);
        let cookies = split("PA.app", &value, 4093).unwrap();
        let names: Vec<&str> = cookies.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["PA.app", "PA.app.1"]);
        assert!(cookies[0].1.starts_with("2~"));
        assert_eq!(join(pairs(&cookies), "PA.app"), Some(value));
    }

    #[test]
    fn round_trips_within_threshold() {
        for threshold in [20, 33, 100, 4093] {
            for len in (0..threshold * 12).step_by(threshold / 7 + 1) {
                let value = token(len);
                let Ok(cookies) = split("PA.x", &value, threshold) else {
                    continue;
                };
                assert!(cookies.len() <= MAX_CHUNKS);
                for (i, (name, v)) in cookies.iter().enumerate() {
                    assert!(name.len() + 1 + v.len() <= threshold, "{name}={v}");
                    let expected = if i == 0 {
                        "PA.x".to_string()
                    } else {
                        format!("PA.x.{i}")
                    };
                    assert_eq!(name, &expected);
                }
                // Order does not matter.
                let mut shuffled = cookies.clone();
                shuffled.reverse();
                assert_eq!(join(pairs(&shuffled), "PA.x"), Some(value.clone()));
            }
        }
        // 4093 bytes per cookie: 16 of them take a sealed value just under 64 KiB.
        assert!(split("PA.app", &token(64_000), 4093).is_ok());
    }

    #[test]
    fn two_digit_counts() {
        let value = token(300);
        let cookies = split("c", &value, 30).unwrap();
        assert!(cookies.len() >= 10);
        assert!(cookies[0].1.starts_with(&format!("{}~", cookies.len())));
        assert!(cookies.iter().all(|(n, v)| n.len() + 1 + v.len() <= 30));
        assert_eq!(join(pairs(&cookies), "c"), Some(value));
    }

    #[test]
    fn too_large_or_threshold_too_small() {
        let err = split("PA.app", &token(16 * 4093), 4093).unwrap_err();
        assert!(matches!(err, ChunkError::TooLarge { max: 16, .. }));
        assert!(split("PA.app", "abc", 3).is_err());
        assert!(split("PA.app", "abc", 0).is_err());
        // One byte per cookie up to `n.8` (count `9~`); a tenth would need `10~` and `n.9`.
        assert_eq!(split("n", "abcdefghi", 5).unwrap().len(), 9);
        assert!(split("n", "abcdefghij", 5).is_err());
    }

    #[test]
    fn values_that_look_chunked_are_escaped() {
        for value in ["3~abc", "0~", "12~x", "1~"] {
            let cookies = split("n", value, 100).unwrap();
            assert_eq!(cookies, vec![("n".to_string(), format!("1~{value}"))]);
            assert_eq!(join(pairs(&cookies), "n"), Some(value.to_string()));
        }
        // Not a prefix: no digits, or no `~` right after them.
        for value in ["~3", "a3~", "3a~", "3"] {
            assert_eq!(
                split("n", value, 100).unwrap(),
                vec![("n".into(), value.into())]
            );
        }
    }

    #[test]
    fn multibyte_values_cut_at_character_boundaries() {
        let value = "ééééé€€€€€𝄞𝄞𝄞".repeat(3);
        for threshold in 8..40 {
            if let Ok(cookies) = split("n", &value, threshold) {
                assert_eq!(join(pairs(&cookies), "n"), Some(value.clone()));
            }
        }
    }

    fn cookies(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn join_edge_cases() {
        let j = |list: &[(&str, &str)]| join(pairs(&cookies(list)), "PA.a");
        assert_eq!(
            j(&[("PA.a", "3~ab"), ("PA.a.1", "cd"), ("PA.a.2", "ef")]),
            Some("abcdef".into())
        );
        // Missing piece, missing first cookie.
        assert_eq!(j(&[("PA.a", "3~ab"), ("PA.a.2", "ef")]), None);
        assert_eq!(j(&[("PA.a", "3~ab"), ("PA.a.1", "cd")]), None);
        assert_eq!(j(&[("PA.a.1", "cd"), ("PA.a.2", "ef")]), None);
        assert_eq!(j(&[]), None);
        // Leftovers of a longer earlier value are ignored.
        assert_eq!(
            j(&[
                ("PA.a", "2~ab"),
                ("PA.a.1", "cd"),
                ("PA.a.2", "stale"),
                ("PA.a.15", "x")
            ]),
            Some("abcd".into())
        );
        assert_eq!(
            j(&[("PA.a", "plain"), ("PA.a.1", "stale")]),
            Some("plain".into())
        );
        // Invalid counts.
        for first in ["0~ab", "17~ab", "99~ab", "01~ab", "2~"] {
            assert_eq!(j(&[("PA.a", first)]), None, "{first}");
        }
        assert_eq!(j(&[("PA.a", "1~ab")]), Some("ab".into()));
        // The first occurrence of a name counts.
        assert_eq!(
            j(&[
                ("PA.a", "2~ab"),
                ("PA.a.1", "cd"),
                ("PA.a", "plain"),
                ("PA.a.1", "zz")
            ]),
            Some("abcd".into())
        );
        // Other cookies, including look-alikes, are not pieces.
        assert_eq!(
            j(&[
                ("PA.a", "2~ab"),
                ("PA.ab", "x"),
                ("PA.a.01", "x"),
                ("PA.a.x", "x"),
                ("PA.a.", "x"),
                ("PA.a.+1", "x"),
                ("pa.a.1", "x"),
            ]),
            None
        );
        // Bounded: a count of 16 reads pieces 1..=15.
        let mut many = vec![("PA.a".to_string(), "16~0".to_string())];
        many.extend((1..40).map(|i| (format!("PA.a.{i}"), format!("{}", i % 10))));
        assert_eq!(join(pairs(&many), "PA.a"), Some("0123456789012345".into()));
    }

    #[test]
    fn names_to_clear_and_stale_names() {
        let present = [
            "PA.a", "other", "PA.a.1", "PA.a.2", "PA.a.40", "PA.ab", "PA.a.01", "PA.a.1",
        ];
        assert_eq!(
            names_to_clear("PA.a", present),
            ["PA.a", "PA.a.1", "PA.a.2", "PA.a.40"]
        );
        assert!(names_to_clear("PA.a", ["PA.b", "x"]).is_empty());

        let written = split("PA.a", &token(150), 100).unwrap();
        assert_eq!(written.len(), 2);
        assert_eq!(
            stale_names("PA.a", present, &written),
            ["PA.a.2", "PA.a.40"]
        );
        let single = split("PA.a", "short", 100).unwrap();
        assert_eq!(
            stale_names("PA.a", present, &single),
            ["PA.a.1", "PA.a.2", "PA.a.40"]
        );
    }
}
