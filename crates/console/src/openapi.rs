//! The OpenAPI 3.1 document of `/api/v1`, served at `/api/v1/openapi.json`. Written out here
//! beside the routes; a test checks that every route of [`crate::api::router`] is in it.

use serde_json::{Value, json};

/// Every API call: (method, path, summary, request schema, answer schema).
pub(crate) const CALLS: &[(&str, &str, &str, Option<&str>, &str)] = &[
    (
        "get",
        "/certificates",
        "Every certificate of the store, the one in use first",
        None,
        "CertificateList",
    ),
    (
        "post",
        "/certificates",
        "Generate a self-signed certificate (not applied)",
        Some("NewCertificate"),
        "Certificate",
    ),
    (
        "get",
        "/certificates/current",
        "The certificate in use",
        None,
        "Certificate",
    ),
    (
        "post",
        "/certificates/{id}/apply",
        "Put a certificate into use (409 would_reverify for a new key without a proof while machines are enrolled, unless force)",
        Some("ApplyRequest"),
        "Certificate",
    ),
    (
        "post",
        "/certificates/{id}/stage",
        "Stage a certificate as the successor, with a rollover proof",
        None,
        "Certificate",
    ),
    (
        "get",
        "/tenants",
        "Tenants, with services and enrolled machines (q filters)",
        None,
        "TenantList",
    ),
    (
        "post",
        "/tenants",
        "Add a tenant",
        Some("NewTenant"),
        "Tenant",
    ),
    ("get", "/tenants/{name}", "One tenant", None, "Tenant"),
    (
        "delete",
        "/tenants/{name}",
        "Remove a tenant with its services and machines",
        None,
        "Tenant",
    ),
    (
        "delete",
        "/tenants/{name}/services/{service}",
        "Take a service away from a tenant",
        None,
        "Tenant",
    ),
    (
        "delete",
        "/tenants/{name}/machines/{sha256}",
        "Revoke an enrolled machine",
        None,
        "Tenant",
    ),
    (
        "post",
        "/tenants/{name}/enable",
        "Enable a tenant",
        None,
        "Tenant",
    ),
    (
        "post",
        "/tenants/{name}/disable",
        "Disable a tenant",
        None,
        "Tenant",
    ),
    (
        "put",
        "/tenants/{name}/password",
        "Replace a tenant's password (204)",
        Some("NewPassword"),
        "Empty",
    ),
    (
        "post",
        "/tenants/{name}/services",
        "Let a tenant reach a service",
        Some("Service"),
        "Tenant",
    ),
    (
        "get",
        "/gateways",
        "The gateways that reported to the SP database",
        None,
        "GatewayList",
    ),
    (
        "get",
        "/audit",
        "The audit log, newest first (q, offset, limit)",
        None,
        "AuditPage",
    ),
];

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

fn schemas() -> Value {
    let s = json!({ "type": "string" });
    let os = json!({ "type": ["string", "null"] });
    let int = json!({ "type": "integer" });
    let b = json!({ "type": "boolean" });
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    let r = |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });
    let list = |name: &str| json!({ "type": "array", "items": r(name) });
    json!({
        "Certificate": object(
            &["thumbprint", "sha256", "friendly_name", "not_after", "days_left", "applied"],
            json!({ "thumbprint": s, "sha256": s, "spki_sha256": s, "friendly_name": s, "subject": s,
                "issuer": s, "serial": s, "not_before": s, "not_after": s, "days_left": int,
                "key_type": s, "sans": strings, "applied": b, "source": s, "created_by": s,
                "created_at": s, "chain_length": int, "cert_path": s, "key_path": s }),
        ),
        "CertificateList": list("Certificate"),
        "NewCertificate": object(&[], json!({ "friendly_name": os, "key_type": os,
            "valid_days": { "type": ["integer", "null"] }, "subject": os, "sans": strings })),
        "ApplyRequest": object(&[], json!({ "force": b })),
        "ImportRequest": object(&["file_base64"], json!({ "file_base64": s,
            "password": { "type": "string", "writeOnly": true }, "friendly_name": os })),
        "Service": object(&["name", "target"], json!({ "name": s, "target": s })),
        "Machine": object(&["sha256", "enrolled_at", "confirmed_current"], json!({ "sha256": s,
            "label": os, "enrolled_at": s, "last_seen": os, "confirmed_sha256": os,
            "confirmed_current": b })),
        "Tenant": object(&["name", "enabled", "services", "machines"], json!({ "name": s,
            "description": s, "enabled": b, "created_at": s, "pool": s,
            "services": list("Service"), "machines": list("Machine") })),
        "TenantList": list("Tenant"),
        "NewTenant": object(&["name", "password"], json!({ "name": s, "description": s,
            "password": { "type": "string", "minLength": 8, "writeOnly": true } })),
        "NewPassword": object(&["password"], json!({
            "password": { "type": "string", "minLength": 8, "writeOnly": true } })),
        "Gateway": object(&["id", "state"], json!({ "id": s, "public_address": s, "pool": s,
            "version": s, "open_tunnels": int, "heartbeat_at": s,
            "state": { "enum": ["up", "late", "stopped"] } })),
        "GatewayList": list("Gateway"),
        "AuditEntry": object(&["time", "event", "message"], json!({ "time": s, "event": s,
            "message": s, "user": s, "details": { "type": "object" } })),
        "AuditPage": object(&["total", "offset", "entries"], json!({ "total": int,
            "offset": int, "entries": list("AuditEntry") })),
        "ApiError": object(&["code", "message"], json!({ "code": s, "message": s })),
        "Empty": { "type": "null" },
        "Pem": { "type": "string", "contentMediaType": "application/pem-certificate-chain" },
        "RenewRequest": object(&[], json!({ "valid_days": { "type": ["integer", "null"] } })),
    })
}

/// The document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, summary, request, answer) in CALLS {
        let mut op = json!({
            "summary": summary,
            "responses": {
                "200": { "description": "done", "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{answer}") } } } },
                "400": { "description": "bad input", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ApiError" } } } },
                "401": { "description": "no session or token" },
                "403": { "description": "CSRF token missing (session callers)" },
                "404": { "description": "no such certificate or tenant" },
            },
        });
        if let Some(req) = request {
            op["requestBody"] = json!({ "required": !matches!(*req, "ApplyRequest" | "RenewRequest"),
                "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{req}") } } } });
        }
        let entry = paths
            .entry(format!("/api/v1{path}"))
            .or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "cloudgate SP administration API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every console operation, for scripts. Authenticate with an API token (`cloudgate sp admin token create`) as `Authorization: Bearer cgapi_…`.",
        },
        "components": {
            "securitySchemes": { "token": { "type": "http", "scheme": "bearer" } },
            "schemas": schemas(),
        },
        "security": [{ "token": [] }],
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_is_documented_with_its_schemas() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for (method, path, _, request, answer) in CALLS {
            assert!(
                doc["paths"][format!("/api/v1{path}")][*method].is_object(),
                "{method} {path}"
            );
            assert!(schemas.contains_key(*answer), "{answer}");
            if let Some(r) = request {
                assert!(schemas.contains_key(*r), "{r}");
            }
        }
        // The routes the router serves are those of the table (the router's source names them).
        let api = include_str!("api.rs");
        for (_, path, _, _, _) in CALLS {
            assert!(api.contains(&format!("\"{path}\"")), "{path} is routed");
        }
    }
}
