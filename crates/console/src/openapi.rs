//! The OpenAPI 3.1 document of `/api/v1`, served at `/api/v1/openapi.json`, generated (utoipa)
//! from the handlers' `#[utoipa::path]` attributes and the administration model's types: a field
//! added to a type or a call added to the router is in the document without anyone writing it
//! twice. A test checks that every routed call is in it with an operation id, and `.ci/run`
//! validates the served document with openapi-spec-validator.

use serde_json::Value;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The API's description, from the handlers and the model.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "cloudgate SP administration API",
        description = "Every console operation, for scripts. Authenticate with an API token (`cloudgate sp admin token create`) as `Authorization: Bearer cgapi_…`; the console's own pages use their session cookie and an `X-CSRF-Token` header. Errors are an `ApiError` with a stable `code`."
    ),
    paths(
        crate::api::usage,
        crate::api::activity,
        crate::api::certificates,
        crate::api::current,
        crate::api::status,
        crate::api::certificate,
        crate::api::generate,
        crate::api::import,
        crate::api::apply,
        crate::api::stage,
        crate::api::renew,
        crate::api::acme_renew,
        crate::api::check,
        crate::api::remove,
        crate::api::pem,
        crate::api::der,
        crate::api::tenants,
        crate::api::tenant,
        crate::api::add_tenant,
        crate::api::remove_tenant,
        crate::api::remove_service,
        crate::api::revoke_machine,
        crate::api::enable,
        crate::api::disable,
        crate::api::set_password,
        crate::api::add_service,
        crate::api::set_pool,
        crate::api::set_limits,
        crate::api::maintenance,
        crate::api::start_maintenance,
        crate::api::end_maintenance,
        crate::api::prune,
        crate::api::tenant_tokens,
        crate::api::create_token,
        crate::api::tokens,
        crate::api::revoke_token,
        crate::api::gateways,
        crate::api::forget_gateway,
        crate::api::address,
        crate::api::set_address,
        crate::api::fleet,
        crate::api::fleet_publish,
        crate::api::license,
        crate::api::install_license,
        crate::api::audit
    ),
    components(schemas(cloudgate_proto::admin::ApiError)),
    modifiers(&Security),
    tags(
        (name = "certificates", description = "The certificate store, the certificate in use and its successor"),
        (name = "tenants", description = "Tenant accounts, their services, machines and join tokens"),
        (name = "site", description = "Gateways, the public address, the fleet, the license and the audit")
    )
)]
struct ApiDoc;

/// How callers authenticate: an API token, or the console's session.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an API token, `cgapi_…`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "cloudgate_session",
                "the console's session (changing calls also need X-CSRF-Token)",
            ))),
        );
    }
}

/// The document, as served.
pub fn document() -> Value {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    // The handlers name their paths as the API's router does, below `/api/v1`.
    let paths = std::mem::take(&mut doc.paths.paths);
    doc.paths.paths = paths
        .into_iter()
        .map(|(path, item)| (format!("/api/v1{path}"), item))
        .collect();
    serde_json::to_value(doc).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The routes the router serves, read from its source: each `.route(PATH, METHOD(handler)…)`.
    fn routed() -> Vec<(&'static str, String)> {
        let api = include_str!("api.rs");
        let router = &api[api.find("pub fn router()").unwrap()..api.find(".fallback(").unwrap()];
        let mut routed = Vec::new();
        for chunk in router.split(".route(").skip(1) {
            let path = chunk.split('"').nth(1).unwrap();
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = chunk.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0
                        || !chunk.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && chunk.as_bytes()[i - 1] != b'_'
                });
                if called && path != "/openapi.json" {
                    routed.push((method, path.to_string()));
                }
            }
        }
        routed
    }

    #[test]
    fn every_routed_call_is_documented_with_an_operation_id_and_its_parameters() {
        let doc = document();
        let routed = routed();
        assert!(routed.len() > 30, "{routed:?}");
        let mut ids = std::collections::BTreeSet::new();
        for (method, path) in &routed {
            let op = &doc["paths"][format!("/api/v1{path}")][*method];
            assert!(op.is_object(), "{method} {path} is not in the document");
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path} has no operation id");
            assert!(ids.insert(id.to_string()), "operation id {id} twice");
            for name in path
                .split('{')
                .skip(1)
                .map(|p| p.split('}').next().unwrap())
            {
                let declared = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
                assert!(
                    declared,
                    "{method} {path}: path parameter {name} not declared"
                );
            }
        }
        let documented: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|p| p.as_object().unwrap().len())
            .sum();
        assert_eq!(documented, routed.len(), "a documented call is not routed");
        for query in ["q", "offset", "limit"] {
            assert!(
                doc["paths"]["/api/v1/audit"]["get"]["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == query && p["in"] == "query"),
                "audit query parameter {query}"
            );
        }
    }

    /// Every field a response type serialises is in its schema: an answer and its document
    /// cannot drift apart.
    #[test]
    fn every_field_of_the_model_is_in_its_schema() {
        use cloudgate_proto::admin::*;
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let tenant = Tenant {
            name: "a".into(),
            description: String::new(),
            enabled: true,
            created_at: String::new(),
            pool: "default".into(),
            failover_outside_pool: false,
            services: vec![],
            machines: vec![],
            join_tokens: vec![],
            limits: TenantLimits {
                max_upload: Some("20MB/s".into()),
                max_upload_bytes_per_sec: Some(20_000_000),
                max_download: Some("20MB/s".into()),
                max_download_bytes_per_sec: Some(20_000_000),
                limit_window: Some("daily 00:00-06:00".into()),
                max_tunnels: Some(4),
                max_tunnels_per_machine: Some(2),
                expires_at: Some("2027-01-01T00:00:00Z".into()),
                lease_ended: false,
                allow_from: vec!["10.0.0.0/8".into()],
            },
        };
        let gateway = Gateway {
            id: "g".into(),
            public_address: String::new(),
            pool: String::new(),
            version: String::new(),
            open_tunnels: 0,
            relayed_bytes: 0,
            heartbeat_at: String::new(),
            silent_secs: 0,
            started_at: String::new(),
            stopped_at: None,
            cert_sha256: String::new(),
            state: GatewayState::Up,
        };
        for (name, value) in [
            ("Tenant", serde_json::to_value(&tenant).unwrap()),
            ("Gateway", serde_json::to_value(&gateway).unwrap()),
            (
                "TenantLimits",
                serde_json::to_value(&tenant.limits).unwrap(),
            ),
        ] {
            let properties = schemas[name]["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{name} has no properties: {}", schemas[name]));
            for field in value.as_object().unwrap().keys() {
                assert!(
                    properties.contains_key(field),
                    "{name}.{field} is not in the document"
                );
            }
        }
    }
}
