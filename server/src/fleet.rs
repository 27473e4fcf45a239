//! The fleet service: deploy, list, teardown and lifecycle queries. REST handlers and server
//! functions both call these; business rules live here once.
//!
//! Handlers never wait on Docker: they validate, commit the desired state and the lifecycle
//! rows in one transaction, hand the rows to the runner and return.

use chrono::Utc;
use decnet_common::dto::{
    AcceptedResponse, DeckyDto, DeployResponse, LifecycleRow, Operation, PlanPreview,
};
use decnet_common::fleet::{self as planner, ExistingDecky, PlanContext};
use decnet_common::ini::{self, IniError, IniErrorKind, NetworkDriver};
use decnet_common::interval::MutateInterval;
use decnet_common::name::DeckyName;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, Statement,
};
use tokio::sync::Mutex;

use crate::entities::{decky, lifecycle};
use crate::error::{ApiError, ApiResult};
use crate::lifecycle::ts;
use crate::lifecycle::{new_row, to_dto};
use crate::runner::Runner;
use crate::settings;

pub const MAX_INI_BYTES: usize = 512 * 1024;
pub const MAX_LIFECYCLE_IDS: usize = 200;

pub struct FleetService {
    db: DatabaseConnection,
    runner: Runner,
    /// Plans are computed against the current fleet: one deploy at a time.
    plan_lock: Mutex<()>,
}

/// The API answer for an INI problem (SPEC 2.1).
pub fn ini_error(e: &IniError) -> ApiError {
    match e.kind {
        IniErrorKind::TooLarge => ApiError::unprocessable(e.detail()),
        _ => ApiError::conflict(e.detail()),
    }
}

fn driver_str(d: NetworkDriver) -> &'static str {
    match d {
        NetworkDriver::Bridge => "bridge",
        NetworkDriver::Macvlan => "macvlan",
        NetworkDriver::Ipvlan => "ipvlan",
    }
}

impl FleetService {
    pub fn new(db: DatabaseConnection, runner: Runner) -> Self {
        FleetService {
            db,
            runner,
            plan_lock: Mutex::new(()),
        }
    }

    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    pub async fn deploy(&self, ini_text: &str, replace_fleet: bool) -> ApiResult<DeployResponse> {
        if ini_text.len() > MAX_INI_BYTES {
            return Err(ApiError::unprocessable("Invalid INI config"));
        }
        let spec = ini::parse(ini_text).map_err(|e| ini_error(&e))?;
        let _plan = self.plan_lock.lock().await;
        let txn = crate::db::begin_write(&self.db).await?;
        let current = decky::Entity::find().all(&txn).await?;
        let plans = plan_against(&txn, &spec, &current, replace_fleet).await?;

        let host = self.runner.host_uuid().to_owned();
        let now = Utc::now();
        let mut teardowns = Vec::new();
        if replace_fleet {
            for old in current.iter().filter(|d| d.desired == decky::PRESENT) {
                if plans.iter().any(|p| p.name.as_str() == old.name) {
                    continue;
                }
                let mut am: decky::ActiveModel = old.clone().into();
                am.desired = Set(decky::ABSENT.into());
                am.updated_at = Set(now);
                am.update(&txn).await?;
                let row = new_row(&old.name, &host, Operation::Teardown, "replace_fleet")
                    .insert(&txn)
                    .await?;
                teardowns.push((old.name.clone(), row.id));
            }
        }
        let mut deploys = Vec::with_capacity(plans.len());
        for p in &plans {
            let general = &spec.general;
            let am = decky::ActiveModel {
                name: Set(p.name.as_str().to_owned()),
                ip: Set(p.ip.to_string()),
                hostname: Set(p.hostname.clone()),
                distro: Set(p.distro.clone()),
                archetype: Set(p.archetype.clone()),
                nmap_os: Set(p.nmap_os.as_str().to_owned()),
                services: Set(serde_json::to_string(&p.services).map_err(ApiError::internal)?),
                service_config: Set(
                    serde_json::to_string(&p.service_config).map_err(ApiError::internal)?
                ),
                custom_services: Set(
                    serde_json::to_string(&p.custom_services).map_err(ApiError::internal)?
                ),
                mutate_interval: Set(p.mutate_interval.map(|m| m.min(i32::MAX as u32) as i32)),
                last_mutated: Set(None),
                subnet: Set(general.net.to_string()),
                gateway: Set(general.gateway.to_string()),
                interface: Set(general.interface.clone()),
                driver: Set(driver_str(general.driver).into()),
                desired: Set(decky::PRESENT.into()),
                created_at: Set(now),
                updated_at: Set(now),
            };
            if current.iter().any(|d| d.name == p.name.as_str()) {
                am.update(&txn).await?;
            } else {
                am.insert(&txn).await?;
            }
            let row = new_row(p.name.as_str(), &host, Operation::Deploy, "api")
                .insert(&txn)
                .await?;
            deploys.push((p.name.as_str().to_owned(), row.id));
        }
        txn.commit().await?;

        let ids: Vec<String> = deploys.iter().map(|(_, id)| id.clone()).collect();
        self.runner.submit(&teardowns);
        self.runner
            .submit_after(teardowns.into_iter().map(|(_, id)| id).collect(), deploys);
        Ok(DeployResponse {
            message: format!(
                "Deploy accepted ({} decky/ies, mode=unihost). Poll /deckies/lifecycle?ids=... for completion.",
                ids.len()
            ),
            mode: "unihost".into(),
            lifecycle_ids: ids,
        })
    }

    /// The deckies a deploy of `ini_text` would create now (additive), without creating them.
    pub async fn preview(&self, ini_text: &str) -> ApiResult<Vec<PlanPreview>> {
        if ini_text.len() > MAX_INI_BYTES {
            return Err(ApiError::unprocessable("Invalid INI config"));
        }
        let spec = ini::parse(ini_text).map_err(|e| ini_error(&e))?;
        let current = decky::Entity::find().all(&self.db).await?;
        let plans = plan_against(&self.db, &spec, &current, false).await?;
        Ok(plans
            .into_iter()
            .map(|p| PlanPreview {
                name: p.name.as_str().to_owned(),
                ip: p.ip.to_string(),
                hostname: p.hostname,
                services: p.services.iter().map(|s| s.as_str().to_owned()).collect(),
            })
            .collect())
    }

    /// A new deploy row for a decky already in the fleet (a retry after a failure).
    pub async fn redeploy(&self, name: &str) -> ApiResult<AcceptedResponse> {
        let name = DeckyName::parse(name).map_err(|e| ApiError::unprocessable(e.to_string()))?;
        let _plan = self.plan_lock.lock().await;
        decky::Entity::find_by_id(name.as_str().to_owned())
            .one(&self.db)
            .await?
            .filter(|d| d.desired == decky::PRESENT)
            .ok_or_else(|| ApiError::not_found(format!("Decky {name} not found")))?;
        let row = new_row(
            name.as_str(),
            self.runner.host_uuid(),
            Operation::Deploy,
            "retry",
        )
        .insert(&self.db)
        .await?;
        self.runner
            .submit(&[(name.as_str().to_owned(), row.id.clone())]);
        Ok(AcceptedResponse {
            lifecycle_ids: vec![row.id],
        })
    }

    /// Rows by id, in the order asked for; unknown ids are omitted. Rows this server drives
    /// come from memory (see [`crate::lifecycle::RowCache`]), the rest from the database.
    pub async fn lifecycle(&self, ids: &[String]) -> ApiResult<Vec<LifecycleRow>> {
        let cache = self.runner.bus().rows();
        let mut found = cache.get_many(ids);
        let mut missing: Vec<&String> = ids.iter().filter(|id| !found.contains_key(*id)).collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let rows = lifecycle::Entity::find()
                .filter(lifecycle::Column::Id.is_in(missing.into_iter().cloned()))
                .all(&self.db)
                .await?;
            for row in rows {
                cache.offer(&row, self.runner.host_uuid());
                found.insert(row.id.clone(), row);
            }
        }
        Ok(ids
            .iter()
            .filter_map(|id| found.get(id))
            .map(to_dto)
            .collect())
    }

    /// Lifecycle history of one decky, newest first.
    pub async fn history(&self, name: &str, limit: u64) -> ApiResult<Vec<LifecycleRow>> {
        use sea_orm::QuerySelect;
        let rows = lifecycle::Entity::find()
            .filter(lifecycle::Column::DeckyName.eq(name))
            .order_by_desc(lifecycle::Column::StartedAt)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.iter().map(to_dto).collect())
    }

    pub async fn list(&self) -> ApiResult<Vec<DeckyDto>> {
        let deckies = decky::Entity::find()
            .order_by_asc(decky::Column::Name)
            .all(&self.db)
            .await?;
        let backend = self.db.get_database_backend();
        // The newest row of every decky, in one query.
        let latest = lifecycle::Entity::find()
            .from_raw_sql(Statement::from_string(
                backend,
                "SELECT l.* FROM decky_lifecycle l JOIN (SELECT decky_name, MAX(started_at) AS m \
                 FROM decky_lifecycle GROUP BY decky_name) x \
                 ON l.decky_name = x.decky_name AND l.started_at = x.m",
            ))
            .all(&self.db)
            .await?;
        Ok(deckies
            .into_iter()
            .map(|d| {
                let last = latest.iter().find(|l| l.decky_name == d.name).map(to_dto);
                let state = state_of(&d, last.as_ref());
                let interval = d.mutate_interval.and_then(|m| u32::try_from(m).ok());
                let next = (d.desired == decky::PRESENT)
                    .then(|| crate::mutation::next_due(d.last_mutated, d.created_at, interval))
                    .flatten()
                    .map(ts);
                DeckyDto {
                    next_mutation: next,
                    services: serde_json::from_str(&d.services).unwrap_or_default(),
                    service_config: serde_json::from_str(&d.service_config).unwrap_or_default(),
                    mutate_interval: d.mutate_interval.and_then(|m| u32::try_from(m).ok()),
                    last_mutated: d.last_mutated.map(ts),
                    state,
                    last_operation: last,
                    name: d.name,
                    ip: d.ip,
                    mac: None,
                    hostname: d.hostname,
                    distro: d.distro,
                    archetype: d.archetype,
                    nmap_os: d.nmap_os,
                }
            })
            .collect())
    }

    pub async fn teardown(&self, name: &str) -> ApiResult<AcceptedResponse> {
        let name = DeckyName::parse(name).map_err(|e| ApiError::unprocessable(e.to_string()))?;
        let _plan = self.plan_lock.lock().await;
        let txn = crate::db::begin_write(&self.db).await?;
        let d = decky::Entity::find_by_id(name.as_str().to_owned())
            .one(&txn)
            .await?
            .filter(|d| d.desired == decky::PRESENT)
            .ok_or_else(|| ApiError::not_found(format!("Decky {name} not found")))?;
        let mut am: decky::ActiveModel = d.into();
        am.desired = Set(decky::ABSENT.into());
        am.updated_at = Set(Utc::now());
        am.update(&txn).await?;
        let row = new_row(
            name.as_str(),
            self.runner.host_uuid(),
            Operation::Teardown,
            "api",
        )
        .insert(&txn)
        .await?;
        txn.commit().await?;
        self.runner
            .submit(&[(name.as_str().to_owned(), row.id.clone())]);
        Ok(AcceptedResponse {
            lifecycle_ids: vec![row.id],
        })
    }
}

/// Plans `spec` against the current fleet, the limit and the global interval.
async fn plan_against(
    db: &impl ConnectionTrait,
    spec: &ini::FleetSpec,
    current: &[decky::Model],
    replace_fleet: bool,
) -> ApiResult<Vec<planner::DeckyPlan>> {
    let existing: Vec<ExistingDecky> = current
        .iter()
        .filter(|d| d.desired == decky::PRESENT)
        .filter_map(|d| {
            Some(ExistingDecky {
                name: DeckyName::parse(&d.name).ok()?,
                ip: d.ip.parse().ok()?,
                hostname: d.hostname.clone(),
            })
        })
        .collect();
    let ctx = PlanContext {
        existing: &existing,
        replace_fleet,
        deployment_limit: Some(settings::deployment_limit(db).await?),
        global_interval: MutateInterval::parse(&settings::global_mutation_interval(db).await?).ok(),
        host_ip: None,
        seed: rand::random(),
    };
    planner::plan(spec, &ctx).map_err(|e| ini_error(&e))
}

/// What the operator should read for a decky: its desired state and its newest operation.
fn state_of(d: &decky::Model, last: Option<&LifecycleRow>) -> String {
    use decnet_common::dto::LifecycleStatus as S;
    let Some(l) = last else {
        return "pending".into();
    };
    let s = match (l.operation, l.status) {
        (Operation::Teardown, S::Pending | S::Running) => "tearing_down",
        (Operation::Teardown, S::Failed) => "teardown_failed",
        (Operation::Teardown, S::Succeeded) => "removed",
        (Operation::Deploy, S::Pending | S::Running) => "deploying",
        (Operation::Mutate, S::Pending | S::Running) => "mutating",
        (_, S::Succeeded) => "running",
        (_, S::Failed) => "failed",
    };
    if d.desired == decky::ABSENT && s != "teardown_failed" {
        return "tearing_down".into();
    }
    s.into()
}

/// Stored rows need the connection type only for tests and tools.
pub async fn count_open(db: &impl ConnectionTrait) -> Result<u64, sea_orm::DbErr> {
    use sea_orm::PaginatorTrait;
    lifecycle::Entity::find()
        .filter(lifecycle::Column::Status.is_in(["pending", "running"]))
        .count(db)
        .await
}
