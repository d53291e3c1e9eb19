//! Who may use the console and the API: administrators and API tokens.

use std::time::Duration;

use cloudgate_db::{AdminRecord, ApiTokenRecord};
use serde_json::json;

use super::Sp;
use crate::SpError;
use crate::admins::{self, NewApiToken};

impl Sp {
    /// Every administrator, by name.
    pub async fn admins(&self) -> Result<Vec<AdminRecord>, SpError> {
        Ok(self.db.admins().await?)
    }

    /// One administrator.
    pub async fn admin(&self, name: &str) -> Result<AdminRecord, SpError> {
        Ok(self.db.admin(name).await?)
    }

    /// Adds a console administrator.
    pub async fn add_admin(&self, name: &str, password: &str) -> Result<AdminRecord, SpError> {
        let outcome = async {
            let admin = admins::add_admin(&*self.db, name, password).await?;
            self.audit(
                "admin.added",
                "console administrator added",
                json!({ "admin": name }),
            );
            Ok(admin)
        };
        self.done(outcome.await).await
    }

    /// Replaces an administrator's password (which ends their console sessions).
    pub async fn set_admin_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<AdminRecord, SpError> {
        let outcome = async {
            admins::set_admin_password(&*self.db, name, password).await?;
            self.audit(
                "admin.password",
                "console administrator's password replaced",
                json!({ "admin": name }),
            );
            Ok(self.db.admin(name).await?)
        };
        self.done(outcome.await).await
    }

    /// Removes an administrator; returns them as they were.
    pub async fn remove_admin(&self, name: &str) -> Result<AdminRecord, SpError> {
        let outcome = async {
            let admin = self.db.admin(name).await?;
            self.db.remove_admin(name).await?;
            self.audit(
                "admin.removed",
                "console administrator removed",
                json!({ "admin": name }),
            );
            Ok(admin)
        };
        self.done(outcome.await).await
    }

    /// Every API token, newest first.
    pub async fn api_tokens(&self) -> Result<Vec<ApiTokenRecord>, SpError> {
        Ok(self.db.api_tokens().await?)
    }

    /// Creates an API token named `name` that lasts `valid_for`; its secret is in the answer
    /// only.
    pub async fn create_api_token(
        &self,
        name: &str,
        valid_for: Duration,
    ) -> Result<NewApiToken, SpError> {
        let outcome = async {
            let created =
                admins::create_api_token(&*self.db, name, valid_for, &self.actor.label()).await?;
            let r = &created.record;
            self.audit(
                "api_token.created",
                "API token created",
                json!({ "token_id": r.id, "name": r.name,
                    "expires_at": cloudgate_pki::format_rfc3339(r.expires_at) }),
            );
            Ok(created)
        };
        self.done(outcome.await).await
    }

    /// Revokes an API token by its id (or a unique prefix).
    pub async fn revoke_api_token(&self, id: &str) -> Result<ApiTokenRecord, SpError> {
        let outcome = async {
            let revoked = self.db.revoke_api_token(id).await?;
            self.audit(
                "api_token.revoked",
                "API token revoked",
                json!({ "token_id": revoked.id, "name": revoked.name }),
            );
            Ok(revoked)
        };
        self.done(outcome.await).await
    }
}
