//! Virtual host lookup: exact `host:port` beats `*.domain:port` (longest suffix) beats `*:port`.

use std::collections::HashMap;

/// Index of a virtual host in the compiled table.
pub type VhostIndex = usize;

/// Compiled virtual hosts.
#[derive(Debug, Default)]
pub struct VhostTable {
    /// Per port, by host name (looked up without allocating a key).
    exact: HashMap<u16, HashMap<Box<str>, VhostIndex>>,
    /// Per port, by the suffix after `*.`.
    wildcard: HashMap<u16, HashMap<Box<str>, VhostIndex>>,
    any: HashMap<u16, VhostIndex>,
}

// === impl VhostTable ===

impl VhostTable {
    /// Adds a virtual host (`host` as configured; matched case-insensitively).
    pub fn insert(&mut self, host: &str, port: u16, index: VhostIndex) {
        let host = host.to_ascii_lowercase();
        if host == "*" {
            self.any.insert(port, index);
        } else if let Some(suffix) = host.strip_prefix("*.") {
            let by_suffix = self.wildcard.entry(port).or_default();
            by_suffix.insert(suffix.into(), index);
        } else {
            self.exact
                .entry(port)
                .or_default()
                .insert(host.into(), index);
        }
    }

    /// Finds the most specific virtual host for a lower-case host name and port.
    pub fn find(&self, host: &str, port: u16) -> Option<VhostIndex> {
        if let Some(i) = self.exact.get(&port).and_then(|by_host| by_host.get(host)) {
            return Some(*i);
        }
        if let Some(by_suffix) = self.wildcard.get(&port) {
            let mut rest = host;
            while let Some((_, suffix)) = rest.split_once('.') {
                if let Some(i) = by_suffix.get(suffix) {
                    return Some(*i);
                }
                rest = suffix;
            }
        }
        self.any.get(&port).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_host_wins() {
        let mut t = VhostTable::default();
        t.insert("*", 443, 0);
        t.insert("*.example.com", 443, 1);
        t.insert("*.api.example.com", 443, 2);
        t.insert("www.example.com", 443, 3);
        assert_eq!(t.find("www.example.com", 443), Some(3));
        assert_eq!(t.find("a.api.example.com", 443), Some(2));
        assert_eq!(t.find("x.example.com", 443), Some(1));
        assert_eq!(t.find("example.org", 443), Some(0));
        assert_eq!(t.find("www.example.com", 80), None);
        assert_eq!(
            t.find("example.com", 443),
            Some(0),
            "*.example.com needs a label"
        );
    }
}
