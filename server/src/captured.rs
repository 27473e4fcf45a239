//! Captured data as the API and the console read it: logs, credentials, attackers and
//! bounties, filtered and paginated newest first; per-table counts and the purge.
//!
//! Ingest (`crate::ingest`) is the only writer of these tables; this service only reads
//! and deletes. A purge keeps the ingest cursors, so nothing already purged comes back.

use std::net::IpAddr;

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use decnet_common::dto::{
    AttackerDto, BountyDto, BountyKind, CaptureEventKind, CapturedCounts, CapturedPage,
    CredentialDto, LogDto,
};
use decnet_common::name::{DeckyName, ServiceSlug};
use sea_orm::sea_query::{Condition, LikeExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::entities::{attacker, bounty, credential, log};
use crate::error::{ApiError, ApiResult};
use crate::lifecycle::ts;

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 500;

/// Which list a query is for (each accepts the common filters plus its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Logs,
    Credentials,
    Attackers,
    Bounties,
}

/// Filters of a list; every one is optional and they combine with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub decky: Option<DeckyName>,
    pub service: Option<ServiceSlug>,
    pub src_ip: Option<IpAddr>,
    /// `ts >= since` (attackers: last seen at or after).
    pub since: Option<DateTime<Utc>>,
    /// `ts < until` (attackers: first seen before).
    pub until: Option<DateTime<Utc>>,
    /// Logs only.
    pub event: Option<CaptureEventKind>,
    /// Bounties only.
    pub kind: Option<BountyKind>,
}

/// Where a page starts: after `offset` rows, or after the row a `cursor` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub offset: u64,
    pub cursor: Option<PageCursor>,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            limit: DEFAULT_LIMIT,
            offset: 0,
            cursor: None,
        }
    }
}

/// The sort key of the last row of a page: `(ts, id)`, or `(last_seen, src_ip)` for
/// attackers. Opaque on the wire (base64url of `<rfc3339>|<key>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageCursor {
    pub ts: DateTime<Utc>,
    pub key: String,
}

impl PageCursor {
    pub fn encode(&self) -> String {
        let plain = format!(
            "{}|{}",
            self.ts.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            self.key
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(plain)
    }

    pub fn decode(s: &str) -> Option<PageCursor> {
        if s.len() > 256 {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()?;
        let plain = String::from_utf8(bytes).ok()?;
        let (ts, key) = plain.split_once('|')?;
        let ts = DateTime::parse_from_rfc3339(ts).ok()?.with_timezone(&Utc);
        Some(PageCursor {
            ts,
            key: key.to_owned(),
        })
    }
}

fn unprocessable(detail: impl Into<String>) -> ApiError {
    ApiError::unprocessable(detail)
}

fn parse_time(key: &str, v: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            unprocessable(format!(
                "{key} must be an RFC 3339 timestamp, e.g. 2026-01-31T23:59:59Z"
            ))
        })
}

/// Parses a list's query string (`?limit=&offset=&cursor=&decky=&service=&src_ip=&since=
/// &until=`, plus `event=` for logs and `kind=` for bounties). Empty values count as absent;
/// anything else wrong is a 422 saying what to send instead.
pub fn parse_query(table: Table, query: Option<&str>) -> ApiResult<(Filter, Page)> {
    let mut filter = Filter::default();
    let mut page = Page::default();
    let mut seen: Vec<String> = Vec::new();
    let mut cursor_given = false;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let key = key.into_owned();
        if seen.contains(&key) {
            return Err(unprocessable(format!(
                "Query parameter '{}' is given more than once",
                shown(&key)
            )));
        }
        if seen.len() >= 16 {
            return Err(unprocessable("Too many query parameters"));
        }
        seen.push(key.clone());
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match (key.as_str(), table) {
            ("limit", _) => {
                page.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| {
                        unprocessable(format!("limit must be an integer from 1 to {MAX_LIMIT}"))
                    })?;
            }
            ("offset", _) => {
                page.offset = value
                    .parse::<u64>()
                    .ok()
                    .filter(|o| i64::try_from(*o).is_ok())
                    .ok_or_else(|| unprocessable("offset must be a non-negative integer"))?;
            }
            ("cursor", _) => {
                cursor_given = true;
                page.cursor = Some(PageCursor::decode(value).ok_or_else(|| {
                    unprocessable(
                        "cursor is not valid: pass the next_cursor of a previous page unchanged",
                    )
                })?);
            }
            ("decky", _) => {
                filter.decky =
                    Some(DeckyName::parse(value).map_err(|e| unprocessable(e.to_string()))?)
            }
            ("service", _) => {
                filter.service =
                    Some(ServiceSlug::parse(value).map_err(|e| unprocessable(e.to_string()))?)
            }
            ("src_ip", _) => {
                filter.src_ip = Some(value.parse::<IpAddr>().map_err(|_| {
                    unprocessable("src_ip must be an IPv4 or IPv6 address, e.g. 203.0.113.7")
                })?)
            }
            ("since", _) => filter.since = Some(parse_time("since", value)?),
            ("until", _) => filter.until = Some(parse_time("until", value)?),
            ("event", Table::Logs) => {
                filter.event = Some(CaptureEventKind::parse(value).ok_or_else(|| {
                    let all: Vec<&str> = CaptureEventKind::ALL.iter().map(|k| k.as_str()).collect();
                    unprocessable(format!("event must be one of: {}", all.join(", ")))
                })?)
            }
            ("kind", Table::Bounties) => {
                filter.kind = Some(BountyKind::parse(value).ok_or_else(|| {
                    let all: Vec<&str> = BountyKind::ALL.iter().map(|k| k.as_str()).collect();
                    unprocessable(format!("kind must be one of: {}", all.join(", ")))
                })?)
            }
            _ => {
                let extra = match table {
                    Table::Logs => ", event",
                    Table::Bounties => ", kind",
                    Table::Credentials | Table::Attackers => "",
                };
                return Err(unprocessable(format!(
                    "Unknown query parameter '{}'; accepted: limit, offset, cursor, decky, service, src_ip, since, until{extra}",
                    shown(&key)
                )));
            }
        }
    }
    if cursor_given && page.offset > 0 {
        return Err(unprocessable("Use either offset or cursor, not both"));
    }
    if let (Some(s), Some(u)) = (filter.since, filter.until) {
        if s >= u {
            return Err(unprocessable("since must be earlier than until"));
        }
    }
    Ok((filter, page))
}

/// User input echoed in a message, bounded.
fn shown(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_owned(),
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::Object(Default::default()))
}

/// The tables ordered by `(ts, id)`: logs, credentials, bounties.
trait Series: EntityTrait {
    fn id() -> Self::Column;
    fn ts() -> Self::Column;
    fn decky() -> Self::Column;
    fn service() -> Self::Column;
    fn src_ip() -> Self::Column;
    fn cursor_of(m: &Self::Model) -> PageCursor;
    /// Filters only this table has.
    fn own_filters(q: Select<Self>, _f: &Filter) -> Select<Self> {
        q
    }
}

impl Series for log::Entity {
    fn id() -> log::Column {
        log::Column::Id
    }
    fn ts() -> log::Column {
        log::Column::Ts
    }
    fn decky() -> log::Column {
        log::Column::Decky
    }
    fn service() -> log::Column {
        log::Column::Service
    }
    fn src_ip() -> log::Column {
        log::Column::SrcIp
    }
    fn cursor_of(m: &log::Model) -> PageCursor {
        PageCursor {
            ts: m.ts,
            key: m.id.to_string(),
        }
    }
    fn own_filters(q: Select<Self>, f: &Filter) -> Select<Self> {
        match f.event {
            Some(e) => q.filter(log::Column::Event.eq(e.as_str())),
            None => q,
        }
    }
}

impl Series for credential::Entity {
    fn id() -> credential::Column {
        credential::Column::Id
    }
    fn ts() -> credential::Column {
        credential::Column::Ts
    }
    fn decky() -> credential::Column {
        credential::Column::Decky
    }
    fn service() -> credential::Column {
        credential::Column::Service
    }
    fn src_ip() -> credential::Column {
        credential::Column::SrcIp
    }
    fn cursor_of(m: &credential::Model) -> PageCursor {
        PageCursor {
            ts: m.ts,
            key: m.id.to_string(),
        }
    }
}

impl Series for bounty::Entity {
    fn id() -> bounty::Column {
        bounty::Column::Id
    }
    fn ts() -> bounty::Column {
        bounty::Column::Ts
    }
    fn decky() -> bounty::Column {
        bounty::Column::Decky
    }
    fn service() -> bounty::Column {
        bounty::Column::Service
    }
    fn src_ip() -> bounty::Column {
        bounty::Column::SrcIp
    }
    fn cursor_of(m: &bounty::Model) -> PageCursor {
        PageCursor {
            ts: m.ts,
            key: m.id.to_string(),
        }
    }
    fn own_filters(q: Select<Self>, f: &Filter) -> Select<Self> {
        match f.kind {
            Some(k) => q.filter(bounty::Column::Kind.eq(k.as_str())),
            None => q,
        }
    }
}

/// `LIKE` pattern matching `"value"` inside a JSON array of strings.
fn json_member(value: &str) -> LikeExpr {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    LikeExpr::new(format!("%\"{escaped}\"%")).escape('\\')
}

/// A page of rows plus the count of all matching rows.
struct Rows<M> {
    items: Vec<M>,
    total: u64,
    next: Option<PageCursor>,
}

pub struct CapturedService {
    db: DatabaseConnection,
}

impl CapturedService {
    pub fn new(db: DatabaseConnection) -> Self {
        CapturedService { db }
    }

    async fn series<E>(&self, f: &Filter, p: &Page) -> Result<Rows<E::Model>, DbErr>
    where
        E: Series,
        E::Model: Sync,
    {
        let mut q = E::find();
        if let Some(d) = &f.decky {
            q = q.filter(E::decky().eq(d.as_str()));
        }
        if let Some(s) = &f.service {
            q = q.filter(E::service().eq(s.as_str()));
        }
        if let Some(ip) = f.src_ip {
            q = q.filter(E::src_ip().eq(ip.to_string()));
        }
        if let Some(t) = f.since {
            q = q.filter(E::ts().gte(t));
        }
        if let Some(t) = f.until {
            q = q.filter(E::ts().lt(t));
        }
        q = E::own_filters(q, f);
        let total = q.clone().count(&self.db).await?;
        if let Some(c) = &p.cursor {
            let id: i64 = c.key.parse().unwrap_or(i64::MAX);
            q = q.filter(
                Condition::any()
                    .add(E::ts().lt(c.ts))
                    .add(Condition::all().add(E::ts().eq(c.ts)).add(E::id().lt(id))),
            );
        }
        let mut items = q
            .order_by_desc(E::ts())
            .order_by_desc(E::id())
            .offset(p.offset)
            .limit(u64::from(p.limit) + 1)
            .all(&self.db)
            .await?;
        let next = if items.len() > p.limit as usize {
            items.truncate(p.limit as usize);
            items.last().map(E::cursor_of)
        } else {
            None
        };
        Ok(Rows { items, total, next })
    }

    fn page<M, T>(rows: Rows<M>, p: &Page, map: impl Fn(M) -> T) -> CapturedPage<T> {
        CapturedPage {
            items: rows.items.into_iter().map(map).collect(),
            total: rows.total,
            limit: p.limit,
            offset: p.offset,
            next_cursor: rows.next.map(|c| c.encode()),
        }
    }

    /// Every event and raw line, newest first.
    pub async fn logs(&self, f: &Filter, p: &Page) -> Result<CapturedPage<LogDto>, DbErr> {
        let rows = self.series::<log::Entity>(f, p).await?;
        Ok(Self::page(rows, p, |m| LogDto {
            id: m.id,
            container_id: m.container_id,
            boot: m.boot,
            seq: m.seq,
            decky: m.decky,
            service: m.service,
            event: CaptureEventKind::parse(&m.event).unwrap_or(CaptureEventKind::Raw),
            src_ip: m.src_ip,
            src_port: m.src_port.and_then(|p| u16::try_from(p).ok()),
            ts: ts(m.ts),
            fields: json(&m.fields),
            raw: m.raw,
            received_at: ts(m.received_at),
        }))
    }

    /// Every authentication attempt, newest first.
    pub async fn credentials(
        &self,
        f: &Filter,
        p: &Page,
    ) -> Result<CapturedPage<CredentialDto>, DbErr> {
        let rows = self.series::<credential::Entity>(f, p).await?;
        Ok(Self::page(rows, p, |m| CredentialDto {
            id: m.id,
            log_id: m.log_id,
            decky: m.decky,
            service: m.service,
            src_ip: m.src_ip,
            username: m.username,
            password: m.password,
            method: m.method,
            extra: json(&m.extra),
            ts: ts(m.ts),
        }))
    }

    /// Every captured payload, newest first.
    pub async fn bounties(&self, f: &Filter, p: &Page) -> Result<CapturedPage<BountyDto>, DbErr> {
        let rows = self.series::<bounty::Entity>(f, p).await?;
        Ok(Self::page(rows, p, |m| BountyDto {
            id: m.id,
            log_id: m.log_id,
            decky: m.decky,
            service: m.service,
            src_ip: m.src_ip,
            kind: BountyKind::parse(&m.kind).unwrap_or(BountyKind::Payload),
            content: m.content,
            ts: ts(m.ts),
        }))
    }

    /// One row per source address, most recently seen first. `decky`/`service` keep the
    /// sources that touched them; `since`/`until` keep those active in that window.
    pub async fn attackers(
        &self,
        f: &Filter,
        p: &Page,
    ) -> Result<CapturedPage<AttackerDto>, DbErr> {
        use attacker::Column as C;
        let mut q = attacker::Entity::find();
        if let Some(d) = &f.decky {
            q = q.filter(C::Deckies.like(json_member(d.as_str())));
        }
        if let Some(s) = &f.service {
            q = q.filter(C::Services.like(json_member(s.as_str())));
        }
        if let Some(ip) = f.src_ip {
            q = q.filter(C::SrcIp.eq(ip.to_string()));
        }
        if let Some(t) = f.since {
            q = q.filter(C::LastSeen.gte(t));
        }
        if let Some(t) = f.until {
            q = q.filter(C::FirstSeen.lt(t));
        }
        let total = q.clone().count(&self.db).await?;
        if let Some(c) = &p.cursor {
            q = q.filter(
                Condition::any().add(C::LastSeen.lt(c.ts)).add(
                    Condition::all()
                        .add(C::LastSeen.eq(c.ts))
                        .add(C::SrcIp.lt(c.key.clone())),
                ),
            );
        }
        let mut items = q
            .order_by_desc(C::LastSeen)
            .order_by_desc(C::SrcIp)
            .offset(p.offset)
            .limit(u64::from(p.limit) + 1)
            .all(&self.db)
            .await?;
        let next = if items.len() > p.limit as usize {
            items.truncate(p.limit as usize);
            items.last().map(|m| PageCursor {
                ts: m.last_seen,
                key: m.src_ip.clone(),
            })
        } else {
            None
        };
        let list = |s: &str| serde_json::from_str::<Vec<String>>(s).unwrap_or_default();
        Ok(Self::page(Rows { items, total, next }, p, |m| {
            AttackerDto {
                deckies: list(&m.deckies),
                services: list(&m.services),
                src_ip: m.src_ip,
                first_seen: ts(m.first_seen),
                last_seen: ts(m.last_seen),
                event_count: m.event_count,
                auth_count: m.auth_count,
            }
        }))
    }

    /// Rows per captured-data table.
    pub async fn counts(&self) -> Result<CapturedCounts, DbErr> {
        counts_in(&self.db).await
    }

    /// Deletes all captured data (logs, bounties, credentials, attackers) in one transaction
    /// and returns what each table lost. Fleet, lifecycle rows, users, settings and the
    /// ingest cursors stay: what was purged is not ingested again.
    pub async fn purge_all(&self) -> Result<CapturedCounts, DbErr> {
        let txn = crate::db::begin_write(&self.db).await?;
        let deleted = CapturedCounts {
            logs: log::Entity::delete_many().exec(&txn).await?.rows_affected,
            bounties: bounty::Entity::delete_many()
                .exec(&txn)
                .await?
                .rows_affected,
            credentials: credential::Entity::delete_many()
                .exec(&txn)
                .await?
                .rows_affected,
            attackers: attacker::Entity::delete_many()
                .exec(&txn)
                .await?
                .rows_affected,
        };
        txn.commit().await?;
        Ok(deleted)
    }
}

async fn counts_in(db: &impl ConnectionTrait) -> Result<CapturedCounts, DbErr> {
    Ok(CapturedCounts {
        logs: log::Entity::find().count(db).await?,
        bounties: bounty::Entity::find().count(db).await?,
        credentials: credential::Entity::find().count(db).await?,
        attackers: attacker::Entity::find().count(db).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(table: Table, q: &str) -> u16 {
        parse_query(table, Some(q))
            .err()
            .map(|e| e.status.as_u16())
            .unwrap_or(200)
    }

    #[test]
    fn defaults_apply_to_an_empty_query() {
        let (f, p) = parse_query(Table::Logs, None).unwrap();
        assert_eq!(f, Filter::default());
        assert_eq!(p, Page::default());
        let (f, _) = parse_query(Table::Logs, Some("decky=&service=")).unwrap();
        assert_eq!(f, Filter::default());
    }

    #[test]
    fn good_parameters_parse() {
        let (f, p) = parse_query(
            Table::Bounties,
            Some("limit=500&offset=20&decky=web-01&service=docker_api&src_ip=2001:db8::1&since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00%2B01:00&kind=request_body"),
        )
        .unwrap();
        assert_eq!(p.limit, 500);
        assert_eq!(p.offset, 20);
        assert_eq!(f.decky.unwrap().as_str(), "web-01");
        assert_eq!(f.service.unwrap().as_str(), "docker_api");
        assert!(f.src_ip.unwrap().is_ipv6());
        assert_eq!(f.until.unwrap().to_rfc3339(), "2026-01-31T23:00:00+00:00");
        assert_eq!(f.kind, Some(BountyKind::RequestBody));
    }

    #[test]
    fn bad_parameters_are_422() {
        for q in [
            "limit=0",
            "limit=501",
            "limit=x",
            "offset=-1",
            "offset=99999999999999999999",
            "decky=Bad_Name",
            "service=a/b",
            "src_ip=1.2.3",
            "since=yesterday",
            "until=2026-13-01T00:00:00Z",
            "since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
            "cursor=@@@",
            "limit=5&limit=6",
            "nope=1",
            "kind=command",
        ] {
            assert_eq!(status(Table::Logs, q), 422, "{q}");
        }
        assert_eq!(status(Table::Credentials, "event=auth"), 422);
        assert_eq!(status(Table::Logs, "event=auth"), 200);
        assert_eq!(status(Table::Logs, "event=bogus"), 422);
    }

    #[test]
    fn cursors_round_trip_and_exclude_offset() {
        let c = PageCursor {
            ts: DateTime::parse_from_rfc3339("2026-11-29T10:00:00.123Z")
                .unwrap()
                .with_timezone(&Utc),
            key: "2001:db8::1".into(),
        };
        assert_eq!(PageCursor::decode(&c.encode()), Some(c.clone()));
        let q = format!("cursor={}", c.encode());
        assert_eq!(status(Table::Attackers, &q), 200);
        assert_eq!(status(Table::Attackers, &format!("{q}&offset=3")), 422);
    }

    #[test]
    fn json_member_patterns_escape_like_wildcards() {
        use sea_orm::QueryTrait;
        let sql = attacker::Entity::find()
            .filter(attacker::Column::Services.like(json_member("docker_api")))
            .build(sea_orm::DbBackend::Sqlite)
            .to_string();
        assert!(
            sql.contains(r#"LIKE '%"docker\_api"%' ESCAPE '\'"#),
            "{sql}"
        );
    }
}
