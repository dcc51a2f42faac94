//! Collections and singletons of the configuration document (SPEC §4.2), served generically:
//! each is a JSON key of the document, listed as `{"items":[…]}` with paging, filtering and
//! sorting, created with an optional client-supplied id, replaced whole by `PUT`, deleted with
//! `204` unless something still refers to it.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::{ApiError, Invalid};
use super::writes::{change, current_json, Applied};
use super::{AdminApi, Caller};

/// How a collection's objects are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// Positive integers (most objects).
    Int,
    /// Strings (global unprotected resources, redirects), as in PingAccess.
    Str,
}

/// A collection of the document.
#[derive(Debug)]
pub struct CollectionDef {
    /// URL path below the API root.
    pub path: &'static str,
    /// Key in the document.
    pub key: &'static str,
    /// OpenAPI schema of one object.
    pub schema: &'static str,
    /// Id kind.
    pub ids: IdKind,
}

/// A singleton of the document.
#[derive(Debug)]
pub struct SingletonDef {
    /// URL path below the API root.
    pub path: &'static str,
    /// Key in the document.
    pub key: &'static str,
    /// OpenAPI schema.
    pub schema: &'static str,
    /// May be absent (`GET` answers `404`, `DELETE` removes it).
    pub optional: bool,
}

const fn coll(
    path: &'static str,
    key: &'static str,
    schema: &'static str,
    ids: IdKind,
) -> CollectionDef {
    CollectionDef {
        path,
        key,
        schema,
        ids,
    }
}

/// Every collection served.
pub const COLLECTIONS: &[CollectionDef] = &[
    coll(
        "/engineListeners",
        "engineListeners",
        "EngineListener",
        IdKind::Int,
    ),
    coll("/virtualhosts", "virtualHosts", "VirtualHost", IdKind::Int),
    coll("/sites", "sites", "Site", IdKind::Int),
    coll("/applications", "applications", "Application", IdKind::Int),
    coll("/certificates", "certificates", "Certificate", IdKind::Int),
    coll(
        "/trustedCertificateGroups",
        "trustedCertificateGroups",
        "TrustedCertificateGroup",
        IdKind::Int,
    ),
    coll("/rules", "rules", "Rule", IdKind::Int),
    coll("/rulesets", "ruleSets", "RuleSet", IdKind::Int),
    coll(
        "/rejectionHandlers",
        "rejectionHandlers",
        "RejectionHandler",
        IdKind::Int,
    ),
    coll(
        "/identityMappings",
        "identityMappings",
        "IdentityMapping",
        IdKind::Int,
    ),
    coll(
        "/accessTokenValidators",
        "accessTokenValidators",
        "AccessTokenValidator",
        IdKind::Int,
    ),
    coll(
        "/globalUnprotectedResources",
        "globalUnprotectedResources",
        "GlobalUnprotectedResource",
        IdKind::Str,
    ),
    coll("/redirects", "redirects", "HostRedirect", IdKind::Str),
    coll("/webSessions", "webSessions", "WebSession", IdKind::Int),
];

/// Resources live in the document's `resources` list, each naming its application.
pub const RESOURCES: CollectionDef = coll(
    "/applications/{applicationId}/resources",
    "resources",
    "Resource",
    IdKind::Int,
);

/// Every singleton served.
pub const SINGLETONS: &[SingletonDef] = &[
    SingletonDef {
        path: "/applications/reserved",
        key: "reservedApplication",
        schema: "ReservedApplication",
        optional: false,
    },
    SingletonDef {
        path: "/unknownResources/settings",
        key: "unknownResources",
        schema: "UnknownResources",
        optional: false,
    },
    SingletonDef {
        path: "/httpConfig/request/ipSource",
        key: "httpIpSource",
        schema: "IpSource",
        optional: false,
    },
    SingletonDef {
        path: "/httpConfig/request/hostSource",
        key: "httpHostSource",
        schema: "HostSource",
        optional: false,
    },
    SingletonDef {
        path: "/httpConfig/request/protocolSource",
        key: "httpProtocolSource",
        schema: "ProtocolSource",
        optional: false,
    },
    SingletonDef {
        path: "/authTokenManagement",
        key: "authTokenManagement",
        schema: "AuthTokenManagement",
        optional: false,
    },
    SingletonDef {
        path: "/oidc/provider",
        key: "oidcProvider",
        schema: "OidcProvider",
        optional: true,
    },
    SingletonDef {
        path: "/oauth/authServer",
        key: "oauthAuthServer",
        schema: "AuthServer",
        optional: true,
    },
    SingletonDef {
        path: "/auth/oauth",
        key: "adminOAuth",
        schema: "AdminOAuth",
        optional: false,
    },
    SingletonDef {
        path: "/webSessionManagement",
        key: "webSessionManagement",
        schema: "WebSessionManagement",
        optional: false,
    },
    SingletonDef {
        path: "/auth/basic",
        key: "adminBasic",
        schema: "AdminBasic",
        optional: false,
    },
];

/// Query parameters of a list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// 1-based page.
    pub page: Option<usize>,
    /// Items per page (all when absent).
    pub number_per_page: Option<usize>,
    /// Case-insensitive text any string field must contain.
    pub filter: Option<String>,
    /// Exact `name`.
    pub name: Option<String>,
    /// Field to sort by.
    pub sort_key: Option<String>,
    /// `ASC` (default) or `DESC`.
    pub order: Option<String>,
}

/// Where objects of a collection are, optionally restricted to one application's resources.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The collection.
    pub def: &'a CollectionDef,
    /// For resources: the application.
    pub application: Option<u64>,
}

impl Scope<'_> {
    /// The collection's path with the application filled in.
    fn path(&self) -> String {
        match self.application {
            Some(app) => self.def.path.replace("{applicationId}", &app.to_string()),
            None => self.def.path.to_string(),
        }
    }

    fn belongs(&self, item: &Value) -> bool {
        self.application
            .is_none_or(|app| item.get("applicationId").and_then(Value::as_u64) == Some(app))
    }
}

fn array<'v>(doc: &'v mut Value, key: &str) -> Result<&'v mut Vec<Value>, ApiError> {
    let obj = doc
        .as_object_mut()
        .ok_or_else(|| ApiError::Internal("document is not an object".into()))?;
    let entry = obj
        .entry(key.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    entry
        .as_array_mut()
        .ok_or_else(|| ApiError::Internal(format!("{key} is not a list")))
}

/// Parses a path id for the collection's id kind.
pub fn parse_id(def: &CollectionDef, raw: &str) -> Result<Value, ApiError> {
    match def.ids {
        IdKind::Str => Ok(Value::String(raw.to_string())),
        IdKind::Int => raw
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| ApiError::NotFound),
    }
}

/// Lists a collection.
pub fn list(api: &AdminApi, scope: Scope<'_>, q: &ListQuery) -> Result<Value, ApiError> {
    let mut doc = current_json(api)?;
    let mut items: Vec<Value> = array(&mut doc, scope.def.key)?
        .iter()
        .filter(|i| scope.belongs(i))
        .cloned()
        .collect();
    if let Some(name) = &q.name {
        items.retain(|i| i.get("name").and_then(Value::as_str) == Some(name.as_str()));
    }
    if let Some(filter) = q.filter.as_deref().map(str::to_lowercase) {
        items.retain(|i| contains_text(i, &filter));
    }
    if let Some(key) = &q.sort_key {
        items.sort_by(|a, b| compare(a.get(key), b.get(key)));
        if q.order
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case("DESC"))
        {
            items.reverse();
        }
    }
    if let Some(per) = q.number_per_page.filter(|n| *n > 0) {
        let page = q.page.unwrap_or(1).max(1);
        items = items
            .into_iter()
            .skip((page - 1).saturating_mul(per))
            .take(per)
            .collect();
    }
    Ok(serde_json::json!({ "items": items }))
}

fn contains_text(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => s.to_lowercase().contains(needle),
        Value::Object(m) => m.values().any(|x| contains_text(x, needle)),
        Value::Array(l) => l.iter().any(|x| contains_text(x, needle)),
        _ => false,
    }
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        _ => std::cmp::Ordering::Equal,
    }
}

/// One object.
pub fn get(api: &AdminApi, scope: Scope<'_>, id: &Value) -> Result<Value, ApiError> {
    let mut doc = current_json(api)?;
    array(&mut doc, scope.def.key)?
        .iter()
        .find(|i| i.get("id") == Some(id) && scope.belongs(i))
        .cloned()
        .ok_or(ApiError::NotFound)
}

fn next_id(items: &[Value], kind: IdKind) -> Value {
    match kind {
        IdKind::Int => Value::from(
            items
                .iter()
                .filter_map(|i| i.get("id").and_then(Value::as_u64))
                .max()
                .unwrap_or(0)
                .saturating_add(1),
        ),
        IdKind::Str => Value::String(format!("{:016x}", rand::random::<u64>())),
    }
}

fn body_object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(Invalid::flash("the body must be a JSON object").into()),
    }
}

/// Creates an object (the id is the client's, else the next free one).
pub async fn create(
    api: &AdminApi,
    caller: &Caller,
    scope: Scope<'_>,
    body: Value,
) -> Result<Applied<Value>, ApiError> {
    let mut obj = body_object(body)?;
    if let Some(app) = scope.application {
        obj.insert("applicationId".into(), Value::from(app));
    }
    let key = scope.def.key;
    let ids = scope.def.ids;
    let summary = format!("POST {}", scope.path());
    let applied = change(api, caller, summary, move |doc| {
        let items = array(doc, key)?;
        let id = match obj.get("id") {
            Some(id) if items.iter().any(|i| i.get("id") == Some(id)) => {
                return Err(Invalid::field("id", format!("{id} is already used")).into())
            }
            Some(id) => id.clone(),
            None => next_id(items, ids),
        };
        obj.insert("id".into(), id.clone());
        items.push(Value::Object(obj));
        let index = items.len() - 1;
        Ok((id, Some(format!("{key}[{index}]"))))
    })
    .await?;
    stored(api, scope, applied)
}

/// The stored object (defaults filled in) a change created or replaced.
fn stored(
    api: &AdminApi,
    scope: Scope<'_>,
    applied: Applied<Value>,
) -> Result<Applied<Value>, ApiError> {
    Ok(Applied {
        value: get(api, scope, &applied.value)?,
        revision: applied.revision,
    })
}

/// Replaces an object whole.
pub async fn replace(
    api: &AdminApi,
    caller: &Caller,
    scope: Scope<'_>,
    id: Value,
    body: Value,
) -> Result<Applied<Value>, ApiError> {
    let mut obj = body_object(body)?;
    if obj.get("id").is_some_and(|b| *b != id) {
        return Err(Invalid::field("id", "does not match the id in the path").into());
    }
    obj.insert("id".into(), id.clone());
    if let Some(app) = scope.application {
        obj.insert("applicationId".into(), Value::from(app));
    }
    let key = scope.def.key;
    let summary = format!("PUT {}/{}", scope.path(), plain(&id));
    let applied = change(api, caller, summary, move |doc| {
        let items = array(doc, key)?;
        let index = items
            .iter()
            .position(|i| i.get("id") == Some(&id) && scope.belongs(i))
            .ok_or(ApiError::NotFound)?;
        items[index] = Value::Object(obj);
        Ok((id, Some(format!("{key}[{index}]"))))
    })
    .await?;
    stored(api, scope, applied)
}

/// Deletes an object (refused while something refers to it).
pub async fn delete(
    api: &AdminApi,
    caller: &Caller,
    scope: Scope<'_>,
    id: Value,
) -> Result<Applied<()>, ApiError> {
    let key = scope.def.key;
    let summary = format!("DELETE {}/{}", scope.path(), plain(&id));
    change(api, caller, summary, move |doc| {
        let items = array(doc, key)?;
        let index = items
            .iter()
            .position(|i| i.get("id") == Some(&id) && scope.belongs(i))
            .ok_or(ApiError::NotFound)?;
        items.remove(index);
        Ok(((), None))
    })
    .await
    .map_err(|e| match e {
        ApiError::Invalid(mut i) => {
            i.flash.insert(
                0,
                "deleting it would leave the configuration invalid (is it still in use?)".into(),
            );
            ApiError::Invalid(i)
        }
        other => other,
    })
}

fn plain(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A singleton's value.
pub fn get_singleton(api: &AdminApi, def: &SingletonDef) -> Result<Value, ApiError> {
    let doc = current_json(api)?;
    match doc.get(def.key) {
        Some(v) if !v.is_null() => Ok(v.clone()),
        _ if def.optional => Err(ApiError::NotFound),
        _ => Ok(Value::Object(Map::new())),
    }
}

/// Replaces a singleton (`None`: removes an optional one).
pub async fn put_singleton(
    api: &AdminApi,
    caller: &Caller,
    def: &'static SingletonDef,
    body: Option<Value>,
) -> Result<Applied<Value>, ApiError> {
    if let Some(b) = &body {
        if !b.is_object() {
            return Err(Invalid::flash("the body must be a JSON object").into());
        }
    }
    let verb = if body.is_some() { "PUT" } else { "DELETE" };
    change(api, caller, format!("{verb} {}", def.path), move |doc| {
        let obj = doc
            .as_object_mut()
            .ok_or_else(|| ApiError::Internal("document is not an object".into()))?;
        match body {
            Some(b) => {
                obj.insert(def.key.to_string(), b.clone());
                Ok((b, Some(def.key.to_string())))
            }
            None => match obj.remove(def.key) {
                Some(v) if !v.is_null() => Ok((Value::Null, None)),
                _ => Err(ApiError::NotFound),
            },
        }
    })
    .await
}
