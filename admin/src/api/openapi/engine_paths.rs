//! OpenAPI paths of `/engines` (clustered engines).

use utoipa::openapi::path::{HttpMethod, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, PathsBuilder, RefOr, ResponseBuilder};

use super::{list_of, not_found, ok, op, path_param, reference, with_body, BASE};
use crate::api::collections::IdKind;

const TAG: &str = "Engines";

/// `/engines`, `/engines/status`, `/engines/certificateRotation`, `/engines/{id}`,
/// `/engines/{id}/config`.
pub(super) fn engine_paths(paths: PathsBuilder) -> PathsBuilder {
    let mut top = PathItem::new(
        HttpMethod::Get,
        ok(
            op("Engines".into(), TAG),
            "200",
            Some(list_of("EngineView")),
        ),
    );
    top.post = Some(
        with_body(
            ok(
                op("Register an engine".into(), TAG),
                "200",
                Some(reference("EngineView")),
            ),
            reference("NewEngine"),
        )
        .build(),
    );
    let mut item = PathItem::new(
        HttpMethod::Get,
        not_found(ok(
            op("One engine".into(), TAG),
            "200",
            Some(reference("EngineView")),
        ))
        .parameter(path_param("id", IdKind::Int)),
    );
    item.delete = Some(
        not_found(ok(
            op("Delete an engine (its key stops working)".into(), TAG),
            "204",
            None,
        ))
        .parameter(path_param("id", IdKind::Int))
        .build(),
    );
    let bootstrap = not_found(op(
        "Issue the engine's bootstrap.properties (a new key; the old one stops working)".into(),
        TAG,
    ))
    .parameter(path_param("id", IdKind::Int))
    .response(
        "200",
        ResponseBuilder::new()
            .description("bootstrap.properties")
            .content(
                "text/plain",
                ContentBuilder::new()
                    .schema(Some(RefOr::T(Schema::Object(
                        ObjectBuilder::new().schema_type(Type::String).build(),
                    ))))
                    .build(),
            ),
    )
    .response(
        "422",
        ResponseBuilder::new()
            .description("Not a CLUSTERED_CONSOLE node")
            .content("application/json", super::json(super::problems())),
    );
    paths
        .path(format!("{BASE}/engines"), top)
        .path(
            format!("{BASE}/engines/status"),
            PathItem::new(
                HttpMethod::Get,
                ok(
                    op("Status of every engine".into(), TAG),
                    "200",
                    Some(list_of("EngineView")),
                ),
            ),
        )
        .path(
            format!("{BASE}/engines/certificateRotation"),
            PathItem::new(
                HttpMethod::Get,
                ok(
                    op(
                        "The config-query certificate rotation window, and the engines that have not confirmed"
                            .into(),
                        TAG,
                    ),
                    "200",
                    Some(reference("RotationView")),
                ),
            ),
        )
        .path(format!("{BASE}/engines/{{id}}"), item)
        .path(
            format!("{BASE}/engines/{{id}}/config"),
            PathItem::new(HttpMethod::Post, bootstrap),
        )
        .path(
            format!("{BASE}/engines/registration/token"),
            PathItem::new(
                HttpMethod::Post,
                ok(
                    op(
                        "A registration token (an engine without bootstrap registers itself)"
                            .into(),
                        TAG,
                    ),
                    "200",
                    Some(reference("RegistrationToken")),
                )
                .response(
                    "422",
                    ResponseBuilder::new()
                        .description("Not a CLUSTERED_CONSOLE node")
                        .content("application/json", super::json(super::problems())),
                ),
            ),
        )
}
