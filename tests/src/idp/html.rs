//! Just enough HTML for the login driver ([`super::login`]): the first form of one of the
//! provider's pages and what submitting it would send.

/// A control of a form that is submitted with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Field {
    pub(super) name: String,
    pub(super) value: String,
    /// `type` of an `<input>`, lower case (`text` when absent).
    pub(super) kind: String,
}

/// The first form of a page: what submitting it would send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Form {
    /// `action`, as written (relative to the page).
    pub(super) action: String,
    /// `get` or `post`.
    pub(super) method: String,
    /// Its controls with a name (inside it, or outside with `form=<its id>`), and the default
    /// button's name and value when it has a name, in document order.
    pub(super) fields: Vec<Field>,
    /// It has a text control named `login`: the dev-interaction login form.
    pub(super) is_login: bool,
}

/// One start or end tag.
#[derive(Clone, Debug)]
struct Tag {
    /// Lower-case name; `/form` for an end tag.
    name: String,
    attrs: Vec<(String, String)>,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The first form of `html` (see [`Form`]); `None` when there is none.
pub(super) fn first_form(html: &str) -> Option<Form> {
    let tags = tags(html);
    let start = tags.iter().position(|t| t.name == "form")?;
    let end = tags
        .iter()
        .skip(start)
        .position(|t| t.name == "/form")
        .map_or(tags.len(), |i| start + i);
    let form = tags.get(start)?;
    let id = form.attr("id");
    let mut fields = Vec::new();
    let mut default_button_seen = false;
    for (i, tag) in tags.iter().enumerate() {
        let owner = tag.attr("form");
        let belongs = match owner {
            Some(owner) => Some(owner) == id,
            None => i > start && i < end,
        };
        if !belongs {
            continue;
        }
        let kind = tag.attr("type").unwrap_or_default().to_ascii_lowercase();
        let is_submit = match tag.name.as_str() {
            "button" => kind.is_empty() || kind == "submit",
            "input" => kind == "submit" || kind == "image",
            _ => false,
        };
        if is_submit {
            // Submitting "by pressing Enter" sends the default (first) submit button.
            if !default_button_seen {
                default_button_seen = true;
                if let Some(name) = tag.attr("name").filter(|n| !n.is_empty()) {
                    fields.push(Field {
                        name: name.to_string(),
                        value: tag.attr("value").unwrap_or_default().to_string(),
                        kind: "submit".to_string(),
                    });
                }
            }
            continue;
        }
        if tag.name != "input" {
            continue;
        }
        let kind = if kind.is_empty() {
            "text".to_string()
        } else {
            kind
        };
        let checked = tag.attrs.iter().any(|(k, _)| k == "checked");
        let skip = matches!(kind.as_str(), "button" | "reset" | "file")
            || (matches!(kind.as_str(), "checkbox" | "radio") && !checked)
            || tag.attrs.iter().any(|(k, _)| k == "disabled");
        let Some(name) = tag.attr("name").filter(|n| !n.is_empty()) else {
            continue;
        };
        if skip {
            continue;
        }
        let default = if kind == "checkbox" || kind == "radio" {
            "on"
        } else {
            ""
        };
        fields.push(Field {
            name: name.to_string(),
            value: tag.attr("value").unwrap_or(default).to_string(),
            kind,
        });
    }
    let is_login = fields
        .iter()
        .any(|f| f.name == "login" && matches!(f.kind.as_str(), "text" | "email"));
    Some(Form {
        action: form.attr("action").unwrap_or_default().to_string(),
        method: form.attr("method").unwrap_or("get").to_ascii_lowercase(),
        fields,
        is_login,
    })
}

/// The tags of `html`, in order, with entity-decoded attribute values; comments, doctype and
/// the text of `<script>` and `<style>` skipped. Enough for the provider's own pages.
fn tags(html: &str) -> Vec<Tag> {
    let bytes = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(lt) = html[i..].find('<').map(|p| i + p) {
        let rest = &html[lt..];
        if rest.starts_with("<!--") {
            i = rest.find("-->").map_or(html.len(), |p| lt + p + 3);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            i = rest.find('>').map_or(html.len(), |p| lt + p + 1);
            continue;
        }
        let mut j = lt + 1;
        let closing = bytes.get(j) == Some(&b'/');
        if closing {
            j += 1;
        }
        let name_start = j;
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'-') {
            j += 1;
        }
        if j == name_start {
            i = lt + 1;
            continue;
        }
        let name = html[name_start..j].to_ascii_lowercase();
        let mut attrs = Vec::new();
        loop {
            while j < bytes.len() && (bytes[j].is_ascii_whitespace() || bytes[j] == b'/') {
                j += 1;
            }
            if j >= bytes.len() || bytes[j] == b'>' {
                j += 1;
                break;
            }
            let attr_start = j;
            while j < bytes.len()
                && !bytes[j].is_ascii_whitespace()
                && !matches!(bytes[j], b'=' | b'>' | b'/')
            {
                j += 1;
            }
            let attr = html[attr_start..j].to_ascii_lowercase();
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            let mut value = String::new();
            if bytes.get(j) == Some(&b'=') {
                j += 1;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                match bytes.get(j) {
                    Some(&q) if q == b'"' || q == b'\'' => {
                        let end = html[j + 1..]
                            .find(char::from(q))
                            .map_or(html.len(), |p| j + 1 + p);
                        value = decode_entities(&html[j + 1..end]);
                        j = (end + 1).min(html.len());
                    }
                    _ => {
                        let start = j;
                        while j < bytes.len() && !bytes[j].is_ascii_whitespace() && bytes[j] != b'>'
                        {
                            j += 1;
                        }
                        value = decode_entities(&html[start..j]);
                    }
                }
            }
            if !attr.is_empty() {
                attrs.push((attr, value));
            }
        }
        i = j.min(html.len());
        let raw_text = !closing && (name == "script" || name == "style");
        out.push(Tag {
            name: if closing {
                format!("/{name}")
            } else {
                name.clone()
            },
            attrs,
        });
        if raw_text {
            let end_tag = format!("</{name}");
            i = html[i..]
                .to_ascii_lowercase()
                .find(&end_tag)
                .map_or(html.len(), |p| i + p);
        }
    }
    out
}

/// Decodes the character references HTML escaping produces (`&amp;`, `&lt;`, `&gt;`,
/// `&quot;`, `&apos;`, `&#39;`, `&#x27;`, ...); others stay as they are.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|&s| s <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// oidc-provider 9's dev-interaction login page (body, trimmed).
    const LOGIN_PAGE: &str = r#"<!DOCTYPE html><html><head><style>a{color:red}</style></head><body>
      <form autocomplete="off" action="https://localhost:1/interaction/Ab-1?x=1&amp;y=2" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" placeholder="Enter any login" autofocus="on">
  <input required type="password" name="password" placeholder="and password" >
  <button type="submit" class="login login-submit">Sign-in</button>
</form>      <div class="login-help">
        <a href="https://localhost:1/interaction/Ab-1/abort">[ Cancel ]</a></div>
      <!-- <form action="/not-this-one"> --></body></html>"#;

    /// Its logout confirmation: the buttons sit outside the form and name it.
    const LOGOUT_PAGE: &str = r#"<html><head><style>button{x:y}</style></head><body>
      <div class="container"><h1>Do you want to sign-out from localhost:1?</h1>
        <form id="op.logoutForm" method="post" action="https://localhost:1/session/end/confirm"><input type="hidden" name="xsrf" value="c0ffee"/></form>
        <button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
        <button type="submit" form="op.logoutForm">No, stay signed in</button>
      </div></body></html>"#;

    /// Its self-submitting form (logout without a session, response_mode=form_post).
    const FORM_POST_PAGE: &str = r#"<!DOCTYPE html><html><head><title>Submitting Callback</title>
  <script>document.addEventListener('DOMContentLoaded', function () { if (1 < 2) document.forms[0].submit() });</script>
</head><body><form method="post" action="https://localhost:1/session/end/confirm">
    <input type="hidden" name="xsrf" value="a&quot;b"/>
<input type="hidden" name="logout" value="yes"/>
    <noscript><button autofocus type="submit">Continue</button></noscript>
  </form></body></html>"#;

    fn pairs(form: &Form) -> Vec<(&str, &str)> {
        form.fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
            .collect()
    }

    #[test]
    fn reads_the_login_form() {
        let form = first_form(LOGIN_PAGE).unwrap();
        assert_eq!(form.action, "https://localhost:1/interaction/Ab-1?x=1&y=2");
        assert_eq!(form.method, "post");
        assert!(form.is_login);
        assert_eq!(
            pairs(&form),
            [("prompt", "login"), ("login", ""), ("password", "")]
        );
        assert_eq!(form.fields[2].kind, "password");
    }

    #[test]
    fn logout_form_takes_its_outside_default_button() {
        let form = first_form(LOGOUT_PAGE).unwrap();
        assert!(!form.is_login);
        assert_eq!(form.action, "https://localhost:1/session/end/confirm");
        assert_eq!(pairs(&form), [("xsrf", "c0ffee"), ("logout", "yes")]);
    }

    #[test]
    fn self_submitting_form_skips_script_text() {
        let form = first_form(FORM_POST_PAGE).unwrap();
        assert_eq!(pairs(&form), [("xsrf", "a\"b"), ("logout", "yes")]);
        assert!(first_form("<html><body><p>Sign-out Success</p></body></html>").is_none());
    }

    #[test]
    fn form_defaults_and_skipped_controls() {
        let form = first_form(
            "<form action=/x><input name=a value=1><input type=checkbox name=b>\
             <input type=checkbox name=c checked><input name=d disabled value=2>\
             <input type=submit name=go value=Go><input type=submit name=no value=No></form>",
        )
        .unwrap();
        assert_eq!(form.method, "get");
        assert_eq!(form.action, "/x");
        assert_eq!(pairs(&form), [("a", "1"), ("c", "on"), ("go", "Go")]);
    }

    #[test]
    fn decodes_character_references() {
        assert_eq!(
            decode_entities("a&amp;b&lt;&gt;&quot;&#39;&#x27;&#X41;&nope;&"),
            "a&b<>\"''A&nope;&"
        );
    }
}
