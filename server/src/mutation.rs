//! Mutation: rotating a decky's services while its identity (base container: IP, MAC,
//! hostname, sysctls) stays. Operator-triggered through the API, or by the scheduler when a
//! decky's interval has elapsed since its last mutation (or its deploy).
//!
//! The scheduler sleeps until the next decky is due (never a busy loop), is woken whenever
//! the fleet or an interval changes, and survives restarts: due times come from the database.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use decnet_common::dto::{AcceptedResponse, MutationRecord, Operation};
use decnet_common::fleet::{mutation_pool, pick_new_services};
use decnet_common::interval::MutateInterval;
use decnet_common::name::{DeckyName, ServiceSlug};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use tokio::sync::Notify;

use crate::bus::Bus;
use crate::entities::{decky, mutation};
use crate::error::{ApiError, ApiResult};
use crate::lifecycle::new_row;
use crate::lifecycle::ts;
use crate::runner::Runner;

/// When a decky with `interval` minutes is next due: its last mutation (or, never mutated,
/// its creation) plus the interval. `None`: never mutated automatically.
pub fn next_due(
    last_mutated: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    interval: Option<u32>,
) -> Option<DateTime<Utc>> {
    let minutes = interval?;
    Some(last_mutated.unwrap_or(created_at) + chrono::Duration::minutes(i64::from(minutes)))
}

pub fn is_due(
    now: DateTime<Utc>,
    last_mutated: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    interval: Option<u32>,
) -> bool {
    next_due(last_mutated, created_at, interval).is_some_and(|t| t <= now)
}

pub struct Mutator {
    db: DatabaseConnection,
    runner: Runner,
    bus: Bus,
    wake: Arc<Notify>,
}

impl Mutator {
    pub fn new(db: DatabaseConnection, runner: Runner, bus: Bus) -> Self {
        Mutator {
            db,
            runner,
            bus,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Tells the scheduler that due times may have changed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Picks a new service set (committed before the answer), records the mutation and
    /// queues a `mutate` row.
    pub async fn mutate(
        &self,
        name: &str,
        trigger: &str,
        actor: Option<&str>,
    ) -> ApiResult<AcceptedResponse> {
        let name = DeckyName::parse(name).map_err(|e| ApiError::unprocessable(e.to_string()))?;
        let present = decky::Entity::find().filter(decky::Column::Desired.eq(decky::PRESENT));
        if present.clone().count(&self.db).await? == 0 {
            return Err(ApiError::not_found("No active deployment"));
        }
        let d = present
            .filter(decky::Column::Name.eq(name.as_str()))
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("Decky {name} not found")))?;
        let current: Vec<ServiceSlug> = serde_json::from_str(&d.services).unwrap_or_default();
        let pool = mutation_pool(d.archetype.as_deref());
        let new = pick_new_services(&current, &pool, rand::random()).ok_or_else(|| {
            ApiError::not_found(format!("No services available to mutate {name}"))
        })?;
        let now = Utc::now();
        let txn = crate::db::begin_write(&self.db).await?;
        let row = new_row(
            name.as_str(),
            self.runner.host_uuid(),
            Operation::Mutate,
            trigger,
        )
        .insert(&txn)
        .await?;
        let old_json = d.services.clone();
        let new_json = serde_json::to_string(&new).map_err(ApiError::internal)?;
        let mut am: decky::ActiveModel = d.into();
        am.services = Set(new_json.clone());
        am.last_mutated = Set(Some(now));
        am.updated_at = Set(now);
        am.update(&txn).await?;
        let rec = mutation::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            decky_name: Set(name.as_str().to_owned()),
            old_services: Set(old_json),
            new_services: Set(new_json),
            trigger: Set(trigger.to_owned()),
            actor: Set(actor.map(str::to_owned)),
            lifecycle_id: Set(row.id.clone()),
            at: Set(now),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        self.bus
            .publish(format!("decky.{name}.mutation"), to_dto(&rec));
        self.runner
            .submit(&[(name.as_str().to_owned(), row.id.clone())]);
        self.wake();
        Ok(AcceptedResponse {
            lifecycle_ids: vec![row.id],
        })
    }

    /// `None`: the decky is no longer mutated automatically.
    pub async fn set_interval(
        &self,
        name: &str,
        interval: Option<MutateInterval>,
    ) -> ApiResult<()> {
        let name = DeckyName::parse(name).map_err(|e| ApiError::unprocessable(e.to_string()))?;
        let d = decky::Entity::find_by_id(name.as_str().to_owned())
            .one(&self.db)
            .await?
            .filter(|d| d.desired == decky::PRESENT)
            .ok_or_else(|| ApiError::not_found(format!("Decky {name} not found")))?;
        let mut am: decky::ActiveModel = d.into();
        am.mutate_interval = Set(interval.map(|i| i.minutes().min(i32::MAX as u32) as i32));
        am.updated_at = Set(Utc::now());
        am.update(&self.db).await?;
        self.wake();
        Ok(())
    }

    pub async fn history(&self, name: &str, limit: u64) -> ApiResult<Vec<MutationRecord>> {
        let rows = mutation::Entity::find()
            .filter(mutation::Column::DeckyName.eq(name))
            .order_by_desc(mutation::Column::At)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.iter().map(to_dto).collect())
    }

    /// Runs forever: mutates due deckies with trigger `scheduled`.
    pub async fn run_scheduler(self: Arc<Self>) {
        // Deckies that could not be mutated (no alternative services) wait a full interval.
        let mut skip_until: HashMap<String, DateTime<Utc>> = HashMap::new();
        loop {
            let sleep = match self.tick(&mut skip_until).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!("mutation scheduler: {e}");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// One pass; returns how long to sleep before the next is needed.
    async fn tick(&self, skip_until: &mut HashMap<String, DateTime<Utc>>) -> ApiResult<Duration> {
        let now = Utc::now();
        let deckies = decky::Entity::find()
            .filter(decky::Column::Desired.eq(decky::PRESENT))
            .filter(decky::Column::MutateInterval.is_not_null())
            .all(&self.db)
            .await?;
        let mut next: Option<DateTime<Utc>> = None;
        let mut consider =
            |t: DateTime<Utc>| next = Some(next.map_or(t, |n: DateTime<Utc>| n.min(t)));
        for d in deckies {
            let interval = d.mutate_interval.and_then(|m| u32::try_from(m).ok());
            let Some(due) = next_due(d.last_mutated, d.created_at, interval) else {
                continue;
            };
            if let Some(until) = skip_until.get(&d.name).copied() {
                if until > now {
                    consider(until);
                    continue;
                }
                skip_until.remove(&d.name);
            }
            if due > now {
                consider(due);
                continue;
            }
            if self.runner.is_busy(&d.name) {
                // Never two operations on one decky: look again shortly.
                consider(now + chrono::Duration::seconds(5));
                continue;
            }
            match self.mutate(&d.name, "scheduled", None).await {
                Ok(_) => tracing::info!(decky = %d.name, "scheduled mutation"),
                Err(e) => {
                    tracing::warn!(decky = %d.name, "scheduled mutation skipped: {}", e.detail);
                    let wait = chrono::Duration::minutes(i64::from(interval.unwrap_or(30)));
                    skip_until.insert(d.name.clone(), now + wait);
                    consider(now + wait);
                }
            }
        }
        let sleep = next
            .map(|t| (t - now).to_std().unwrap_or_default())
            .unwrap_or(Duration::from_secs(60));
        Ok(sleep.clamp(Duration::from_millis(200), Duration::from_secs(60)))
    }
}

fn to_dto(m: &mutation::Model) -> MutationRecord {
    MutationRecord {
        decky_name: m.decky_name.clone(),
        old_services: serde_json::from_str(&m.old_services).unwrap_or_default(),
        new_services: serde_json::from_str(&m.new_services).unwrap_or_default(),
        trigger: m.trigger.clone(),
        actor: m.actor.clone(),
        lifecycle_id: m.lifecycle_id.clone(),
        at: ts(m.at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn due_counts_from_the_last_mutation_else_from_the_deploy() {
        let created = t("2026-01-01T00:00:00Z");
        assert_eq!(
            next_due(None, created, Some(30)),
            Some(t("2026-01-01T00:30:00Z"))
        );
        assert_eq!(
            next_due(Some(t("2026-01-01T05:00:00Z")), created, Some(60)),
            Some(t("2026-01-01T06:00:00Z"))
        );
    }

    #[test]
    fn due_not_due_and_disabled() {
        let created = t("2026-01-01T00:00:00Z");
        assert!(is_due(t("2026-01-01T00:30:00Z"), None, created, Some(30)));
        assert!(!is_due(t("2026-01-01T00:29:59Z"), None, created, Some(30)));
        assert!(
            !is_due(t("2030-01-01T00:00:00Z"), None, created, None),
            "null interval is never due"
        );
    }

    #[test]
    fn intervals_in_every_unit_give_their_minutes() {
        let created = t("2026-01-01T00:00:00Z");
        for (s, minutes) in [
            ("1m", 1),
            ("2d", 2880),
            ("1M", 43200),
            ("1y", 525600),
            ("1Y", 525600),
        ] {
            let i = MutateInterval::parse(s).unwrap().minutes();
            assert_eq!(i, minutes, "{s}");
            assert_eq!(
                next_due(None, created, Some(i)),
                Some(created + chrono::Duration::minutes(i64::from(minutes)))
            );
        }
        for bad in ["0m", "1s", "m", "01m", "-1m", "1 m", "1h", ""] {
            assert!(MutateInterval::parse(bad).is_err(), "{bad}");
        }
    }
}
