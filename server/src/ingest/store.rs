//! Storing a batch of [`Entry`]s: one transaction that inserts the log rows (a re-delivered
//! line is a no-op: `ON CONFLICT DO NOTHING`), derives credentials, bounties and the
//! attackers aggregate from the rows that were new, and moves the containers' cursors.
//!
//! Multi-row statements keep it fast (one `INSERT ... RETURNING` per 500 rows); the
//! attackers aggregate is read, merged and written back, which is safe because one writer
//! per server owns ingest.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use decnet_common::dto::{BountyKind, CaptureBatchEvent, CaptureEventKind};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Value,
};
use serde_json::{Map, Value as Json};

use super::feed::{Cursor, Entry, Record};
use super::line::DecoyEvent;
use crate::entities::{attacker, bounty, credential, ingest_cursor, log};

/// Rows per multi-row statement (14 parameters a log row: well under every backend's limit).
const CHUNK: usize = 500;
/// Longest bounty content kept (chars); decoy fields are shorter still.
pub const BOUNTY_MAX: usize = 4096;
/// Most deckies and services listed on one attacker row.
pub const ATTACKER_SET_MAX: usize = 256;

/// What one stored batch added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Per decky: new events, raw rows, credentials and bounties.
    pub per_decky: BTreeMap<String, CaptureBatchEvent>,
    /// Lines that were already stored (re-delivered).
    pub duplicates: u64,
}

impl Stored {
    pub fn events(&self) -> u64 {
        self.per_decky.values().map(|c| c.events).sum()
    }

    pub fn raw(&self) -> u64 {
        self.per_decky.values().map(|c| c.raw).sum()
    }
}

/// The key a stored line is unique by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LineKey {
    Event { boot: i32, seq: i64 },
    Raw { ts: i64 },
}

fn key_of(e: &Entry) -> LineKey {
    match &e.record {
        Record::Event(ev) => LineKey::Event {
            boot: e.boot,
            seq: ev.seq,
        },
        Record::Raw { .. } => LineKey::Raw { ts: e.log_ts },
    }
}

fn ts_of_ns(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

fn json_text(v: &Map<String, Json>) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".into())
}

/// Cuts to at most `max` chars.
fn bounded(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => s[..cut].to_owned(),
        None => s.to_owned(),
    }
}

/// Text of a field, whatever its JSON type (`""` when absent).
fn text_of(v: Option<&Json>) -> String {
    match v {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The bounty an event carries, if any.
pub fn bounty_of(ev: &DecoyEvent) -> Option<(BountyKind, String)> {
    let payload = ev.fields.get("payload").map(|p| text_of(Some(p)));
    let (kind, content) = match (ev.kind, payload) {
        (CaptureEventKind::Request, _) if ev.fields.contains_key("body") => {
            (BountyKind::RequestBody, text_of(ev.fields.get("body")))
        }
        // SMTP DATA: the message the attacker handed over.
        (CaptureEventKind::Command, Some(p)) if ev.str_field("command") == Some("DATA") => {
            (BountyKind::Upload, p)
        }
        (_, Some(p)) => (BountyKind::Payload, p),
        (CaptureEventKind::Command, None) => {
            (BountyKind::Command, text_of(ev.fields.get("command")))
        }
        _ => return None,
    };
    if content.is_empty() {
        return None;
    }
    Some((kind, bounded(&content, BOUNTY_MAX)))
}

/// Per-source totals of a batch, merged into `attackers`.
#[derive(Debug)]
struct Seen {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    events: i64,
    auths: i64,
    deckies: BTreeSet<String>,
    services: BTreeSet<String>,
}

impl Seen {
    fn add(&mut self, ev: &DecoyEvent, decky: &str, service: &str) {
        self.first = self.first.min(ev.ts);
        self.last = self.last.max(ev.ts);
        self.events += 1;
        self.auths += i64::from(ev.kind == CaptureEventKind::Auth);
        if self.deckies.len() < ATTACKER_SET_MAX {
            self.deckies.insert(decky.to_owned());
        }
        if self.services.len() < ATTACKER_SET_MAX {
            self.services.insert(service.to_owned());
        }
    }

    fn merge(&mut self, row: &attacker::Model) {
        self.first = self.first.min(row.first_seen);
        self.last = self.last.max(row.last_seen);
        self.events = self.events.saturating_add(row.event_count);
        self.auths = self.auths.saturating_add(row.auth_count);
        for (set, json) in [
            (&mut self.deckies, &row.deckies),
            (&mut self.services, &row.services),
        ] {
            for v in serde_json::from_str::<Vec<String>>(json).unwrap_or_default() {
                if set.len() >= ATTACKER_SET_MAX {
                    break;
                }
                set.insert(v);
            }
        }
    }
}

fn set_json(set: &BTreeSet<String>) -> String {
    serde_json::to_string(set).unwrap_or_else(|_| "[]".into())
}

/// Inserts `rows` (values in `columns` order) in multi-row statements of [`CHUNK`] rows.
async fn insert_chunked<E, C, const N: usize>(
    db: &impl ConnectionTrait,
    table: E,
    columns: [C; N],
    rows: &[[Value; N]],
) -> Result<(), DbErr>
where
    E: sea_orm::sea_query::IntoTableRef + Clone,
    C: sea_orm::sea_query::IntoIden + Clone,
{
    for chunk in rows.chunks(CHUNK) {
        let mut q = Query::insert();
        q.into_table(table.clone()).columns(columns.clone());
        for row in chunk {
            q.values(row.iter().cloned().map(Expr::val))
                .map_err(build_err)?;
        }
        db.execute(&q).await?;
    }
    Ok(())
}

fn build_err(e: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(format!("building an ingest statement: {e}"))
}

/// Stores `entries` (in stream order per container) and moves `host`'s cursors, atomically.
pub async fn store_batch(
    db: &DatabaseConnection,
    host: &str,
    entries: &[Entry],
) -> Result<Stored, DbErr> {
    let mut stored = Stored::default();
    if entries.is_empty() {
        return Ok(stored);
    }
    let now = Utc::now();
    let txn = crate::db::begin_write(db).await?;

    // 1. The log rows; RETURNING names the ones that were new.
    let mut new_ids: HashMap<(Arc<str>, LineKey), i64> = HashMap::with_capacity(entries.len());
    for chunk in entries.chunks(CHUNK) {
        let mut q = Query::insert();
        q.into_table(log::Entity).columns([
            log::Column::ContainerId,
            log::Column::Boot,
            log::Column::Seq,
            log::Column::RawTs,
            log::Column::LogTs,
            log::Column::Decky,
            log::Column::Service,
            log::Column::Event,
            log::Column::SrcIp,
            log::Column::SrcPort,
            log::Column::Ts,
            log::Column::Fields,
            log::Column::Raw,
            log::Column::ReceivedAt,
        ]);
        for e in chunk {
            let t = &e.target;
            let row: [Value; 14] = match &e.record {
                Record::Event(ev) => [
                    t.container_id.to_string().into(),
                    e.boot.into(),
                    Some(ev.seq).into(),
                    None::<i64>.into(),
                    e.log_ts.into(),
                    t.decky.to_string().into(),
                    t.service.to_string().into(),
                    ev.kind.as_str().into(),
                    Some(ev.src_ip.to_string()).into(),
                    Some(i32::from(ev.src_port)).into(),
                    ev.ts.into(),
                    json_text(&ev.fields).into(),
                    None::<String>.into(),
                    now.into(),
                ],
                Record::Raw { text, .. } => [
                    t.container_id.to_string().into(),
                    e.boot.into(),
                    None::<i64>.into(),
                    Some(e.log_ts).into(),
                    e.log_ts.into(),
                    t.decky.to_string().into(),
                    t.service.to_string().into(),
                    CaptureEventKind::Raw.as_str().into(),
                    None::<String>.into(),
                    None::<i32>.into(),
                    ts_of_ns(e.log_ts).into(),
                    "{}".into(),
                    Some(text.clone()).into(),
                    now.into(),
                ],
            };
            q.values(row.into_iter().map(Expr::val))
                .map_err(build_err)?;
        }
        q.on_conflict(OnConflict::new().do_nothing().to_owned());
        q.returning(Query::returning().columns([
            log::Column::Id,
            log::Column::ContainerId,
            log::Column::Boot,
            log::Column::Seq,
            log::Column::RawTs,
        ]));
        for row in txn.query_all(&q).await? {
            let id: i64 = row.try_get("", "id")?;
            let container: String = row.try_get("", "container_id")?;
            let boot: i32 = row.try_get("", "boot")?;
            let seq: Option<i64> = row.try_get("", "seq")?;
            let raw_ts: Option<i64> = row.try_get("", "raw_ts")?;
            let key = match (seq, raw_ts) {
                (Some(seq), _) => LineKey::Event { boot, seq },
                (None, Some(ts)) => LineKey::Raw { ts },
                (None, None) => continue,
            };
            new_ids.insert((Arc::from(container.as_str()), key), id);
        }
    }

    // 2. What the new rows carry. A line repeated inside the batch maps to one id once.
    let mut creds: Vec<[Value; 9]> = Vec::new();
    let mut bounties: Vec<[Value; 7]> = Vec::new();
    let mut seen: HashMap<IpAddr, Seen> = HashMap::new();
    for e in entries {
        let Some(log_id) = new_ids.remove(&(e.target.container_id.clone(), key_of(e))) else {
            stored.duplicates += 1;
            continue;
        };
        let counts = stored
            .per_decky
            .entry(e.target.decky.to_string())
            .or_default();
        let ev = match &e.record {
            Record::Raw { .. } => {
                counts.raw += 1;
                continue;
            }
            Record::Event(ev) => ev,
        };
        counts.events += 1;
        let src_ip = ev.src_ip.to_string();
        if ev.kind == CaptureEventKind::Auth {
            counts.credentials += 1;
            let mut extra = ev.fields.clone();
            let username = text_of(extra.remove("username").as_ref());
            let password = text_of(extra.remove("password").as_ref());
            let method = extra.remove("method").map(|m| text_of(Some(&m)));
            creds.push([
                log_id.into(),
                e.target.decky.to_string().into(),
                e.target.service.to_string().into(),
                src_ip.clone().into(),
                username.into(),
                password.into(),
                method.into(),
                json_text(&extra).into(),
                ev.ts.into(),
            ]);
        }
        if let Some((kind, content)) = bounty_of(ev) {
            counts.bounties += 1;
            bounties.push([
                log_id.into(),
                e.target.decky.to_string().into(),
                e.target.service.to_string().into(),
                src_ip.into(),
                kind.as_str().into(),
                content.into(),
                ev.ts.into(),
            ]);
        }
        seen.entry(ev.src_ip)
            .or_insert_with(|| Seen {
                first: ev.ts,
                last: ev.ts,
                events: 0,
                auths: 0,
                deckies: BTreeSet::new(),
                services: BTreeSet::new(),
            })
            .add(ev, &e.target.decky, &e.target.service);
    }

    // 3. Credentials and bounties.
    insert_chunked(
        &txn,
        credential::Entity,
        [
            credential::Column::LogId,
            credential::Column::Decky,
            credential::Column::Service,
            credential::Column::SrcIp,
            credential::Column::Username,
            credential::Column::Password,
            credential::Column::Method,
            credential::Column::Extra,
            credential::Column::Ts,
        ],
        &creds,
    )
    .await?;
    insert_chunked(
        &txn,
        bounty::Entity,
        [
            bounty::Column::LogId,
            bounty::Column::Decky,
            bounty::Column::Service,
            bounty::Column::SrcIp,
            bounty::Column::Kind,
            bounty::Column::Content,
            bounty::Column::Ts,
        ],
        &bounties,
    )
    .await?;

    // 4. Attackers: merge the batch into the stored rows.
    let ips: Vec<IpAddr> = seen.keys().copied().collect();
    for chunk in ips.chunks(CHUNK) {
        let keys: Vec<String> = chunk.iter().map(IpAddr::to_string).collect();
        let existing = attacker::Entity::find()
            .filter(attacker::Column::SrcIp.is_in(keys))
            .all(&txn)
            .await?;
        for row in &existing {
            if let Some(s) = row
                .src_ip
                .parse::<IpAddr>()
                .ok()
                .and_then(|ip| seen.get_mut(&ip))
            {
                s.merge(row);
            }
        }
        let mut q = Query::insert();
        q.into_table(attacker::Entity).columns([
            attacker::Column::SrcIp,
            attacker::Column::FirstSeen,
            attacker::Column::LastSeen,
            attacker::Column::EventCount,
            attacker::Column::AuthCount,
            attacker::Column::Deckies,
            attacker::Column::Services,
        ]);
        for ip in chunk {
            let Some(s) = seen.get(ip) else { continue };
            let row: [Value; 7] = [
                ip.to_string().into(),
                s.first.into(),
                s.last.into(),
                s.events.into(),
                s.auths.into(),
                set_json(&s.deckies).into(),
                set_json(&s.services).into(),
            ];
            q.values(row.into_iter().map(Expr::val))
                .map_err(build_err)?;
        }
        q.on_conflict(
            OnConflict::column(attacker::Column::SrcIp)
                .update_columns([
                    attacker::Column::FirstSeen,
                    attacker::Column::LastSeen,
                    attacker::Column::EventCount,
                    attacker::Column::AuthCount,
                    attacker::Column::Deckies,
                    attacker::Column::Services,
                ])
                .to_owned(),
        );
        txn.execute(&q).await?;
    }

    // 5. Cursors: the last entry of each container says where its stream now stands.
    let mut cursors: BTreeMap<&str, (&Entry, Cursor)> = BTreeMap::new();
    for e in entries {
        cursors.insert(&e.target.container_id, (e, e.cursor));
    }
    let mut q = Query::insert();
    q.into_table(ingest_cursor::Entity).columns([
        ingest_cursor::Column::ContainerId,
        ingest_cursor::Column::HostUuid,
        ingest_cursor::Column::Decky,
        ingest_cursor::Column::Service,
        ingest_cursor::Column::Boot,
        ingest_cursor::Column::LastSeq,
        ingest_cursor::Column::LastLogTs,
        ingest_cursor::Column::UpdatedAt,
    ]);
    for (container, (e, c)) in &cursors {
        let row: [Value; 8] = [
            container.to_string().into(),
            host.into(),
            e.target.decky.to_string().into(),
            e.target.service.to_string().into(),
            c.boot.into(),
            c.last_seq.into(),
            c.last_log_ts.into(),
            now.into(),
        ];
        q.values(row.into_iter().map(Expr::val))
            .map_err(build_err)?;
    }
    q.on_conflict(
        OnConflict::column(ingest_cursor::Column::ContainerId)
            .update_columns([
                ingest_cursor::Column::HostUuid,
                ingest_cursor::Column::Boot,
                ingest_cursor::Column::LastSeq,
                ingest_cursor::Column::LastLogTs,
                ingest_cursor::Column::UpdatedAt,
            ])
            .to_owned(),
    );
    txn.execute(&q).await?;

    txn.commit().await?;
    Ok(stored)
}

/// The cursors of `host`'s containers, as the last committed batch left them.
pub async fn load_cursors(
    db: &DatabaseConnection,
    host: &str,
) -> Result<HashMap<String, Cursor>, DbErr> {
    let rows = ingest_cursor::Entity::find()
        .filter(ingest_cursor::Column::HostUuid.eq(host))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let c = Cursor {
                boot: r.boot,
                last_seq: r.last_seq,
                last_log_ts: r.last_log_ts,
            };
            (r.container_id, c)
        })
        .collect())
}

/// Forgets the cursors of `host`'s containers that no longer exist (`present` is every
/// container of the host the engine still has).
pub async fn forget_cursors(
    db: &DatabaseConnection,
    host: &str,
    present: &HashSet<String>,
) -> Result<u64, DbErr> {
    let known = ingest_cursor::Entity::find()
        .filter(ingest_cursor::Column::HostUuid.eq(host))
        .all(db)
        .await?;
    let gone: Vec<String> = known
        .into_iter()
        .map(|c| c.container_id)
        .filter(|id| !present.contains(id))
        .collect();
    let mut removed = 0;
    for chunk in gone.chunks(CHUNK) {
        removed += ingest_cursor::Entity::delete_many()
            .filter(ingest_cursor::Column::ContainerId.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(removed)
}

/// Forgets the cursor of one removed container.
pub async fn forget_cursor(
    db: &DatabaseConnection,
    host: &str,
    container_id: &str,
) -> Result<u64, DbErr> {
    Ok(ingest_cursor::Entity::delete_many()
        .filter(ingest_cursor::Column::ContainerId.eq(container_id))
        .filter(ingest_cursor::Column::HostUuid.eq(host))
        .exec(db)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::line::{parse_line, Parsed};

    fn ev(line: &str) -> DecoyEvent {
        match parse_line(line.as_bytes()) {
            Parsed::Event(e) => *e,
            Parsed::Raw(r) => panic!("{r:?}"),
        }
    }

    fn with(event: &str, extra: &str) -> DecoyEvent {
        ev(&format!(
            r#"{{"ts":"2026-11-29T10:00:00.000Z","seq":1,"decky":"d","service":"s","event":"{event}","src_ip":"10.0.0.1","src_port":1{extra}}}"#
        ))
    }

    #[test]
    fn bounties_follow_the_event() {
        assert_eq!(
            bounty_of(&with("command", r#","command":"USER x""#)),
            Some((BountyKind::Command, "USER x".into()))
        );
        assert_eq!(
            bounty_of(&with(
                "command",
                r#","command":"DATA","payload":"Subject: hi""#
            )),
            Some((BountyKind::Upload, "Subject: hi".into()))
        );
        assert_eq!(
            bounty_of(&with(
                "command",
                r#","command":"SET k ...","payload":"SET k vvvv""#
            )),
            Some((BountyKind::Payload, "SET k vvvv".into()))
        );
        assert_eq!(
            bounty_of(&with(
                "request",
                r#","method":"POST","path":"/","body":"a=1""#
            )),
            Some((BountyKind::RequestBody, "a=1".into()))
        );
        assert_eq!(
            bounty_of(&with("request", r#","method":"GET","path":"/""#)),
            None
        );
        assert_eq!(bounty_of(&with("connect", "")), None);
        assert_eq!(
            bounty_of(&with("auth", r#","username":"u","password":"p""#)),
            None
        );
        let long = "y".repeat(BOUNTY_MAX + 10);
        let b = bounty_of(&with("command", &format!(r#","command":"{long}""#))).unwrap();
        assert_eq!(b.1.chars().count(), BOUNTY_MAX);
    }

    #[test]
    fn the_log_insert_ignores_any_conflict() {
        let mut q = Query::insert();
        q.into_table(log::Entity)
            .columns([log::Column::ContainerId])
            .values_panic([Expr::val("c")])
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .returning_col(log::Column::Id);
        // No conflict target: any unique key (event or raw line) makes the row a no-op.
        let words = |sql: String| sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let sql = words(q.to_string(sea_orm::sea_query::SqliteQueryBuilder));
        assert!(sql.contains("ON CONFLICT DO NOTHING RETURNING"), "{sql}");
        let sql = words(q.to_string(sea_orm::sea_query::PostgresQueryBuilder));
        assert!(sql.contains("ON CONFLICT DO NOTHING RETURNING"), "{sql}");
    }
}
