//! Operator settings kept in the `settings` table, with their defaults.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use crate::entities::setting;
use crate::error::{ApiError, ApiResult};

pub const DEPLOYMENT_LIMIT: &str = "deployment_limit";
pub const GLOBAL_MUTATION_INTERVAL: &str = "global_mutation_interval";
pub const DEFAULT_DEPLOYMENT_LIMIT: u32 = 10;
pub const DEFAULT_GLOBAL_MUTATION_INTERVAL: &str = "30m";

async fn get(db: &impl ConnectionTrait, key: &str) -> ApiResult<Option<String>> {
    Ok(setting::Entity::find_by_id(key.to_owned())
        .one(db)
        .await?
        .map(|m| m.value))
}

async fn put(db: &impl ConnectionTrait, key: &str, value: String) -> ApiResult<()> {
    setting::Entity::insert(setting::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value),
    })
    .on_conflict(
        OnConflict::column(setting::Column::Key)
            .update_column(setting::Column::Value)
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}

pub async fn deployment_limit(db: &impl ConnectionTrait) -> ApiResult<u32> {
    Ok(get(db, DEPLOYMENT_LIMIT)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_DEPLOYMENT_LIMIT))
}

pub async fn set_deployment_limit(db: &impl ConnectionTrait, limit: u32) -> ApiResult<()> {
    if !(1..=500).contains(&limit) {
        return Err(ApiError::unprocessable(
            "deployment_limit must be between 1 and 500",
        ));
    }
    put(db, DEPLOYMENT_LIMIT, limit.to_string()).await
}

pub async fn global_mutation_interval(db: &impl ConnectionTrait) -> ApiResult<String> {
    Ok(get(db, GLOBAL_MUTATION_INTERVAL)
        .await?
        .unwrap_or_else(|| DEFAULT_GLOBAL_MUTATION_INTERVAL.into()))
}

pub async fn set_global_mutation_interval(db: &impl ConnectionTrait, value: &str) -> ApiResult<()> {
    if decnet_common::interval::MutateInterval::parse(value).is_err() {
        return Err(ApiError::unprocessable(
            "global_mutation_interval must match ^[1-9]\\d*[mdMyY]$ (e.g. 30m, 1d)",
        ));
    }
    put(db, GLOBAL_MUTATION_INTERVAL, value.to_owned()).await
}

/// This server's identity on lifecycle rows, created once.
pub async fn host_uuid(db: &impl ConnectionTrait) -> ApiResult<String> {
    if let Some(v) = get(db, "host_uuid").await? {
        return Ok(v);
    }
    let id = uuid::Uuid::new_v4().to_string();
    put(db, "host_uuid", id.clone()).await?;
    Ok(id)
}

/// `GET /config` for `p`: the settings, plus the users for admins.
pub async fn config_for(
    db: &impl ConnectionTrait,
    auth: &crate::auth::AuthService,
    p: &crate::auth::Principal,
) -> ApiResult<decnet_common::dto::ConfigResponse> {
    let users = if p.role == decnet_common::dto::Role::Admin {
        Some(auth.list_users().await?)
    } else {
        None
    };
    Ok(decnet_common::dto::ConfigResponse {
        role: p.role,
        deployment_limit: deployment_limit(db).await?,
        global_mutation_interval: global_mutation_interval(db).await?,
        users,
    })
}
