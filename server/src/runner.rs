//! The lifecycle runner: drives each lifecycle row `pending -> running -> succeeded | failed`
//! against the engine.
//!
//! Operations on one decky run one after another (a queue per decky, drained by one task);
//! different deckies run concurrently up to a bound. Each row moves on its own: one decky's
//! failure never touches its siblings. On start-up, open rows of this host are re-driven
//! from the desired state; a watchdog fails rows past a deadline.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use decnet_common::catalogue::NmapOs;
use decnet_common::dto::{LifecycleStatus, Operation, Stage};
use decnet_common::ini::CustomService;
use decnet_common::name::ServiceSlug;
use decnet_common::persona::ServiceConfig;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::{RwLock, Semaphore};

use crate::bus::Bus;
use crate::engine::{
    network_name, CustomImage, DeckyRuntime, Engine, EngineError, NetSpec, ServiceSpec,
};
use crate::entities::{decky, lifecycle};
use crate::lifecycle::{open_rows, transition};

/// The host's CPU count (1 when it cannot be read).
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// Deckies worked on at once.
    pub concurrency: usize,
    /// Engine calls in flight at once, across every decky. Container starts are CPU work in
    /// dockerd, containerd and runc; past one call per core they barely shorten a deploy and
    /// starve everything else on the host (the console, the decoys) for tens of milliseconds
    /// at a time. See `cargo bench -p server --bench fleet`.
    pub docker_parallelism: usize,
    /// A row open longer than this is failed by the watchdog.
    pub deadline: Duration,
    /// One engine step longer than this fails the row.
    pub stage_timeout: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            concurrency: 4,
            docker_parallelism: cpu_count(),
            deadline: Duration::from_secs(600),
            stage_timeout: Duration::from_secs(120),
        }
    }
}

#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    bus: Bus,
    engine: Arc<dyn Engine>,
    host_uuid: String,
    cfg: RunnerConfig,
    permits: Semaphore,
    /// Held around every engine call (`docker_parallelism`).
    docker_gate: Semaphore,
    /// Per decky: row ids waiting. An entry exists exactly while a drainer task runs.
    queues: Mutex<HashMap<String, VecDeque<String>>>,
    /// Per managed network: deploys hold it shared from `ensure_network` until their base is
    /// attached; removing the network holds it exclusively.
    net_locks: Mutex<HashMap<String, Arc<RwLock<()>>>>,
}

/// Why an operation stopped.
enum OpError {
    /// The row was closed under us (the watchdog); nothing more to record.
    Closed,
    Failed(String),
}

impl From<EngineError> for OpError {
    fn from(e: EngineError) -> Self {
        OpError::Failed(e.to_string())
    }
}

impl From<sea_orm::DbErr> for OpError {
    fn from(e: sea_orm::DbErr) -> Self {
        OpError::Failed(format!("database: {e}"))
    }
}

impl Runner {
    pub fn new(
        db: DatabaseConnection,
        bus: Bus,
        engine: Arc<dyn Engine>,
        host_uuid: String,
        cfg: RunnerConfig,
    ) -> Self {
        let permits = Semaphore::new(cfg.concurrency.max(1));
        let docker_gate = Semaphore::new(cfg.docker_parallelism.max(1));
        Runner {
            inner: Arc::new(Inner {
                db,
                bus,
                engine,
                host_uuid,
                cfg,
                permits,
                docker_gate,
                queues: Mutex::new(HashMap::new()),
                net_locks: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn bus(&self) -> &Bus {
        &self.inner.bus
    }

    pub fn host_uuid(&self) -> &str {
        &self.inner.host_uuid
    }

    /// Queues rows (in order) behind any open operation of the same decky.
    pub fn submit(&self, rows: &[(String, String)]) {
        for (decky, id) in rows {
            let spawn = {
                let mut q = self.inner.queues.lock().unwrap_or_else(|p| p.into_inner());
                match q.get_mut(decky) {
                    Some(waiting) => {
                        waiting.push_back(id.clone());
                        false
                    }
                    None => {
                        q.insert(decky.clone(), VecDeque::from([id.clone()]));
                        true
                    }
                }
            };
            if spawn {
                let inner = self.inner.clone();
                let decky = decky.clone();
                tokio::spawn(async move { inner.drain(decky).await });
            }
        }
    }

    /// Submits `rows` once every row in `after` is terminal (e.g. deploys that may reuse the
    /// IPs of deckies being torn down).
    pub fn submit_after(&self, after: Vec<String>, rows: Vec<(String, String)>) {
        if after.is_empty() {
            return self.submit(&rows);
        }
        let this = self.clone();
        tokio::spawn(async move {
            let give_up = tokio::time::Instant::now() + this.inner.cfg.deadline;
            loop {
                let open = lifecycle::Entity::find()
                    .filter(lifecycle::Column::Id.is_in(after.clone()))
                    .filter(lifecycle::Column::Status.is_in(["pending", "running"]))
                    .all(&this.inner.db)
                    .await
                    .map(|r| r.len())
                    .unwrap_or(0);
                if open == 0 || tokio::time::Instant::now() > give_up {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            this.submit(&rows);
        });
    }

    /// True while an operation of `decky` is queued or running here.
    pub fn is_busy(&self, decky: &str) -> bool {
        self.inner
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(decky)
    }

    /// Start-up: every open row of this host is driven again from the desired state.
    pub async fn recover(&self) -> Result<usize, sea_orm::DbErr> {
        let rows = open_rows(&self.inner.db, &self.inner.host_uuid).await?;
        let n = rows.len();
        self.submit(
            &rows
                .into_iter()
                .map(|r| (r.decky_name, r.id))
                .collect::<Vec<_>>(),
        );
        Ok(n)
    }

    /// Removes containers carrying our labels whose decky is not in the desired state.
    pub async fn remove_orphans(&self) -> Result<usize, String> {
        let known: Vec<String> = decky::Entity::find()
            .all(&self.inner.db)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|d| d.name)
            .collect();
        let managed = self
            .inner
            .engine
            .list_managed()
            .await
            .map_err(|e| e.to_string())?;
        let mut orphans: Vec<String> = managed
            .into_iter()
            .map(|m| m.decky)
            .filter(|d| !known.contains(d))
            .collect();
        orphans.sort();
        orphans.dedup();
        for d in &orphans {
            self.inner
                .engine
                .remove_decky(d)
                .await
                .map_err(|e| e.to_string())?;
        }
        // Then this server's networks that no decky of the fleet is on (each checked again
        // under its lock before it goes).
        let networks = self
            .inner
            .engine
            .managed_networks()
            .await
            .map_err(|e| e.to_string())?;
        let in_use = self
            .inner
            .networks_in_use()
            .await
            .map_err(|e| e.to_string())?;
        for name in networks.iter().filter(|n| !in_use.contains(*n)) {
            self.inner.release_network(name).await;
        }
        Ok(orphans.len())
    }

    /// Fails open rows of this host that have been open past the deadline.
    pub async fn watchdog_pass(&self) -> Result<usize, sea_orm::DbErr> {
        let cutoff =
            Utc::now() - chrono::Duration::from_std(self.inner.cfg.deadline).unwrap_or_default();
        let mut failed = 0;
        for row in open_rows(&self.inner.db, &self.inner.host_uuid).await? {
            if row.started_at < cutoff {
                let why = format!(
                    "Timed out: no result after {} s (last stage: {})",
                    self.inner.cfg.deadline.as_secs(),
                    row.stage.as_deref().unwrap_or("none")
                );
                if transition(
                    &self.inner.db,
                    &self.inner.bus,
                    &row,
                    LifecycleStatus::Failed,
                    None,
                    Some(&why),
                )
                .await?
                {
                    failed += 1;
                }
            }
        }
        Ok(failed)
    }

    pub fn spawn_watchdog(&self) {
        let this = self.clone();
        let every = (self.inner.cfg.deadline / 4)
            .clamp(Duration::from_millis(100), Duration::from_secs(15));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = this.watchdog_pass().await {
                    tracing::warn!("watchdog: {e}");
                }
            }
        });
    }
}

impl Inner {
    async fn drain(self: Arc<Self>, decky: String) {
        loop {
            let next = {
                let mut q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
                match q.get_mut(&decky).and_then(VecDeque::pop_front) {
                    Some(id) => id,
                    None => {
                        q.remove(&decky);
                        return;
                    }
                }
            };
            if let Err(e) = self.run_one(&next).await {
                tracing::error!(lifecycle_id = %next, "runner: {e}");
            }
        }
    }

    async fn run_one(&self, id: &str) -> Result<(), sea_orm::DbErr> {
        let Some(row) = lifecycle::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
        else {
            return Ok(());
        };
        if LifecycleStatus::parse(&row.status).is_some_and(LifecycleStatus::is_terminal) {
            return Ok(());
        }
        let Ok(_permit) = self.permits.acquire().await else {
            return Ok(());
        };
        if !transition(
            &self.db,
            &self.bus,
            &row,
            LifecycleStatus::Running,
            None,
            None,
        )
        .await?
        {
            return Ok(());
        }
        let result = match Operation::parse(&row.operation) {
            Some(Operation::Deploy) => self.deploy(&row).await,
            Some(Operation::Teardown) => self.teardown(&row).await,
            Some(Operation::Mutate) => self.mutate(&row).await,
            None => Err(OpError::Failed(format!(
                "unknown operation {:?}",
                row.operation
            ))),
        };
        match result {
            Ok(()) => {
                transition(
                    &self.db,
                    &self.bus,
                    &row,
                    LifecycleStatus::Succeeded,
                    None,
                    None,
                )
                .await?;
            }
            Err(OpError::Failed(why)) => {
                tracing::warn!(decky = %row.decky_name, op = %row.operation, "failed: {why}");
                transition(
                    &self.db,
                    &self.bus,
                    &row,
                    LifecycleStatus::Failed,
                    None,
                    Some(&why),
                )
                .await?;
            }
            Err(OpError::Closed) => {}
        }
        Ok(())
    }

    /// Records the stage; `Closed` when the row was closed meanwhile.
    async fn stage(&self, row: &lifecycle::Model, stage: Stage) -> Result<(), OpError> {
        if transition(
            &self.db,
            &self.bus,
            row,
            LifecycleStatus::Running,
            Some(stage),
            None,
        )
        .await?
        {
            Ok(())
        } else {
            Err(OpError::Closed)
        }
    }

    /// One engine step, bounded in time.
    async fn step<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, EngineError>>,
    ) -> Result<T, OpError> {
        // Waiting for the gate is not Docker being slow: the timeout starts once it is held.
        let Ok(_gate) = self.docker_gate.acquire().await else {
            return Err(OpError::Failed("the runner is shutting down".into()));
        };
        match tokio::time::timeout(self.cfg.stage_timeout, fut).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(OpError::Failed(format!(
                "{what}: no answer from Docker within {} s",
                self.cfg.stage_timeout.as_secs()
            ))),
        }
    }

    async fn desired(&self, name: &str) -> Result<Option<decky::Model>, OpError> {
        Ok(decky::Entity::find_by_id(name.to_owned())
            .one(&self.db)
            .await?)
    }

    async fn deploy(&self, row: &lifecycle::Model) -> Result<(), OpError> {
        let Some(d) = self
            .desired(&row.decky_name)
            .await?
            .filter(|d| d.desired == decky::PRESENT)
        else {
            return Err(OpError::Failed(format!(
                "Decky {} is no longer in the desired fleet",
                row.decky_name
            )));
        };
        let rt = runtime(&d).map_err(OpError::Failed)?;
        self.stage(row, Stage::Image).await?;
        let image = self.step("decoy image", self.engine.ensure_image()).await?;
        // Until the base is attached, nothing may remove the network under it.
        let net_lock = self.net_lock(&rt.net.name());
        let net_in_use = net_lock.read().await;
        self.stage(row, Stage::Network).await?;
        let net = self
            .step("network", self.engine.ensure_network(&rt.net))
            .await?;
        self.stage(row, Stage::Base).await?;
        // Idempotent: whatever an interrupted earlier attempt left goes first.
        self.step("cleanup", self.engine.remove_decky(&rt.name))
            .await?;
        let base = self
            .step("base container", self.engine.start_base(&rt, &image, &net))
            .await?;
        drop(net_in_use);
        self.stage(row, Stage::Services).await?;
        for s in &rt.services {
            self.step(
                "service container",
                self.engine.start_service(&rt, &base, &image, s),
            )
            .await?;
        }
        self.stage(row, Stage::Verify).await?;
        self.step("verify", self.engine.verify(&rt)).await?;
        Ok(())
    }

    async fn mutate(&self, row: &lifecycle::Model) -> Result<(), OpError> {
        let Some(d) = self
            .desired(&row.decky_name)
            .await?
            .filter(|d| d.desired == decky::PRESENT)
        else {
            return Err(OpError::Failed(format!(
                "Decky {} is no longer in the desired fleet",
                row.decky_name
            )));
        };
        let rt = runtime(&d).map_err(OpError::Failed)?;
        self.stage(row, Stage::Image).await?;
        let image = self.step("decoy image", self.engine.ensure_image()).await?;
        // The base (IP, MAC, hostname, sysctls) keeps running; only services change.
        self.stage(row, Stage::Services).await?;
        self.step("remove services", self.engine.remove_services(&rt.name))
            .await?;
        let base = crate::engine::docker::base_name(&rt.name);
        for s in &rt.services {
            self.step(
                "service container",
                self.engine.start_service(&rt, &base, &image, s),
            )
            .await?;
        }
        self.stage(row, Stage::Verify).await?;
        self.step("verify", self.engine.verify(&rt)).await?;
        Ok(())
    }

    async fn teardown(&self, row: &lifecycle::Model) -> Result<(), OpError> {
        let network = self
            .desired(&row.decky_name)
            .await?
            .map(|d| network_name(&d.driver, &d.subnet));
        self.stage(row, Stage::Services).await?;
        self.step(
            "remove services",
            self.engine.remove_services(&row.decky_name),
        )
        .await?;
        self.stage(row, Stage::Base).await?;
        self.step("remove base", self.engine.remove_decky(&row.decky_name))
            .await?;
        // Forget the decky unless a newer request wants it back.
        decky::Entity::delete_many()
            .filter(decky::Column::Name.eq(row.decky_name.clone()))
            .filter(decky::Column::Desired.eq(decky::ABSENT))
            .exec(&self.db)
            .await?;
        // The last decky off a network takes it along: no stale bridge, and no pool left to
        // overlap a later fleet's subnet.
        if let Some(name) = network {
            self.release_network(&name).await;
        }
        Ok(())
    }

    fn net_lock(&self, name: &str) -> Arc<RwLock<()>> {
        self.net_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// The managed networks of every decky of the fleet: wanted, or still on its way out.
    async fn networks_in_use(&self) -> Result<HashSet<String>, sea_orm::DbErr> {
        Ok(decky::Entity::find()
            .select_only()
            .column(decky::Column::Driver)
            .column(decky::Column::Subnet)
            .into_tuple::<(String, String)>()
            .all(&self.db)
            .await?
            .iter()
            .map(|(driver, subnet)| network_name(driver, subnet))
            .collect())
    }

    /// Removes managed network `name` when no decky of the fleet (wanted, or still on its way
    /// out) is on it. A failure is logged, never charged to the teardown that asked: the
    /// decky itself is gone.
    async fn release_network(&self, name: &str) {
        let lock = self.net_lock(name);
        let _alone = lock.write().await;
        match self.networks_in_use().await {
            Ok(in_use) if in_use.contains(name) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(network = %name, "not removed: database: {e}");
                return;
            }
        }
        match self
            .step("remove network", self.engine.remove_network(name))
            .await
        {
            Ok(true) => tracing::info!(network = %name, "removed: no decky is on it"),
            Ok(false) | Err(OpError::Closed) => {}
            Err(OpError::Failed(why)) => tracing::warn!(network = %name, "not removed: {why}"),
        }
    }
}

/// The engine's view of a desired decky.
pub fn runtime(d: &decky::Model) -> Result<DeckyRuntime, String> {
    let ip: Ipv4Addr =
        d.ip.parse()
            .map_err(|_| format!("stored IP {:?} is invalid", d.ip))?;
    let gateway: Ipv4Addr = d
        .gateway
        .parse()
        .map_err(|_| format!("stored gateway {:?} is invalid", d.gateway))?;
    let nmap_os = NmapOs::parse(&d.nmap_os)
        .ok_or_else(|| format!("stored nmap_os {:?} is unknown", d.nmap_os))?;
    let sysctls: BTreeMap<String, String> = nmap_os
        .profile()
        .sysctls
        .iter()
        .map(|s| (s.key.to_string(), s.value.to_string()))
        .collect();
    let services: Vec<ServiceSlug> =
        serde_json::from_str(&d.services).map_err(|e| format!("stored services: {e}"))?;
    let config: ServiceConfig =
        serde_json::from_str(&d.service_config).map_err(|e| format!("stored config: {e}"))?;
    let custom: Vec<CustomService> = serde_json::from_str(&d.custom_services)
        .map_err(|e| format!("stored custom services: {e}"))?;
    let services = runtime_services(&services, &config, &custom);
    Ok(DeckyRuntime {
        name: d.name.clone(),
        ip,
        hostname: d.hostname.clone(),
        nmap_os: d.nmap_os.clone(),
        sysctls,
        net: NetSpec {
            subnet: d.subnet.clone(),
            gateway,
            driver: d.driver.clone(),
            interface: d.interface.clone(),
        },
        services,
    })
}

/// The engine's view of a decky's services: persona as JSON, bring-your-own images resolved.
pub fn runtime_services(
    services: &[ServiceSlug],
    config: &ServiceConfig,
    custom: &[CustomService],
) -> Vec<ServiceSpec> {
    services
        .iter()
        .map(|slug| {
            let persona = config
                .get(slug)
                .map(|v| serde_json::to_string(v).unwrap_or_else(|_| "{}".into()))
                .unwrap_or_else(|| "{}".into());
            let custom = custom
                .iter()
                .find(|c| &c.slug == slug)
                .map(|c| CustomImage {
                    image: c.image.clone(),
                    exec: c
                        .exec
                        .as_ref()
                        .map(|e| e.split_whitespace().map(str::to_owned).collect()),
                });
            ServiceSpec {
                slug: slug.as_str().to_owned(),
                persona,
                custom,
            }
        })
        .collect()
}
