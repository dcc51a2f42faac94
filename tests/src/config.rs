//! TOML snippets for test configurations.

/// An engine listener, a `*` virtual host on it, a site with `targets`, and one unprotected
/// application at `root` with a `/*` resource.
pub fn simple(port: u16, secure: bool, root: &str, targets: &[&str]) -> String {
    format!(
        "{}\n{}\n{}\n",
        listener(1, port, secure),
        site(1, targets, ""),
        app(1, root, 1, 1, ""),
    ) + &vhost(1, "*", port)
}

/// `[[engineListeners]]`.
pub fn listener(id: u64, port: u16, secure: bool) -> String {
    format!("[[engineListeners]]\nid = {id}\nname = \"listener {id}\"\nport = {port}\nsecure = {secure}\n")
}

/// `[[virtualHosts]]`.
pub fn vhost(id: u64, host: &str, port: u16) -> String {
    format!("[[virtualHosts]]\nid = {id}\nhost = \"{host}\"\nport = {port}\n")
}

/// `[[sites]]` with extra TOML lines.
pub fn site(id: u64, targets: &[&str], extra: &str) -> String {
    let list: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        "[[sites]]\nid = {id}\nname = \"site {id}\"\ntargets = [{}]\n{extra}\n",
        list.join(", ")
    )
}

/// `[[applications]]` on virtual host `vhost` with site `site`, plus an unprotected `/*`
/// resource (id = application id * 100), and extra application lines.
pub fn app(id: u64, root: &str, vhost: u64, site: u64, extra: &str) -> String {
    format!(
        "[[applications]]\nid = {id}\nname = \"app {id}\"\ncontextRoot = \"{root}\"\n\
         virtualHostIds = [{vhost}]\nsiteId = {site}\n{extra}\n\
         [[resources]]\nid = {rid}\napplicationId = {id}\nname = \"all of app {id}\"\n\
         pathPatterns = [{{ type = \"WILDCARD\", pattern = \"/*\" }}]\nunprotected = true\n",
        rid = id * 100
    )
}
