//! Lifecycle rows: creation, guarded transitions (a terminal row never changes again) and
//! their wire form. Every transition is written first, then published.

use chrono::{SecondsFormat, Utc};
use decnet_common::dto::{LifecycleEvent, LifecycleRow, LifecycleStatus, Operation, Stage};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter,
};

use crate::bus::Bus;
use crate::entities::lifecycle;

pub const MAX_ERROR_LEN: usize = 2000;

pub fn new_row(
    decky: &str,
    host_uuid: &str,
    op: Operation,
    trigger: &str,
) -> lifecycle::ActiveModel {
    let now = Utc::now();
    lifecycle::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        decky_name: Set(decky.to_owned()),
        host_uuid: Set(host_uuid.to_owned()),
        operation: Set(op.as_str().to_owned()),
        status: Set(LifecycleStatus::Pending.as_str().to_owned()),
        stage: Set(None),
        error: Set(None),
        trigger: Set(Some(trigger.to_owned())),
        started_at: Set(now),
        updated_at: Set(now),
        completed_at: Set(None),
    }
}

pub fn truncate_error(e: &str) -> String {
    if e.chars().count() <= MAX_ERROR_LEN {
        return e.to_owned();
    }
    let mut s: String = e.chars().take(MAX_ERROR_LEN - 1).collect();
    s.push('…');
    s
}

/// Timestamps on the wire: RFC 3339, UTC, milliseconds.
pub fn ts(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn to_dto(m: &lifecycle::Model) -> LifecycleRow {
    LifecycleRow {
        id: m.id.clone(),
        decky_name: m.decky_name.clone(),
        host_uuid: m.host_uuid.clone(),
        operation: Operation::parse(&m.operation).unwrap_or(Operation::Deploy),
        status: LifecycleStatus::parse(&m.status).unwrap_or(LifecycleStatus::Failed),
        stage: m.stage.as_deref().and_then(Stage::parse),
        error: m.error.clone(),
        started_at: ts(m.started_at),
        updated_at: ts(m.updated_at),
        completed_at: m.completed_at.map(ts),
    }
}

const OPEN: [&str; 2] = ["pending", "running"];

/// Moves an open row to `status` (and `stage`/`error`); a row that is already terminal is
/// left alone and `false` returned. Publishes the change after it is committed.
pub async fn transition(
    db: &impl ConnectionTrait,
    bus: &Bus,
    row: &lifecycle::Model,
    status: LifecycleStatus,
    stage: Option<Stage>,
    error: Option<&str>,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let error = error.map(truncate_error);
    let mut upd = lifecycle::Entity::update_many()
        .col_expr(lifecycle::Column::Status, Expr::value(status.as_str()))
        .col_expr(
            lifecycle::Column::Stage,
            Expr::value(stage.map(|s| s.as_str().to_owned())),
        )
        .col_expr(lifecycle::Column::Error, Expr::value(error.clone()))
        .col_expr(lifecycle::Column::UpdatedAt, Expr::value(now));
    if status.is_terminal() {
        upd = upd.col_expr(lifecycle::Column::CompletedAt, Expr::value(Some(now)));
    }
    let res = upd
        .filter(lifecycle::Column::Id.eq(row.id.clone()))
        .filter(lifecycle::Column::Status.is_in(OPEN))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Ok(false);
    }
    bus.publish(
        format!("decky.{}.lifecycle", row.decky_name),
        LifecycleEvent {
            lifecycle_id: row.id.clone(),
            operation: Operation::parse(&row.operation).unwrap_or(Operation::Deploy),
            status,
            stage,
            error,
        },
    );
    Ok(true)
}

pub async fn open_rows(
    db: &DatabaseConnection,
    host_uuid: &str,
) -> Result<Vec<lifecycle::Model>, DbErr> {
    use sea_orm::QueryOrder;
    lifecycle::Entity::find()
        .filter(lifecycle::Column::HostUuid.eq(host_uuid))
        .filter(lifecycle::Column::Status.is_in(OPEN))
        .order_by_asc(lifecycle::Column::StartedAt)
        .all(db)
        .await
}
