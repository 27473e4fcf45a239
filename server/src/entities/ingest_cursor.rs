//! How far ingest got in one container's log stream; written in the same transaction as
//! the rows it covers, so after a crash the stream resumes exactly where the data ends.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ingest_cursors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub container_id: String,
    /// The server (host uuid) whose ingester follows the container.
    pub host_uuid: String,
    pub decky: String,
    pub service: String,
    pub boot: i32,
    pub last_seq: i64,
    /// Docker's timestamp (ns) of the last line covered.
    pub last_log_ts: i64,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
