//! `gatehouse config`: converts between the startup TOML (`pa.startup.config`) and the admin
//! API's export JSON (`{"version","data"}`), and checks either without starting a node.

use std::path::Path;

use gatehouse_model::{load_toml, ConfigDocument};
use serde_json::Value;

/// Why a conversion failed (the message names the file).
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The file could not be read.
    #[error("cannot read {file}: {source}")]
    Read {
        /// File.
        file: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The document is invalid (every problem, one per line).
    #[error("{0}")]
    Invalid(String),
}

/// Reads a TOML document, or a JSON export (or bare JSON document), by content.
pub fn read(path: &Path) -> Result<ConfigDocument, ConvertError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConvertError::Read {
        file: file.clone(),
        source,
    })?;
    let doc = if text.trim_start().starts_with('{') {
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| ConvertError::Invalid(format!("{file}:{}: {e}", e.line())))?;
        let data = match json {
            Value::Object(mut m) if m.contains_key("data") => m.remove("data").unwrap_or_default(),
            other => other,
        };
        serde_json::from_value(data).map_err(|e| ConvertError::Invalid(format!("{file}: {e}")))?
    } else {
        load_toml(&text).map_err(|e| ConvertError::Invalid(e.render(&file)))?
    };
    gatehouse_gateway::snapshot::compile(doc.clone(), 0, None, None)
        .map_err(|p| ConvertError::Invalid(format!("{file} is invalid:\n{p}")))?;
    Ok(doc)
}

/// The export JSON of a document.
pub fn to_json(doc: &ConfigDocument) -> String {
    let export = serde_json::json!({ "version": env!("CARGO_PKG_VERSION"), "data": doc });
    serde_json::to_string_pretty(&export).unwrap_or_default()
}

/// The TOML of a document (absent optional values are left out: TOML has no null).
pub fn to_toml(doc: &ConfigDocument) -> Result<String, ConvertError> {
    let mut json = serde_json::to_value(doc).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    strip_nulls(&mut json);
    let value = toml::Value::try_from(json).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    toml::to_string_pretty(&value).map_err(|e| ConvertError::Invalid(e.to_string()))
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(l) => l.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_convert_both_ways_without_loss() {
        let text = r#"
[[engineListeners]]
id = 1
name = "l"
port = 3000
secure = false

[[virtualHosts]]
id = 1
host = "*"
port = 3000

[[sites]]
id = 1
name = "s"
targets = ["127.0.0.1:8080"]

[[applications]]
id = 1
name = "a"
contextRoot = "/a"
virtualHostIds = [1]
siteId = 1
policy = { Web = [{ type = "Rule", id = 1 }] }

[[rules]]
id = 1
name = "ws"
type = "WebSocketHandshake"

[[rules]]
id = 2
name = "net"
type = "NetworkRange"
configuration = { cidrNotation = ["10.0.0.0/8"], negate = true }

[[redirects]]
id = "old"
source = { host = "old.test", port = 443 }
target = { host = "new.test", port = 443 }
"#;
        let doc = load_toml(text).unwrap();
        let toml = to_toml(&doc).unwrap();
        assert_eq!(load_toml(&toml).unwrap(), doc, "{toml}");
        let json: Value = serde_json::from_str(&to_json(&doc)).unwrap();
        let back: ConfigDocument = serde_json::from_value(json["data"].clone()).unwrap();
        assert_eq!(back, doc);
    }
}
