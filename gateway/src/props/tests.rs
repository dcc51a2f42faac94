use super::*;

fn load_text(text: &str) -> Result<(RunProperties, Vec<String>), PropsError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.properties");
    std::fs::write(&path, text).unwrap();
    load(&path)
}

#[test]
fn defaults_apply_when_file_is_empty() {
    let (p, w) = load_text("# nothing\n").unwrap();
    assert!(w.is_empty());
    assert_eq!(p.mode, Mode::Standalone);
    assert_eq!(p.admin_addr.1, 9000);
    assert_eq!(p.limits.request_line, 8192);
    assert_eq!(p.paths.decode_count, 3);
    assert!(p.data_dir.ends_with("data"));
}

#[test]
fn continuation_escape_and_comment_lines_are_java_properties() {
    let text = "! bang comment\n# hash comment\nadmin.initial.password = pa\\\n    ss\\u0021\nadmin.port:9100\n";
    let (p, _) = load_text(text).unwrap();
    assert_eq!(p.admin_initial_password.as_deref(), Some("pass!"));
    assert_eq!(p.admin_addr.1, 9100);
}

#[test]
fn bad_value_names_file_line_and_key() {
    let err = load_text("# c\n\nadmin.port = ninety\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("run.properties:3: admin.port:"), "{err}");
    assert!(err.contains("'ninety'"), "{err}");
}

#[test]
fn unknown_key_warns_with_closest_key() {
    let (_, w) = load_text("pa.data.dri=x\n").unwrap();
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("did you mean 'pa.data.dir'"), "{}", w[0]);
}

#[test]
fn tls_protocols_refuse_old_versions() {
    let err = load_text("engine.ssl.protocols=TLSv1.1, TLSv1.2\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("TLSv1.1"), "{err}");
}

#[test]
fn relative_paths_resolve_against_the_file() {
    let (p, _) = load_text("pa.startup.config=conf/g.toml\n").unwrap();
    let cfg = p.startup_config.unwrap();
    assert!(cfg.ends_with("conf/g.toml"));
    assert!(cfg.is_absolute() || cfg.starts_with(std::env::temp_dir()));
}

#[test]
fn example_file_documents_every_key() {
    let example = include_str!("../../../run.properties.example");
    for spec in keys::KEYS {
        assert!(
            example.contains(spec.key),
            "run.properties.example lacks {}",
            spec.key
        );
    }
}
