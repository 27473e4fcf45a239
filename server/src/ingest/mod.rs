//! Ingest: follows the stdout of every decoy service container of this server, parses each
//! line and stores every event exactly once.
//!
//! - A supervisor discovers containers (labels `io.decnet.host=<uuid>`, `role=service`)
//!   from Docker events and a periodic list, and runs one follower per container.
//! - A follower reads the container's log stream (`follow`, `timestamps`, `since` the
//!   cursor) through a [`ContainerFeed`] and sends entries over a bounded channel: when the
//!   database is slow, followers wait and Docker keeps the lines.
//! - One writer stores them in batches ([`store_batch`]: up to [`BATCH_MAX`] lines or
//!   [`BATCH_WINDOW`], one transaction with the cursors) and publishes
//!   `decky.<name>.capture` per batch. A failed batch is retried, never dropped.
//!
//! After a crash the cursors say exactly what was stored; the unique keys make any
//! re-delivered line a no-op. Lines that are not events become raw rows and are counted.

pub mod feed;
pub mod line;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::query_parameters::{
    EventsOptions, InspectContainerOptions, ListContainersOptions, LogsOptions,
};
use bollard::Docker;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

pub use feed::{ContainerFeed, Cursor, Entry, Record, Target};
pub use store::{store_batch, Stored};

use crate::bus::Bus;
use crate::engine::docker::DockerEngine;
use crate::engine::{LABEL_DECKY, LABEL_HOST, LABEL_MANAGED, LABEL_ROLE, LABEL_SERVICE};

/// Most lines stored in one transaction.
pub const BATCH_MAX: usize = 500;
/// Longest a line waits for its batch to fill.
pub const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// Lines in flight between the followers and the writer (two batches: at most 64 MiB
/// even if every line were a maximal raw one, ~1 MiB for decoy events).
const CHANNEL: usize = 2 * BATCH_MAX;
/// How often the supervisor lists containers (catches what events missed).
const RECONCILE: Duration = Duration::from_secs(5);
/// How often the counters are reported in the log (when something noteworthy happened).
const REPORT_EVERY: u32 = 12;

type Events = BoxStream<'static, Result<bollard::models::EventMessage, bollard::errors::Error>>;

/// Counters, for logs and tests.
#[derive(Debug, Default)]
pub struct IngestStats {
    pub events: AtomicU64,
    /// Lines kept raw (not valid events, oversized, mismatched).
    pub raw: AtomicU64,
    /// Lines that were already stored.
    pub duplicates: AtomicU64,
    pub batches: AtomicU64,
    /// Failed batch writes (each retried).
    pub write_errors: AtomicU64,
    pub followers_started: AtomicU64,
}

/// Starts ingest for the server that owns `engine`'s containers.
pub fn spawn(engine: Arc<DockerEngine>, db: DatabaseConnection, bus: Bus) -> Arc<IngestStats> {
    let stats = Arc::new(IngestStats::default());
    let (tx, _writer) = spawn_writer(db.clone(), bus, engine.host().to_owned(), stats.clone());
    tokio::spawn(supervise(engine, db, tx, stats.clone()));
    stats
}

/// The batching writer. It ends once every sender is dropped and all it got is stored.
pub fn spawn_writer(
    db: DatabaseConnection,
    bus: Bus,
    host: String,
    stats: Arc<IngestStats>,
) -> (mpsc::Sender<Entry>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(CHANNEL);
    (tx, tokio::spawn(write_loop(db, bus, host, stats, rx)))
}

async fn write_loop(
    db: DatabaseConnection,
    bus: Bus,
    host: String,
    stats: Arc<IngestStats>,
    mut rx: mpsc::Receiver<Entry>,
) {
    let mut batch: Vec<Entry> = Vec::with_capacity(BATCH_MAX);
    loop {
        if rx.recv_many(&mut batch, BATCH_MAX).await == 0 {
            return;
        }
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        while batch.len() < BATCH_MAX {
            let room = BATCH_MAX - batch.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let mut backoff = Duration::from_millis(100);
        let stored = loop {
            match store_batch(&db, &host, &batch).await {
                Ok(s) => break s,
                Err(e) => {
                    stats.write_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        "storing {} captured line(s) failed, retrying in {backoff:?}: {e}",
                        batch.len()
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        };
        batch.clear();
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.events.fetch_add(stored.events(), Ordering::Relaxed);
        stats
            .duplicates
            .fetch_add(stored.duplicates, Ordering::Relaxed);
        let raw = stored.raw();
        if raw > 0 {
            stats.raw.fetch_add(raw, Ordering::Relaxed);
            tracing::debug!("{raw} captured line(s) were not decoy events; kept as raw rows");
        }
        for (decky, counts) in stored.per_decky {
            bus.publish(format!("decky.{decky}.capture"), counts);
        }
    }
}

/// Reports, now and then, what an operator should know: lines that were not events, and
/// failed writes.
#[derive(Default)]
struct Report {
    ticks: u32,
    raw: u64,
    write_errors: u64,
}

impl Report {
    fn tick(&mut self, stats: &IngestStats) {
        self.ticks += 1;
        if !self.ticks.is_multiple_of(REPORT_EVERY) {
            return;
        }
        let raw = stats.raw.load(Ordering::Relaxed);
        let write_errors = stats.write_errors.load(Ordering::Relaxed);
        if raw > self.raw {
            tracing::info!(
                "ingest: {} line(s) lately were not decoy events; kept as raw rows (GET /logs?event=raw)",
                raw - self.raw
            );
        }
        if write_errors > self.write_errors {
            tracing::warn!(
                "ingest: {} batch write(s) failed lately (retried; nothing is dropped)",
                write_errors - self.write_errors
            );
        }
        tracing::debug!(
            events = stats.events.load(Ordering::Relaxed),
            duplicates = stats.duplicates.load(Ordering::Relaxed),
            batches = stats.batches.load(Ordering::Relaxed),
            "ingest totals"
        );
        self.raw = raw;
        self.write_errors = write_errors;
    }
}

/// Why a follower stopped.
#[derive(Debug, PartialEq, Eq)]
enum FollowEnd {
    /// The container is not running; its log was read to the end.
    Stopped,
    /// The container no longer exists.
    Gone,
    /// Docker could not be asked; try again later.
    Failed,
    /// The writer is gone (shutting down).
    Closed,
}

struct Tracked {
    target: Target,
    /// The follower's cursor, shared so a new follower continues where the last one was.
    cursor: Arc<Mutex<Cursor>>,
    active: bool,
    /// Stopped and read to the end: nothing to do until it starts again.
    drained: bool,
    /// A start was seen while its follower was still winding down.
    restart: bool,
    removed: bool,
}

struct Supervisor {
    engine: Arc<DockerEngine>,
    db: DatabaseConnection,
    tx: mpsc::Sender<Entry>,
    stats: Arc<IngestStats>,
    /// Cursors loaded at start-up for containers not yet seen.
    stored: HashMap<String, Cursor>,
    tracked: HashMap<String, Tracked>,
    tasks: JoinSet<(String, FollowEnd)>,
    /// Which container each follower task follows (to recover from a task that panicked).
    task_ids: HashMap<tokio::task::Id, String>,
    reconciles: u32,
    /// A container's cursor was forgotten since the last reconcile: a batch still in flight
    /// may have written it again, so the next reconcile sweeps.
    forgot: bool,
}

fn label_filter(host: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![
            format!("{LABEL_MANAGED}=true"),
            format!("{LABEL_HOST}={host}"),
            format!("{LABEL_ROLE}=service"),
        ],
    )])
}

async fn supervise(
    engine: Arc<DockerEngine>,
    db: DatabaseConnection,
    tx: mpsc::Sender<Entry>,
    stats: Arc<IngestStats>,
) {
    let host = engine.host().to_owned();
    let mut backoff = Duration::from_millis(200);
    let stored = loop {
        match store::load_cursors(&db, &host).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!("ingest: loading cursors failed, retrying: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    };
    let mut sup = Supervisor {
        engine,
        db,
        tx,
        stats,
        stored,
        tracked: HashMap::new(),
        tasks: JoinSet::new(),
        task_ids: HashMap::new(),
        reconciles: 0,
        forgot: false,
    };
    let mut report = Report::default();
    let mut events: Option<Events> = None;
    let mut tick = tokio::time::interval(RECONCILE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if events.is_none() {
                    events = sup.subscribe().await;
                }
                sup.reconcile().await;
                report.tick(&sup.stats);
            }
            ev = next_event(&mut events) => match ev {
                Some(Ok(ev)) => sup.on_event(ev).await,
                // Docker went away; the next tick resubscribes and lists what was missed.
                Some(Err(_)) | None => events = None,
            },
            Some(done) = sup.tasks.join_next_with_id() => match done {
                Ok((task, (id, end))) => {
                    sup.task_ids.remove(&task);
                    if end == FollowEnd::Closed {
                        return;
                    }
                    sup.on_follower_end(id, end).await;
                }
                Err(e) => {
                    tracing::warn!("ingest: a follower ended abnormally: {e}");
                    if let Some(id) = sup.task_ids.remove(&e.id()) {
                        sup.on_follower_end(id, FollowEnd::Failed).await;
                    }
                }
            },
        }
    }
}

async fn next_event(
    events: &mut Option<Events>,
) -> Option<Result<bollard::models::EventMessage, bollard::errors::Error>> {
    match events {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

impl Supervisor {
    async fn docker(&self) -> Option<Docker> {
        self.engine.docker().await.ok()
    }

    async fn subscribe(&self) -> Option<Events> {
        let docker = self.docker().await?;
        let mut filters = label_filter(self.engine.host());
        filters.insert("type".into(), vec!["container".into()]);
        filters.insert("event".into(), vec!["start".into(), "destroy".into()]);
        let opts = EventsOptions {
            filters: Some(filters),
            ..Default::default()
        };
        Some(docker.events(Some(opts)).boxed())
    }

    /// Lists the host's service containers: follows the new and the restarted, forgets the
    /// removed.
    async fn reconcile(&mut self) {
        let Some(docker) = self.docker().await else {
            return;
        };
        let opts = ListContainersOptions {
            all: true,
            filters: Some(label_filter(self.engine.host())),
            ..Default::default()
        };
        let list = match docker.list_containers(Some(opts)).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!("ingest: listing containers failed: {e}");
                return;
            }
        };
        let mut present = HashSet::with_capacity(list.len());
        for c in list {
            let Some(id) = c.id else { continue };
            let labels = c.labels.unwrap_or_default();
            let running = c.state.map(|s| s.to_string() == "running").unwrap_or(false);
            self.track(&id, &labels);
            if let Some(t) = self.tracked.get(&id) {
                if !t.active && (running || !t.drained) {
                    self.follow(&docker, &id);
                }
            }
            present.insert(id);
        }
        // Cursors of containers removed while nobody watched (or without an event we saw,
        // or re-written by a batch still in flight when the container went).
        let before = self.tracked.len();
        self.tracked
            .retain(|id, t| t.active || present.contains(id));
        self.reconciles = self.reconciles.wrapping_add(1);
        if !self.stored.is_empty()
            || self.tracked.len() < before
            || self.forgot
            || self.reconciles.is_multiple_of(REPORT_EVERY)
        {
            self.stored.clear();
            self.forgot = false;
            if let Err(e) = store::forget_cursors(&self.db, self.engine.host(), &present).await {
                tracing::debug!("ingest: forgetting cursors of removed containers failed: {e}");
            }
        }
    }

    fn track(&mut self, id: &str, labels: &HashMap<String, String>) {
        if self.tracked.contains_key(id) {
            return;
        }
        let label = |k: &str| labels.get(k).map(String::as_str).unwrap_or("");
        let cursor = self.stored.remove(id).unwrap_or_default();
        self.tracked.insert(
            id.to_owned(),
            Tracked {
                target: Target::new(id, label(LABEL_DECKY), label(LABEL_SERVICE)),
                cursor: Arc::new(Mutex::new(cursor)),
                active: false,
                drained: false,
                restart: false,
                removed: false,
            },
        );
    }

    fn follow(&mut self, docker: &Docker, id: &str) {
        let Some(t) = self.tracked.get_mut(id) else {
            return;
        };
        t.active = true;
        t.drained = false;
        t.restart = false;
        self.stats.followers_started.fetch_add(1, Ordering::Relaxed);
        let cursor = *t.cursor.lock().unwrap_or_else(|e| e.into_inner());
        let feed = ContainerFeed::new(t.target.clone(), cursor);
        let fut = follow(docker.clone(), feed, t.cursor.clone(), self.tx.clone());
        let owned = id.to_owned();
        let handle = self.tasks.spawn(async move { (owned, fut.await) });
        self.task_ids.insert(handle.id(), id.to_owned());
    }

    async fn on_event(&mut self, ev: bollard::models::EventMessage) {
        let Some(actor) = ev.actor else { return };
        let Some(id) = actor.id else { return };
        let attrs = actor.attributes.unwrap_or_default();
        match ev.action.as_deref() {
            Some("start") => {
                self.track(&id, &attrs);
                let Some(t) = self.tracked.get_mut(&id) else {
                    return;
                };
                if t.active {
                    t.restart = true;
                } else if let Some(docker) = self.docker().await {
                    self.follow(&docker, &id);
                }
            }
            Some("destroy") => {
                if let Some(t) = self.tracked.get_mut(&id) {
                    if t.active {
                        t.removed = true;
                        return;
                    }
                }
                self.tracked.remove(&id);
                self.forget_one(&id).await;
            }
            _ => {}
        }
    }

    async fn on_follower_end(&mut self, id: String, end: FollowEnd) {
        let Some(t) = self.tracked.get_mut(&id) else {
            return;
        };
        t.active = false;
        match end {
            FollowEnd::Gone => {
                self.tracked.remove(&id);
                self.forget_one(&id).await;
            }
            _ if t.removed => {
                self.tracked.remove(&id);
                self.forget_one(&id).await;
            }
            FollowEnd::Stopped if t.restart => {
                if let Some(docker) = self.docker().await {
                    self.follow(&docker, &id);
                }
            }
            FollowEnd::Stopped => t.drained = true,
            // The next reconcile retries.
            FollowEnd::Failed | FollowEnd::Closed => {}
        }
    }

    async fn forget_one(&mut self, id: &str) {
        self.forgot = true;
        if let Err(e) = store::forget_cursor(&self.db, self.engine.host(), id).await {
            tracing::debug!("ingest: forgetting the cursor of {id} failed: {e}");
        }
    }
}

/// Follows one container's log until it stops or disappears; re-attaches (from the cursor)
/// when the stream breaks while it runs.
async fn follow(
    docker: Docker,
    mut feed: ContainerFeed,
    shared: Arc<Mutex<Cursor>>,
    tx: mpsc::Sender<Entry>,
) -> FollowEnd {
    let id = feed.target().container_id.to_string();
    let mut backoff = Duration::from_millis(250);
    loop {
        feed.reattach();
        let opts = LogsOptions {
            follow: true,
            stdout: true,
            stderr: false,
            timestamps: true,
            since: feed.since(),
            ..Default::default()
        };
        let mut stream = docker.logs(&id, Some(opts));
        let mut got_any = false;
        while let Some(item) = stream.next().await {
            match item {
                Ok(LogOutput::StdOut { message }) => {
                    got_any = true;
                    if let Some(entry) = feed.frame(&message) {
                        *shared.lock().unwrap_or_else(|e| e.into_inner()) = entry.cursor;
                        if tx.send(entry).await.is_err() {
                            return FollowEnd::Closed;
                        }
                    }
                }
                Ok(_) => {}
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {
                    return FollowEnd::Gone;
                }
                Err(e) => {
                    tracing::debug!(container = %id, "log stream broke: {e}");
                    break;
                }
            }
        }
        match docker
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await
        {
            Ok(info) if info.state.as_ref().and_then(|s| s.running).unwrap_or(false) => {
                // Still running: the stream broke (daemon restart, restart of the container).
                if got_any {
                    backoff = Duration::from_millis(250);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            Ok(_) => return FollowEnd::Stopped,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return FollowEnd::Gone,
            Err(_) => return FollowEnd::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_common::dto::CaptureBatchEvent;

    fn frame(n: u32, body: &str) -> Vec<u8> {
        format!("2026-11-29T10:00:00.{n:09}Z {body}\n").into_bytes()
    }

    fn auth(seq: u32) -> String {
        format!(
            r#"{{"ts":"2026-11-29T10:00:00.000Z","seq":{seq},"decky":"d1","service":"ftp","event":"auth","src_ip":"10.0.0.9","src_port":1,"username":"u","password":"p{seq}"}}"#
        )
    }

    #[tokio::test]
    async fn the_writer_stores_everything_sent_and_publishes_per_decky_counts() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = crate::db::connect(&url).await.unwrap();
        let bus = Bus::default();
        let mut rx = bus.subscribe();
        let stats = Arc::new(IngestStats::default());
        let (tx, writer) = spawn_writer(db.clone(), bus, "h".into(), stats.clone());
        let mut feed = ContainerFeed::new(Target::new("c1", "d1", "ftp"), Cursor::default());
        let n = BATCH_MAX as u32 + 20;
        for i in 1..=n {
            let body = if i % 100 == 0 {
                "garbage".to_owned()
            } else {
                auth(i)
            };
            if let Some(e) = feed.frame(&frame(i, &body)) {
                tx.send(e).await.unwrap();
            }
        }
        drop(tx);
        writer.await.unwrap();

        let mut published = CaptureBatchEvent::default();
        while let Ok(ev) = rx.try_recv() {
            assert_eq!(ev.topic, "decky.d1.capture");
            let c: CaptureBatchEvent = serde_json::from_value(ev.payload).unwrap();
            published.events += c.events;
            published.raw += c.raw;
            published.credentials += c.credentials;
        }
        let raw = u64::from(n / 100);
        assert_eq!(published.raw, raw);
        assert_eq!(published.events, u64::from(n) - raw);
        assert_eq!(published.credentials, published.events);
        assert_eq!(stats.events.load(Ordering::Relaxed), published.events);
        assert!(stats.batches.load(Ordering::Relaxed) >= 2);
        let counts = crate::captured::CapturedService::new(db.clone())
            .counts()
            .await
            .unwrap();
        assert_eq!(counts.logs, u64::from(n));
        assert_eq!(counts.credentials, published.credentials);
        assert_eq!(counts.attackers, 1);
        let cursors = store::load_cursors(&db, "h").await.unwrap();
        assert_eq!(cursors["c1"], feed.cursor());
    }
}
