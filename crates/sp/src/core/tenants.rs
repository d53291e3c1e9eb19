//! Tenants, their services, machines and join tokens.

use cloudgate_proto::admin::{
    CreatedJoinToken, JoinTokenInfo, LimitsChange, PoolSetting, Pruned, Tenant,
};
use serde_json::json;

use super::Sp;
use crate::{SpError, join_tokens, views};

/// What a join token is asked for, before the SP's defaults are filled in.
#[derive(Clone, Debug, Default)]
pub struct TokenOrder {
    /// How long it is valid (the default lifetime when `None`).
    pub lifetime: Option<std::time::Duration>,
    /// How many machines may join with it (1 when `None`).
    pub uses: Option<u32>,
    /// A note for the SP's lists.
    pub label: String,
    /// `HOST[:PORT]` addresses the tenant tries; the public address when empty.
    pub addresses: Vec<String>,
}

impl Sp {
    /// The tenants whose name or description contains `query` (every tenant when empty).
    pub async fn tenants(&self, query: &str) -> Result<Vec<Tenant>, SpError> {
        let query = query.trim().to_lowercase();
        let current = self.store.applied_record()?.map(|r| r.sha256);
        let machines = self.db.all_client_certs().await?;
        let tokens = join_tokens::list(&*self.db, None).await?;
        let mut out = Vec::new();
        for t in self.db.tenants().await? {
            if !query.is_empty()
                && !t.name.to_lowercase().contains(&query)
                && !t.description.to_lowercase().contains(&query)
            {
                continue;
            }
            let services = self.db.services(&t.name).await?;
            let own: Vec<_> = machines
                .iter()
                .filter(|m| m.tenant == t.name)
                .cloned()
                .collect();
            let own_tokens = tokens
                .iter()
                .filter(|k| k.tenant == t.name)
                .cloned()
                .collect();
            out.push(views::tenant(
                &t,
                &services,
                &own,
                own_tokens,
                current.as_deref(),
            ));
        }
        Ok(out)
    }

    /// One tenant.
    pub async fn tenant(&self, name: &str) -> Result<Tenant, SpError> {
        let t = self.db.tenant(name).await?;
        let services = self.db.services(name).await?;
        let machines = self.db.client_certs(name).await?;
        let current = self.store.applied_record()?.map(|r| r.sha256);
        let tokens = join_tokens::list(&*self.db, Some(name)).await?;
        Ok(views::tenant(
            &t,
            &services,
            &machines,
            tokens,
            current.as_deref(),
        ))
    }

    /// Everything [`Sp::add_tenant`] checks before the password: so a front end can refuse
    /// before it asks for one.
    pub fn check_new_tenant(&self, name: &str, description: &str) -> Result<(), SpError> {
        crate::check_new_tenant(&self.store, name.trim(), description)
    }

    /// Adds a tenant, with the limits given (none when `limits` is empty).
    pub async fn add_tenant(
        &self,
        name: &str,
        description: &str,
        password: &str,
        limits: &LimitsChange,
    ) -> Result<Tenant, SpError> {
        let name = name.trim();
        let outcome = async {
            // Limits are checked before anything is added: a bad one adds nothing.
            self.check_limits(limits)?;
            crate::add_tenant(&self.store, &*self.db, name, description, password).await?;
            let mut details = json!({ "tenant": name, "description": description });
            if let Some(set) = self.limit_new_tenant(name, limits).await? {
                details["limits"] = set;
            }
            self.audit("tenant.added", "tenant added", details);
            self.tenant(name).await
        };
        self.done(outcome.await).await
    }

    /// Enables or disables a tenant (a disabled one can neither enroll nor open tunnels).
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<Tenant, SpError> {
        let outcome = async {
            self.db.set_enabled(name, enabled).await?;
            let (event, message) = if enabled {
                ("tenant.enabled", "tenant enabled")
            } else {
                ("tenant.disabled", "tenant disabled")
            };
            self.audit(event, message, json!({ "tenant": name }));
            self.tenant(name).await
        };
        self.done(outcome.await).await
    }

    /// Replaces a tenant's password (which ends a lockout).
    pub async fn set_password(&self, name: &str, password: &str) -> Result<Tenant, SpError> {
        let outcome = async {
            crate::set_tenant_password(&*self.db, name, password).await?;
            self.audit(
                "tenant.password",
                "tenant password replaced",
                json!({ "tenant": name }),
            );
            self.tenant(name).await
        };
        self.done(outcome.await).await
    }

    /// Lets a tenant reach a service at `target` (`HOST:PORT` on the SP side).
    pub async fn add_service(
        &self,
        tenant: &str,
        service: &str,
        target: &str,
    ) -> Result<Tenant, SpError> {
        let (service, target) = (service.trim(), target.trim());
        let outcome = async {
            crate::services::add_service(&*self.db, tenant, service, target).await?;
            self.audit(
                "service.added",
                "service added",
                json!({ "tenant": tenant, "service": service, "target": target }),
            );
            self.tenant(tenant).await
        };
        self.done(outcome.await).await
    }

    /// Takes a service away from a tenant.
    pub async fn remove_service(&self, tenant: &str, service: &str) -> Result<Tenant, SpError> {
        let outcome = async {
            self.db.remove_service(tenant, service).await?;
            self.audit(
                "service.removed",
                "service removed",
                json!({ "tenant": tenant, "service": service }),
            );
            self.tenant(tenant).await
        };
        self.done(outcome.await).await
    }

    /// Removes a tenant with its services, enrolled machines and join tokens; returns it as it
    /// was.
    pub async fn remove_tenant(&self, name: &str) -> Result<Tenant, SpError> {
        let outcome = async {
            let gone = self.tenant(name).await?;
            self.db.remove_tenant(name).await?;
            self.audit(
                "tenant.removed",
                "tenant removed with its services, machines and join tokens",
                json!({ "tenant": name, "machines": gone.machines.len(), "services": gone.services.len() }),
            );
            Ok(gone)
        };
        self.done(outcome.await).await
    }

    /// Revokes an enrolled machine's client certificate (its tunnels end at the gateways' next
    /// reload); `sha256` as pasted (any case, colons or not).
    pub async fn revoke_machine(&self, tenant: &str, sha256: &str) -> Result<Tenant, SpError> {
        let outcome = async {
            let normalized = crate::tenants::machine_sha256(sha256)?;
            self.db.revoke_client_cert(tenant, &normalized).await?;
            self.audit(
                "machine.revoked",
                "enrolled machine revoked",
                json!({ "tenant": tenant, "sha256": normalized }),
            );
            self.tenant(tenant).await
        };
        self.done(outcome.await).await
    }

    /// Sets the pool of gateways a tenant's machines use, and whether they may fail over
    /// outside it.
    pub async fn set_pool(&self, name: &str, setting: &PoolSetting) -> Result<Tenant, SpError> {
        let outcome = async {
            if setting.pool.is_none() && setting.failover_outside_pool.is_none() {
                return Err(SpError::Invalid(
                    "nothing to set: give a pool and/or whether it may fail over outside it".into(),
                ));
            }
            if let Some(p) = &setting.pool {
                crate::settings::check_fleet_name("pool", p.trim())?;
            }
            let t = self.db.tenant(name).await?;
            let pool = setting
                .pool
                .as_deref()
                .map(str::trim)
                .unwrap_or(&t.pool)
                .to_string();
            let outside = setting
                .failover_outside_pool
                .unwrap_or(t.failover_outside_pool);
            self.db.set_pool(name, &pool, outside).await?;
            self.audit(
                "tenant.pool",
                "tenant's pool set",
                json!({ "tenant": name, "pool": pool, "failover_outside_pool": outside }),
            );
            self.tenant(name).await
        };
        self.done(outcome.await).await
    }

    /// Removes a tenant's machines not seen (no tunnel, no check) for `unseen_days` days.
    pub async fn prune(&self, name: &str, unseen_days: u32) -> Result<Pruned, SpError> {
        let outcome = async {
            if unseen_days == 0 {
                return Err(SpError::Invalid(
                    "unseen days must be at least 1: a machine seen today is in use".into(),
                ));
            }
            self.db.tenant(name).await?;
            let before =
                time::OffsetDateTime::now_utc() - time::Duration::days(i64::from(unseen_days));
            let removed = self.db.prune_client_certs(name, before).await?;
            self.audit(
                "machine.pruned",
                "unseen machines pruned",
                json!({ "tenant": name, "unseen_days": unseen_days,
                    "sha256": removed.iter().map(|m| m.sha256.clone()).collect::<Vec<_>>() }),
            );
            Ok(Pruned {
                tenant: name.to_string(),
                removed: removed.iter().map(|m| views::machine(m, None)).collect(),
            })
        };
        self.done(outcome.await).await
    }

    /// The join tokens of one tenant, or of every tenant.
    pub async fn join_tokens(&self, tenant: Option<&str>) -> Result<Vec<JoinTokenInfo>, SpError> {
        if let Some(t) = tenant {
            self.db.tenant(t).await?;
        }
        join_tokens::list(&*self.db, tenant).await
    }

    /// Creates a join token for a tenant; its secret is in the answer and nowhere else.
    pub async fn create_join_token(
        &self,
        tenant: &str,
        order: &TokenOrder,
    ) -> Result<CreatedJoinToken, SpError> {
        let outcome = async {
            let lifetime = order.lifetime.unwrap_or(join_tokens::DEFAULT_LIFETIME);
            let mut addresses: Vec<String> = order
                .addresses
                .iter()
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect();
            if addresses.is_empty() {
                addresses.push(crate::settings::effective_public_address(self.store.layout())?.0);
            }
            let created_by = self.actor.label();
            let created = join_tokens::create(
                &self.store,
                &*self.db,
                join_tokens::TokenRequest {
                    tenant,
                    lifetime,
                    uses: order.uses.unwrap_or(1),
                    label: order.label.trim(),
                    addresses,
                    created_by: &created_by,
                },
            )
            .await?;
            self.audit(
                "token.created",
                "join token created",
                json!({ "token_id": created.info.id, "tenant": tenant,
                    "expires_at": created.info.expires_at, "uses": created.info.uses_left,
                    "label": created.info.label, "addresses": created.addresses }),
            );
            Ok(created)
        };
        self.done(outcome.await).await
    }

    /// Revokes every join token still usable: after a switch that declared the key they pin
    /// compromised (a thief with the key could complete their handshake and learn the
    /// secret). One entry lists them.
    pub async fn revoke_tokens_pinning_compromised_key(
        &self,
    ) -> Result<Vec<JoinTokenInfo>, SpError> {
        let outcome = async {
            let revoked =
                join_tokens::revoke_issued_before(&*self.db, time::OffsetDateTime::now_utc())
                    .await?;
            if !revoked.is_empty() {
                self.audit(
                    "token.revoked",
                    "join tokens revoked: they pinned a key declared compromised",
                    json!({ "reason": "key_compromised",
                        "token_ids": revoked.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
                        "tenants": revoked.iter().map(|t| t.tenant.clone()).collect::<Vec<_>>() }),
                );
            }
            Ok(revoked)
        };
        self.done(outcome.await).await
    }

    /// Revokes a join token by its id (or a unique prefix).
    pub async fn revoke_join_token(&self, id: &str) -> Result<JoinTokenInfo, SpError> {
        let outcome = async {
            let revoked = join_tokens::revoke(&*self.db, id).await?;
            self.audit(
                "token.revoked",
                "join token revoked",
                json!({ "token_id": revoked.id, "tenant": revoked.tenant }),
            );
            Ok(revoked)
        };
        self.done(outcome.await).await
    }
}
