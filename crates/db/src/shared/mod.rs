//! The SP repository's SQL, written once for SQLite and PostgreSQL: each file is a macro that
//! expands to trait implementations for one repository type. The SQL is the dialect both share
//! (`$n` placeholders); what differs (transactions, errors, how times are stored) is asked of
//! the repository through methods of the same name.

mod admins;
mod audit;
mod certificate;
mod enrollment;
mod fleet;
mod join_tokens;
mod maintenance;
mod state;
mod tenants;
mod transfer;
mod usage;

#[cfg(test)]
pub(crate) mod suite;

pub(crate) use admins::impl_admins;
pub(crate) use audit::impl_audit;
pub(crate) use certificate::impl_certificate;
pub(crate) use enrollment::impl_enrollment;
pub(crate) use fleet::impl_fleet;
pub(crate) use join_tokens::impl_join_tokens;
pub(crate) use maintenance::impl_maintenance;
pub(crate) use state::impl_state;
pub(crate) use tenants::impl_tenants;
pub(crate) use transfer::impl_transfer;
pub(crate) use usage::impl_usage;

/// Bumps the change counter and logs what the change touched under its new version, forgetting
/// changes older than the last `CHANGES_KEPT`: the part of a commit every repository shares,
/// inside its write transaction `$tx`.
macro_rules! record_change {
    ($repo:expr, $tx:expr, $change:expr) => {{
        let change: $crate::repo::Change<'_> = $change;
        let sql = |e| $repo.sql(e);
        sqlx::query("UPDATE state_version SET version = version + 1 WHERE id = 1")
            .execute(&mut *$tx)
            .await
            .map_err(sql)?;
        sqlx::query($crate::repo::LOG_CHANGE)
            .bind(change.tenant())
            .bind(change.is_certificate())
            .execute(&mut *$tx)
            .await
            .map_err(sql)?;
        sqlx::query($crate::repo::PRUNE_CHANGES)
            .bind($crate::repo::CHANGES_KEPT)
            .execute(&mut *$tx)
            .await
            .map_err(sql)?;
    }};
}
pub(crate) use record_change;

/// Expands every SP repository trait for `$repo` over the sqlx database `$db`.
macro_rules! impl_sp_repository {
    ($repo:ty, $db:ty) => {
        $crate::shared::impl_tenants!($repo, $db);
        $crate::shared::impl_enrollment!($repo, $db);
        $crate::shared::impl_join_tokens!($repo, $db);
        $crate::shared::impl_state!($repo, $db);
        $crate::shared::impl_fleet!($repo, $db);
        $crate::shared::impl_transfer!($repo, $db);
        $crate::shared::impl_certificate!($repo, $db);
        $crate::shared::impl_admins!($repo, $db);
        $crate::shared::impl_audit!($repo, $db);
        $crate::shared::impl_usage!($repo, $db);
        $crate::shared::impl_maintenance!($repo, $db);
    };
}
pub(crate) use impl_sp_repository;
