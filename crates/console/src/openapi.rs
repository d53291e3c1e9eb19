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
        "/certificates/status",
        "The certificate in use, the staged successor, the key changes and how far machines followed",
        None,
        "CertificateStatus",
    ),
    (
        "get",
        "/certificates/{id}",
        "One certificate with the Summary's six lines",
        None,
        "CertificateDetail",
    ),
    (
        "delete",
        "/certificates/{id}",
        "Remove a certificate that is not in use, with its key",
        None,
        "Certificate",
    ),
    (
        "post",
        "/certificates/import",
        "Import a PKCS#12 or PEM file with its key (not applied)",
        Some("ImportRequest"),
        "Certificate",
    ),
    (
        "post",
        "/certificates/{id}/renew",
        "Renew with the same key (applied when it renews the one in use)",
        Some("RenewRequest"),
        "Certificate",
    ),
    (
        "post",
        "/certificates/acme/renew",
        "Renew the ACME certificate in use with its CA: the same key (apply to put it into use) or a new key, staged",
        Some("AcmeRenewRequest"),
        "Certificate",
    ),
    (
        "post",
        "/certificates/{id}/check",
        "Check an entry: key readable, private and matching; certificate intact and valid",
        None,
        "CheckReport",
    ),
    (
        "get",
        "/certificates/{id}/pem",
        "The certificate and its chain, PEM (never the key)",
        None,
        "Pem",
    ),
    (
        "get",
        "/certificates/{id}/der",
        "The certificate, DER (never the key)",
        None,
        "Der",
    ),
    (
        "put",
        "/tenants/{name}/pool",
        "Set the pool of gateways a tenant's machines use",
        Some("PoolSetting"),
        "Tenant",
    ),
    (
        "post",
        "/tenants/{name}/prune",
        "Remove a tenant's machines not seen for unseen_days days",
        Some("PruneRequest"),
        "Pruned",
    ),
    (
        "get",
        "/tenants/{name}/tokens",
        "A tenant's join tokens (never their secrets)",
        None,
        "JoinTokenList",
    ),
    (
        "post",
        "/tenants/{name}/tokens",
        "Create a join token; its secret is in this answer only",
        Some("NewJoinToken"),
        "CreatedJoinToken",
    ),
    ("get", "/tokens", "Every join token", None, "JoinTokenList"),
    (
        "delete",
        "/tokens/{id}",
        "Revoke a join token",
        None,
        "JoinTokenInfo",
    ),
    (
        "delete",
        "/gateways/{id}",
        "Forget a gateway that is gone for good (204)",
        None,
        "Empty",
    ),
    (
        "get",
        "/address",
        "The address tenants reach the gateway at",
        None,
        "PublicAddress",
    ),
    (
        "put",
        "/address",
        "Set the address tenants reach the gateway at",
        Some("NewPublicAddress"),
        "PublicAddress",
    ),
    (
        "get",
        "/fleet",
        "The fleet key here and the certificate published to the gateways",
        None,
        "FleetStatus",
    ),
    (
        "post",
        "/fleet/publish",
        "Publish the certificate in use to the fleet now",
        None,
        "FleetStatus",
    ),
    (
        "get",
        "/license",
        "The installed license",
        None,
        "LicenseInfo",
    ),
    (
        "put",
        "/license",
        "Install a license (its TOML text)",
        Some("LicenseFile"),
        "LicenseInfo",
    ),
    (
        "get",
        "/audit",
        "The audit log, newest first (q, offset, limit)",
        None,
        "AuditPage",
    ),
];

/// The calls that answer 201 Created (the others answer 200, or 204 when their answer is
/// `Empty`).
pub(crate) const CREATED: &[(&str, &str)] = &[
    ("post", "/certificates"),
    ("post", "/certificates/import"),
    ("post", "/certificates/{id}/renew"),
    ("post", "/certificates/acme/renew"),
    ("post", "/tenants"),
    ("post", "/tenants/{name}/services"),
    ("post", "/tenants/{name}/tokens"),
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
    let first = json!({
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
            "description": s, "enabled": b, "created_at": s, "pool": s, "failover_outside_pool": b,
            "services": list("Service"), "machines": list("Machine") })),
        "TenantList": list("Tenant"),
        "NewTenant": object(&["name", "password"], json!({ "name": s, "description": s,
            "password": { "type": "string", "minLength": 8, "writeOnly": true } })),
        "NewPassword": object(&["password"], json!({
            "password": { "type": "string", "minLength": 8, "writeOnly": true } })),
        "Gateway": object(&["id", "state"], json!({ "id": s, "public_address": s, "pool": s,
            "version": s, "open_tunnels": int, "heartbeat_at": s,
            "state": { "enum": ["up", "down", "stopped"] } })),
        "GatewayList": list("Gateway"),
        "AuditEntry": object(&["time", "event", "message"], json!({ "time": s, "event": s,
            "message": s, "user": s, "details": { "type": "object" } })),
        "AuditPage": object(&["total", "offset", "entries"], json!({ "total": int,
            "offset": int, "entries": list("AuditEntry") })),
        "ApiError": object(&["code", "message"], json!({ "code": s, "message": s })),
        "Empty": { "type": "null" },
        "Pem": { "type": "string", "contentMediaType": "application/pem-certificate-chain" },
        "RenewRequest": object(&[], json!({ "valid_days": { "type": ["integer", "null"] } })),
    });
    let more = json!({
        "Der": { "type": "string", "contentMediaType": "application/pkix-cert" },
        "CertificateDetail": { "allOf": [r("Certificate"), object(&["summary"], json!({ "summary": s }))] },
        "Adoption": object(&["machines", "tenants"], json!({ "machines": int, "tenants": int,
            "machines_confirmed_current": int, "successor_sha256": os,
            "machines_seen_successor": int, "tenants_seen_successor": int })),
        "CertificateStatus": object(&["key_changes", "adoption"], json!({
            "current": { "oneOf": [r("Certificate"), { "type": "null" }] },
            "days_left": { "type": ["integer", "null"] },
            "staged": { "type": ["object", "null"], "properties": { "thumbprint": s, "sha256": s,
                "switch_at": os, "staged_at": s } },
            "key_changes": { "type": "array", "items": object(&["from_sha256", "to_sha256", "at"],
                json!({ "from_sha256": s, "to_sha256": s, "proof": b, "compromised": b, "at": s })) },
            "adoption": r("Adoption") })),
        "CheckReport": object(&["thumbprint", "ok", "problems"], json!({ "thumbprint": s,
            "friendly_name": s, "key_path": s, "key_matches": b, "signature_valid": b,
            "valid_now": b, "days_left": int, "ok": b, "problems": strings })),
        "AcmeRenewRequest": object(&[], json!({ "new_key": b, "apply": b })),
        "PoolSetting": object(&[], json!({ "pool": os, "failover_outside_pool": { "type": ["boolean", "null"] } })),
        "PruneRequest": object(&["unseen_days"], json!({ "unseen_days": { "type": "integer", "minimum": 1 } })),
        "Pruned": object(&["tenant", "removed"], json!({ "tenant": s, "removed": list("Machine") })),
        "JoinTokenInfo": object(&["id", "tenant", "state"], json!({ "id": s, "tenant": s,
            "label": s, "created_by": s, "created_at": s, "expires_at": s, "uses_left": int,
            "revoked_at": os, "state": { "enum": ["valid", "used", "expired", "revoked"] } })),
        "JoinTokenList": list("JoinTokenInfo"),
        "NewJoinToken": object(&[], json!({ "expires": { "type": ["string", "null"], "examples": ["24h", "7d"] },
            "uses": { "type": ["integer", "null"], "minimum": 1 }, "label": s, "addresses": strings })),
        "CreatedJoinToken": { "allOf": [r("JoinTokenInfo"), object(&["token", "addresses", "pins"],
            json!({ "token": { "type": "string", "description": "the credential, shown once" },
                "uses": int, "addresses": strings, "pins": strings }))] },
        "PublicAddress": object(&["public_address", "source"], json!({ "public_address": s,
            "source": { "enum": ["configured", "host name"] }, "config": s })),
        "NewPublicAddress": object(&["public_address"], json!({ "public_address": s })),
        "FleetStatus": object(&["key_file", "rotating"], json!({ "key_file": s, "key_id": os,
            "rotating": b, "published_now": b, "published": { "type": ["object", "null"],
            "properties": { "sha256": s, "thumbprint": s, "friendly_name": s, "published_at": s,
            "sealed_under": strings, "same_as_store": { "type": ["boolean", "null"] } } } })),
        "LicenseInfo": object(&["installed", "licensee"], json!({ "installed": b, "licensee": s,
            "licensed_to": os, "expires": os, "expired": b, "edition": os, "license_id": os, "path": s })),
        "LicenseFile": object(&["toml"], json!({ "toml": s })),
    });
    let (Value::Object(mut all), Value::Object(more)) = (first, more) else {
        unreachable!("both are objects")
    };
    all.extend(more);
    Value::Object(all)
}

/// The document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (method, path, summary, request, answer) in CALLS {
        let success = if *answer == "Empty" {
            "204"
        } else if CREATED.contains(&(*method, *path)) {
            "201"
        } else {
            "200"
        };
        let mut op = json!({
            "summary": summary,
            "responses": {
                (success): { "description": "done", "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{answer}") } } } },
                "400": { "description": "bad input", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ApiError" } } } },
                "401": { "description": "no session or token" },
                "403": { "description": "CSRF token missing (session callers)" },
                "404": { "description": "no such certificate, tenant, token or gateway" },
                "405": { "description": "the path exists, not with this method" },
            },
        });
        if let Some(req) = request {
            op["requestBody"] = json!({ "required": !matches!(*req, "ApplyRequest" | "RenewRequest" | "AcmeRenewRequest" | "NewJoinToken"),
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
        // The routes the router serves are those of the table, both ways (read from the
        // router's source: each `.route(PATH, METHOD(handler)…)`).
        let api = include_str!("api.rs");
        let router = &api[api.find("pub fn router()").unwrap()..api.find(".fallback(").unwrap()];
        let mut routed = Vec::new();
        for chunk in router.split(".route(").skip(1) {
            let path = chunk.split('"').nth(1).unwrap();
            for method in ["get", "post", "put", "delete"] {
                let called = chunk.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0
                        || !chunk.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && chunk.as_bytes()[i - 1] != b'_'
                });
                if called && path != "/openapi.json" {
                    routed.push((method, path));
                }
            }
        }
        for (method, path, _, _, _) in CALLS {
            assert!(
                routed.contains(&(*method, *path)),
                "{method} {path} is routed"
            );
        }
        for created in CREATED {
            assert!(
                CALLS.iter().any(|c| (c.0, c.1) == *created),
                "{created:?} is a call"
            );
        }
        for (method, path) in &routed {
            assert!(
                CALLS.iter().any(|c| c.0 == *method && c.1 == *path),
                "{method} {path} is documented"
            );
        }
    }
}
