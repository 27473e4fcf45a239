//! Lifecycle rows: creation, guarded transitions (a terminal row never changes again) and
//! their wire form. Every transition is written first, then published.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

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

fn is_terminal(status: &str) -> bool {
    LifecycleStatus::parse(status).is_none_or(|s| s.is_terminal())
}

/// Most rows a [`RowCache`] holds; past it, terminal rows are dropped first.
const CACHE_MAX: usize = 8192;

/// The latest state of lifecycle rows, read by polling instead of the database.
///
/// It only holds rows no other process can change: those of this server (only its runner
/// moves them, and [`transition`] overwrites the entry after every committed write) and
/// terminal ones (never changed again). A row read from the database is offered with
/// [`RowCache::offer`], which never replaces an entry, so a read that raced a transition
/// cannot put an older state back.
#[derive(Clone, Default)]
pub struct RowCache(Arc<RwLock<HashMap<String, lifecycle::Model>>>);

impl RowCache {
    /// The cached rows among `ids`.
    pub fn get_many(&self, ids: &[String]) -> HashMap<String, lifecycle::Model> {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        ids.iter()
            .filter_map(|id| map.get(id).map(|m| (id.clone(), m.clone())))
            .collect()
    }

    /// Records the committed state of a row this server moved.
    fn put(&self, m: lifecycle::Model) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        Self::make_room(&mut map);
        map.insert(m.id.clone(), m);
    }

    /// Keeps a row read from the database, unless an entry exists or another server may
    /// still move it.
    pub fn offer(&self, m: &lifecycle::Model, host_uuid: &str) {
        if m.host_uuid != host_uuid && !is_terminal(&m.status) {
            return;
        }
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if map.contains_key(&m.id) {
            return;
        }
        Self::make_room(&mut map);
        map.insert(m.id.clone(), m.clone());
    }

    fn make_room(map: &mut HashMap<String, lifecycle::Model>) {
        if map.len() < CACHE_MAX {
            return;
        }
        map.retain(|_, m| !is_terminal(&m.status));
        if map.len() >= CACHE_MAX {
            // Only open rows left, more than any runner holds: start over from the database.
            map.clear();
        }
    }

    /// How many rows are held.
    pub fn held(&self) -> usize {
        self.0.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

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
    bus.rows().put(lifecycle::Model {
        status: status.as_str().to_owned(),
        stage: stage.map(|s| s.as_str().to_owned()),
        error: error.clone(),
        updated_at: now,
        completed_at: if status.is_terminal() {
            Some(now)
        } else {
            row.completed_at
        },
        ..row.clone()
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, host: &str, status: &str) -> lifecycle::Model {
        let now = Utc::now();
        lifecycle::Model {
            id: id.to_owned(),
            decky_name: "d".to_owned(),
            host_uuid: host.to_owned(),
            operation: "deploy".to_owned(),
            status: status.to_owned(),
            stage: None,
            error: None,
            trigger: None,
            started_at: now,
            updated_at: now,
            completed_at: None,
        }
    }

    fn status_of(cache: &RowCache, id: &str) -> Option<String> {
        cache
            .get_many(&[id.to_owned()])
            .remove(id)
            .map(|m| m.status)
    }

    #[test]
    fn a_stale_read_never_replaces_a_committed_transition() {
        let cache = RowCache::default();
        cache.put(model("a", "me", "running"));
        // A database read that started before the transition offers the older state.
        cache.offer(&model("a", "me", "pending"), "me");
        assert_eq!(status_of(&cache, "a").as_deref(), Some("running"));
    }

    #[test]
    fn open_rows_of_another_server_are_never_cached() {
        let cache = RowCache::default();
        cache.offer(&model("theirs-open", "other", "running"), "me");
        cache.offer(&model("theirs-done", "other", "failed"), "me");
        cache.offer(&model("mine-open", "me", "pending"), "me");
        assert_eq!(status_of(&cache, "theirs-open"), None);
        assert_eq!(status_of(&cache, "theirs-done").as_deref(), Some("failed"));
        assert_eq!(status_of(&cache, "mine-open").as_deref(), Some("pending"));
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_open_rows() {
        let cache = RowCache::default();
        cache.put(model("open", "me", "running"));
        for i in 0..CACHE_MAX * 2 {
            cache.put(model(&format!("done-{i}"), "me", "succeeded"));
            assert!(cache.held() <= CACHE_MAX);
        }
        assert_eq!(status_of(&cache, "open").as_deref(), Some("running"));
    }
}
