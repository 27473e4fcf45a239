//! One decoy event, or one raw line that was not a valid event (`event = "raw"`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "logs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub container_id: String,
    /// Which run of the container's process (its `seq` restarts at 1 when it restarts).
    pub boot: i32,
    /// The decoy's per-process sequence number; NULL on raw rows.
    pub seq: Option<i64>,
    /// Docker's log timestamp (ns) on raw rows, their dedup key; NULL on events.
    pub raw_ts: Option<i64>,
    /// Docker's log timestamp (ns since the epoch) of the line.
    pub log_ts: i64,
    pub decky: String,
    pub service: String,
    /// `connect`, `auth`, `command`, `request`, `disconnect`, or `raw`.
    pub event: String,
    pub src_ip: Option<String>,
    pub src_port: Option<i32>,
    /// The decoy's timestamp (Docker's for raw rows).
    pub ts: ChronoDateTimeUtc,
    /// JSON object: the event's own fields (everything but the common ones).
    #[sea_orm(column_type = "Text")]
    pub fields: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub raw: Option<String>,
    pub received_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
