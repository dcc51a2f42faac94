//! The OpenAPI 3 document of the admin API, generated from the code: object schemas are derived
//! from the configuration model (`utoipa::ToSchema`), and paths from the same collection and
//! singleton tables the router is built from, so the document cannot drift from the routes.

mod engine_paths;
mod key_paths;

use gatehouse_model::ConfigDocument;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ComponentsBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required,
    ResponseBuilder,
};
use utoipa::{PartialSchema, ToSchema};

use super::collections::{CollectionDef, IdKind, COLLECTIONS, RESOURCES, SINGLETONS};
use super::config::Export;
use super::users::{NewUser, PasswordChange, UserView};
use crate::store::RevisionInfo;

/// Where the API lives.
pub const BASE: &str = "/pa-admin-api/v3";

fn reference(schema: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(schema))
}

fn json(schema: RefOr<Schema>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

fn list_of(schema: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .property("items", ArrayBuilder::new().items(reference(schema)))
        .required("items")
        .into()
}

fn problems() -> RefOr<Schema> {
    reference("Problems")
}

fn op(summary: String, tag: &str) -> OperationBuilder {
    OperationBuilder::new()
        .summary(Some(summary))
        .tag(tag)
        .response(
            "400",
            ResponseBuilder::new()
                .description("A path or query parameter that cannot be read")
                .content("application/json", json(problems())),
        )
        .response(
            "401",
            ResponseBuilder::new()
                .description("No or wrong credentials")
                .content("application/json", json(problems())),
        )
        .response(
            "403",
            ResponseBuilder::new()
                .description("X-XSRF-Header missing, or the role does not allow it")
                .content("application/json", json(problems())),
        )
}

fn ok(op: OperationBuilder, status: &str, schema: Option<RefOr<Schema>>) -> OperationBuilder {
    let resp = match schema {
        Some(s) => ResponseBuilder::new()
            .description("Success")
            .content("application/json", json(s)),
        None => ResponseBuilder::new().description("Success"),
    };
    op.response(status, resp)
}

fn with_body(op: OperationBuilder, schema: RefOr<Schema>) -> OperationBuilder {
    op.request_body(Some(
        RequestBodyBuilder::new()
            .content("application/json", json(schema))
            .required(Some(Required::True))
            .build(),
    ))
    .response(
        "422",
        ResponseBuilder::new()
            .description("Every problem of the input or of the resulting configuration")
            .content("application/json", json(problems())),
    )
}

fn not_found(op: OperationBuilder) -> OperationBuilder {
    op.response(
        "404",
        ResponseBuilder::new()
            .description("No such object")
            .content("application/json", json(problems())),
    )
}

fn path_param(name: &str, ids: IdKind) -> utoipa::openapi::path::Parameter {
    let schema: RefOr<Schema> = match ids {
        IdKind::Int => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .into(),
        IdKind::Str => ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .into(),
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(schema))
        .build()
}

fn query_params() -> Vec<utoipa::openapi::path::Parameter> {
    let int = || -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .into()
    };
    let text = || -> RefOr<Schema> { ObjectBuilder::new().schema_type(Type::String).into() };
    [
        ("page", int()),
        ("numberPerPage", int()),
        ("filter", text()),
        ("name", text()),
        ("sortKey", text()),
        (
            "order",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["ASC", "DESC"]))
                .into(),
        ),
    ]
    .into_iter()
    .map(|(n, s)| {
        ParameterBuilder::new()
            .name(n)
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .schema(Some(s))
            .build()
    })
    .collect()
}

fn collection_paths(mut paths: PathsBuilder, def: &CollectionDef, tag: &str) -> PathsBuilder {
    let parent = (def.key == "resources").then(|| path_param("applicationId", IdKind::Int));
    let with_parent = |o: OperationBuilder| match &parent {
        Some(p) => o.parameter(p.clone()),
        None => o,
    };
    // A resource's application may not exist.
    let parent_missing = |o: OperationBuilder| if parent.is_some() { not_found(o) } else { o };
    let input = format!("{}Input", def.schema);
    let list = parent_missing(with_parent(ok(
        op(format!("List {}", def.key), tag),
        "200",
        Some(list_of(def.schema)),
    )))
    .parameters(Some(query_params()));
    let create = parent_missing(with_parent(with_body(
        ok(
            op(format!("Create one of {}", def.key), tag),
            "200",
            Some(reference(def.schema)),
        ),
        reference(&input),
    )));
    let mut top = PathItem::new(HttpMethod::Get, list);
    top.post = Some(create.build());
    paths = paths.path(format!("{BASE}{}", def.path), top);
    let id = || path_param("id", def.ids);
    let get = not_found(with_parent(ok(
        op(format!("One of {}", def.key), tag),
        "200",
        Some(reference(def.schema)),
    )))
    .parameter(id());
    let put = not_found(with_body(
        with_parent(ok(
            op(format!("Replace one of {}", def.key), tag),
            "200",
            Some(reference(def.schema)),
        )),
        reference(&input),
    ))
    .parameter(id());
    let delete = with_parent(ok(
        op(format!("Delete one of {}", def.key), tag),
        "204",
        None,
    ))
    .parameter(id())
    .response("404", ResponseBuilder::new().description("No such object"))
    .response(
        "422",
        ResponseBuilder::new()
            .description("Still in use")
            .content("application/json", json(problems())),
    );
    let mut item = PathItem::new(HttpMethod::Get, get);
    item.put = Some(put.build());
    item.delete = Some(delete.build());
    paths.path(format!("{BASE}{}/{{id}}", def.path), item)
}

fn singleton_paths(mut paths: PathsBuilder) -> PathsBuilder {
    for def in SINGLETONS {
        let get = ok(
            op(format!("Read {}", def.key), "Settings"),
            "200",
            Some(reference(def.schema)),
        );
        let get = if def.optional { not_found(get) } else { get };
        let put = with_body(
            ok(
                op(format!("Replace {}", def.key), "Settings"),
                "200",
                Some(reference(def.schema)),
            ),
            reference(def.schema),
        );
        let mut item = PathItem::new(HttpMethod::Get, get);
        item.put = Some(put.build());
        if def.optional {
            item.delete = Some(
                not_found(ok(
                    op(format!("Remove {}", def.key), "Settings"),
                    "204",
                    None,
                ))
                .build(),
            );
        }
        paths = paths.path(format!("{BASE}{}", def.path), item);
    }
    paths
}

fn other_paths(paths: PathsBuilder) -> PathsBuilder {
    let version: RefOr<Schema> = ObjectBuilder::new()
        .property("version", ObjectBuilder::new().schema_type(Type::String))
        .required("version")
        .into();
    let revision: RefOr<Schema> = ObjectBuilder::new()
        .property("revision", ObjectBuilder::new().schema_type(Type::Integer))
        .required("revision")
        .into();
    let mut users = PathItem::new(
        HttpMethod::Get,
        ok(
            op("List admin users".into(), "Users"),
            "200",
            Some(list_of("UserView")),
        ),
    );
    users.post = Some(
        with_body(
            ok(
                op("Add an admin user".into(), "Users"),
                "200",
                Some(reference("UserView")),
            ),
            reference("NewUser"),
        )
        .build(),
    );
    let revisions: RefOr<Schema> = ObjectBuilder::new()
        .property(
            "items",
            ArrayBuilder::new().items(reference("RevisionInfo")),
        )
        .required("items")
        .into();
    let mut import = PathItem::new(
        HttpMethod::Post,
        with_body(
            ok(
                op("Replace the whole configuration".into(), "Configuration"),
                "200",
                Some(revision.clone()),
            ),
            reference("Export"),
        ),
    );
    import.get = None;
    paths
        .path(
            format!("{BASE}/version"),
            PathItem::new(
                HttpMethod::Get,
                ok(op("Version".into(), "Configuration"), "200", Some(version)),
            ),
        )
        .path(format!("{BASE}/users"), users)
        .path(format!("{BASE}/users/{{id}}"), user_item())
        .path(
            format!("{BASE}/users/{{id}}/password"),
            PathItem::new(
                HttpMethod::Put,
                not_found(with_body(
                    ok(op("Change a password".into(), "Users"), "204", None),
                    reference("PasswordChange"),
                ))
                .parameter(path_param("id", IdKind::Int)),
            ),
        )
        .path(
            format!("{BASE}/config/export"),
            PathItem::new(
                HttpMethod::Get,
                ok(
                    op("Export the configuration".into(), "Configuration"),
                    "200",
                    Some(reference("Export")),
                ),
            ),
        )
        .path(format!("{BASE}/config/import"), import)
        .path(
            format!("{BASE}/config/revisions"),
            PathItem::new(
                HttpMethod::Get,
                ok(
                    op("Stored revisions, newest first".into(), "Configuration"),
                    "200",
                    Some(revisions),
                ),
            ),
        )
        .path(
            format!("{BASE}/config/revisions/{{id}}"),
            PathItem::new(
                HttpMethod::Get,
                not_found(ok(
                    op("One revision with its document".into(), "Configuration"),
                    "200",
                    Some(reference("RevisionView")),
                ))
                .parameter(path_param("id", IdKind::Int)),
            ),
        )
        .path(
            format!("{BASE}/config/revisions/{{id}}/restore"),
            PathItem::new(
                HttpMethod::Post,
                not_found(ok(
                    op("Make a revision current again".into(), "Configuration"),
                    "200",
                    Some(revision),
                ))
                .parameter(path_param("id", IdKind::Int)),
            ),
        )
}

fn user_item() -> PathItem {
    let mut item = PathItem::new(
        HttpMethod::Get,
        not_found(ok(
            op("One admin user".into(), "Users"),
            "200",
            Some(reference("UserView")),
        ))
        .parameter(path_param("id", IdKind::Int)),
    );
    item.delete = Some(
        not_found(ok(op("Delete an admin user".into(), "Users"), "204", None))
            .parameter(path_param("id", IdKind::Int))
            .response(
                "422",
                ResponseBuilder::new()
                    .description("Oneself, or the last administrator")
                    .content("application/json", json(problems())),
            )
            .build(),
    );
    item
}

fn problems_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .property(
            "flash",
            ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)),
        )
        .property(
            "form",
            ObjectBuilder::new().additional_properties(Some(
                ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)),
            )),
        )
        .required("flash")
        .required("form")
        .into()
}

/// The document as served: [`document`] plus, for each collection, an `…Input` schema for
/// request bodies (the `id` is optional: the server picks one on create and takes the path's on
/// replace; a resource's `applicationId` comes from the path), and id bounds.
pub fn served() -> serde_json::Value {
    let mut doc = serde_json::to_value(document()).unwrap_or_default();
    let schemas = &mut doc["components"]["schemas"];
    for def in COLLECTIONS.iter().chain(std::iter::once(&RESOURCES)) {
        let Some(mut input) = schemas.get(def.schema).cloned() else {
            continue;
        };
        if let Some(required) = input
            .get_mut("required")
            .and_then(serde_json::Value::as_array_mut)
        {
            required.retain(|r| r != "id" && r != "applicationId");
        }
        schemas[format!("{}Input", def.schema)] = input;
    }
    if let Some(all) = schemas.as_object_mut() {
        for schema in all.values_mut() {
            let Some(id) = schema
                .get_mut("properties")
                .and_then(|p| p.get_mut("id"))
                .and_then(serde_json::Value::as_object_mut)
            else {
                continue;
            };
            if id.get("type").and_then(serde_json::Value::as_str) == Some("integer") {
                id.insert("minimum".into(), 1.into());
                id.insert("maximum".into(), gatehouse_model::validate::MAX_ID.into());
            }
        }
    }
    doc
}

/// The whole document.
pub fn document() -> OpenApi {
    let mut schemas = Vec::new();
    <ConfigDocument as ToSchema>::schemas(&mut schemas);
    <Export as ToSchema>::schemas(&mut schemas);
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .schema("ConfigDocument", ConfigDocument::schema())
        .schema("Export", Export::schema())
        .schema("RevisionInfo", RevisionInfo::schema())
        .schema("RevisionView", super::config::RevisionView::schema())
        .schema("UserView", UserView::schema())
        .schema("KeyPairView", super::keypairs::KeyPairView::schema())
        .schema(
            "GenerateKeyPair",
            crate::keys::generate::GenerateKeyPair::schema(),
        )
        .schema(
            "KeyAlgorithm",
            crate::keys::generate::KeyAlgorithm::schema(),
        )
        .schema(
            "ImportKeyPair",
            crate::keys::import::ImportKeyPair::schema(),
        )
        .schema("HttpsListener", super::listeners::HttpsListener::schema())
        .schema("EngineView", super::engines::EngineView::schema())
        .schema("RotationView", super::engines::RotationView::schema())
        .schema("NewEngine", super::engines::NewEngine::schema())
        .schema(
            "RegistrationToken",
            super::engines::RegistrationToken::schema(),
        )
        .schema(
            "HttpsListenerUpdate",
            super::listeners::HttpsListenerUpdate::schema(),
        )
        .schema("NewUser", NewUser::schema())
        .schema("PasswordChange", PasswordChange::schema())
        .schema("Role", super::auth::Role::schema())
        .schema("Problems", problems_schema())
        .security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        )
        .security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        )
        .security_scheme(
            "xsrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-XSRF-Header"))),
        )
        .build();
    let mut paths = PathsBuilder::new();
    for def in COLLECTIONS {
        paths = collection_paths(paths, def, "Objects");
    }
    paths = collection_paths(paths, &RESOURCES, "Objects");
    paths = singleton_paths(paths);
    paths = other_paths(paths);
    paths = key_paths::key_pair_paths(paths);
    paths = key_paths::listener_paths(paths);
    paths = engine_paths::engine_paths(paths);
    let basic =
        SecurityRequirement::new("basic", Vec::<String>::new()).add("xsrf", Vec::<String>::new());
    let bearer =
        SecurityRequirement::new("bearer", Vec::<String>::new()).add("xsrf", Vec::<String>::new());
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Gatehouse admin API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("PingAccess-style admin API v3. Every call needs X-XSRF-Header and HTTP Basic (or a bearer token)."))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .security(Some([basic, bearer]))
        .build()
}
