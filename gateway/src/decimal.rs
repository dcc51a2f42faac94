//! Decimal text of integers and IP addresses for request headers and log lines, written with
//! `itoa` instead of `core::fmt`: formatting an IPv4 address through `Display` cost more
//! instructions than parsing the whole request head (callgrind, docs/benchmarks.md).

use std::net::IpAddr;

/// An IP address as text: IPv4 on the stack, IPv6 (rare, and with `::` compression that only
/// `Display` should get right) as a `String`.
pub enum IpText {
    /// Dotted quad.
    V4 {
        /// Up to `255.255.255.255`.
        buf: [u8; 15],
        /// Bytes used.
        len: u8,
    },
    /// RFC 5952 text.
    V6(String),
}

impl IpText {
    /// The text of `ip`, as `Display` writes it.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => {
                let mut buf = [0u8; 15];
                let mut len = 0;
                let mut digits = itoa::Buffer::new();
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        buf[len] = b'.';
                        len += 1;
                    }
                    let text = digits.format(octet).as_bytes();
                    buf[len..len + text.len()].copy_from_slice(text);
                    len += text.len();
                }
                // At most 15 bytes: four octets of up to three digits and three dots.
                Self::V4 {
                    buf,
                    len: len as u8,
                }
            }
            IpAddr::V6(v6) => Self::V6(v6.to_string()),
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::V4 { buf, len } => std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or(""),
            Self::V6(s) => s,
        }
    }
}

/// Appends the decimal text of `n`.
pub fn push_int<I: itoa::Integer>(out: &mut Vec<u8>, n: I) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends `n` (below 1,000,000) as six digits, zero-padded: the microseconds of a timestamp.
pub fn push_micros(out: &mut Vec<u8>, n: u32) {
    let mut digits = [b'0'; 6];
    let mut rest = n.min(999_999);
    for d in digits.iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_is_what_display_writes() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.12.7",
            "1.2.3.4",
            "100.20.3.199",
            "::1",
            "2001:db8::7",
            "::ffff:10.0.0.1",
            "fe80::1:2:3:4",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::of(ip).as_str(), ip.to_string());
        }
    }

    #[test]
    fn integers_and_micros() {
        let mut out = Vec::new();
        push_int(&mut out, 0u16);
        out.push(b' ');
        push_int(&mut out, u64::MAX);
        out.push(b' ');
        push_micros(&mut out, 42);
        out.push(b' ');
        push_micros(&mut out, 999_999);
        out.push(b' ');
        push_micros(&mut out, 0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "0 18446744073709551615 000042 999999 000000"
        );
    }
}
