use super::*;

const S: PathSettings = PathSettings {
    canonicalize: true,
    decode_count: 3,
};

fn n(raw: &str) -> Result<String, PathError> {
    normalize(raw, S, false).map(|c| c.into_owned())
}

#[test]
fn plain_paths_are_borrowed() {
    assert!(matches!(
        normalize("/app/x.html", S, false),
        Ok(Cow::Borrowed(_))
    ));
}

#[test]
fn dot_segments_resolve() {
    assert_eq!(n("/a/./b/../c").unwrap(), "/a/c");
    assert_eq!(n("/a/b/..").unwrap(), "/a/");
    assert_eq!(n("/a/.").unwrap(), "/a/");
    assert_eq!(n("/..").unwrap_err(), PathError::AboveRoot);
    assert_eq!(n("/a/../..").unwrap_err(), PathError::AboveRoot);
}

#[test]
fn encoded_dots_and_separators_resolve() {
    assert_eq!(n("/public/%2e%2e/admin").unwrap(), "/admin");
    assert_eq!(n("/public%2f..%2fadmin").unwrap(), "/admin");
    assert_eq!(n("/public%5c..%5cadmin").unwrap(), "/admin");
    assert_eq!(n("/public\\..\\admin").unwrap(), "/admin");
    assert_eq!(n("/public/%252e%252e/admin").unwrap(), "/admin");
}

#[test]
fn too_many_encodings_are_refused() {
    assert_eq!(
        n("/a/%25252525252e").unwrap_err(),
        PathError::TooManyEncodings
    );
}

#[test]
fn nul_and_controls_are_refused() {
    assert_eq!(n("/a%00b").unwrap_err(), PathError::Nul);
    assert_eq!(n("/a%2500b").unwrap_err(), PathError::Nul);
    assert_eq!(n("/a%0ab").unwrap_err(), PathError::Control);
}

#[test]
fn parameters_are_dropped_from_segments() {
    assert_eq!(n("/admin;x=y/page").unwrap(), "/admin/page");
    assert_eq!(n("/public/..;/admin").unwrap(), "/admin");
    assert_eq!(n("/public/%2e%2e%3b/admin").unwrap(), "/admin");
}

#[test]
fn empty_segments_collapse_unless_kept() {
    assert_eq!(n("//a///b/").unwrap(), "/a/b/");
    assert_eq!(normalize("/a//b", S, true).unwrap(), "/a//b");
}

#[test]
fn canonicalize_off_refuses_encoded_separators() {
    let off = PathSettings {
        canonicalize: false,
        decode_count: 3,
    };
    assert_eq!(
        normalize("/a%2fb", off, false).unwrap_err(),
        PathError::EncodedSeparator
    );
    assert_eq!(normalize("/a%20b", off, false).unwrap(), "/a b");
}

#[test]
fn upstream_encoding_round_trips() {
    for p in ["/a b", "/a%", "/é/x", "/a?b#c", "/x;y"] {
        let enc = encode_for_upstream(p);
        let back = n(&enc).unwrap();
        assert_eq!(back.replace(";y", ""), p.replace(";y", ""), "{p} -> {enc}");
    }
    assert_eq!(encode_for_upstream("/a b"), "/a%20b");
    assert_eq!(encode_for_upstream("/plain/path"), "/plain/path");
}

#[test]
fn malformed_escapes_are_refused() {
    assert_eq!(n("/a/%u002e%u002e/b").unwrap_err(), PathError::BadEncoding);
    assert_eq!(n("/a%").unwrap_err(), PathError::BadEncoding);
    assert_eq!(n("/a%2").unwrap_err(), PathError::BadEncoding);
    assert_eq!(n("/100%25").unwrap(), "/100%");
}
