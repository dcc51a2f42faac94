//! OpenAPI paths of `/keyPairs` and `/httpsListeners`.

use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, PathsBuilder, RefOr, ResponseBuilder};

use super::{json, list_of, not_found, ok, op, path_param, problems, reference, with_body, BASE};
use crate::api::collections::IdKind;

const TAG: &str = "Key pairs";

fn text(op: OperationBuilder, content_type: &str, description: &str) -> OperationBuilder {
    op.response(
        "200",
        ResponseBuilder::new().description(description).content(
            content_type,
            ContentBuilder::new()
                .schema(Some(RefOr::T(Schema::Object(
                    ObjectBuilder::new().schema_type(Type::String).build(),
                ))))
                .build(),
        ),
    )
}

fn by_id(op: OperationBuilder) -> OperationBuilder {
    not_found(op).parameter(path_param("id", IdKind::Int))
}

fn create(summary: &str, input: &str) -> PathItem {
    PathItem::new(
        HttpMethod::Post,
        with_body(
            ok(
                op(summary.into(), TAG),
                "200",
                Some(reference("KeyPairView")),
            ),
            reference(input),
        ),
    )
}

/// `/keyPairs`, `/keyPairs/generate`, `/keyPairs/import`, `/keyPairs/{id}` and its
/// certificate and CSR.
pub(super) fn key_pair_paths(paths: PathsBuilder) -> PathsBuilder {
    let mut item = PathItem::new(
        HttpMethod::Get,
        by_id(ok(
            op("One key pair".into(), TAG),
            "200",
            Some(reference("KeyPairView")),
        )),
    );
    item.delete = Some(
        by_id(ok(op("Delete an unused key pair".into(), TAG), "204", None))
            .response(
                "422",
                ResponseBuilder::new()
                    .description("The key pair is served by a listener or a virtual host")
                    .content("application/json", json(problems())),
            )
            .build(),
    );
    let csr = by_id(text(
        op("A certificate signing request (PEM)".into(), TAG),
        "application/pkcs10",
        "PKCS#10 request with the certificate's subject and names",
    ))
    .response(
        "422",
        ResponseBuilder::new()
            .description("The key cannot sign a request")
            .content("application/json", json(problems())),
    );
    paths
        .path(
            format!("{BASE}/keyPairs"),
            PathItem::new(
                HttpMethod::Get,
                ok(
                    op("Key pairs".into(), TAG),
                    "200",
                    Some(list_of("KeyPairView")),
                ),
            ),
        )
        .path(
            format!("{BASE}/keyPairs/generate"),
            create(
                "Generate a key pair with a self-signed certificate",
                "GenerateKeyPair",
            ),
        )
        .path(
            format!("{BASE}/keyPairs/import"),
            create(
                "Import a key pair (PEM, or PKCS#12 in base64)",
                "ImportKeyPair",
            ),
        )
        .path(format!("{BASE}/keyPairs/{{id}}"), item)
        .path(
            format!("{BASE}/keyPairs/{{id}}/certificate"),
            PathItem::new(
                HttpMethod::Get,
                by_id(text(
                    op("A key pair's certificate chain (PEM)".into(), TAG),
                    "application/x-pem-file",
                    "The certificate chain",
                )),
            ),
        )
        .path(
            format!("{BASE}/keyPairs/{{id}}/csr"),
            PathItem::new(HttpMethod::Get, csr),
        )
}

/// `/httpsListeners` and `/httpsListeners/{id}`.
pub(super) fn listener_paths(paths: PathsBuilder) -> PathsBuilder {
    let tag = "HTTPS listeners";
    let mut item = PathItem::new(
        HttpMethod::Get,
        by_id(ok(
            op("One HTTPS listener".into(), tag),
            "200",
            Some(reference("HttpsListener")),
        )),
    );
    item.put = Some(
        by_id(with_body(
            ok(
                op(
                    "Serve another key pair (new handshakes at once)".into(),
                    tag,
                ),
                "200",
                Some(reference("HttpsListener")),
            ),
            reference("HttpsListenerUpdate"),
        ))
        .build(),
    );
    paths
        .path(
            format!("{BASE}/httpsListeners"),
            PathItem::new(
                HttpMethod::Get,
                ok(
                    op("HTTPS listeners".into(), tag),
                    "200",
                    Some(list_of("HttpsListener")),
                ),
            ),
        )
        .path(format!("{BASE}/httpsListeners/{{id}}"), item)
}
