//! A captured payload: a command, an uploaded message, a request body, a protocol payload.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bounties")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub log_id: i64,
    pub decky: String,
    pub service: String,
    pub src_ip: String,
    /// `command`, `upload`, `request_body` or `payload`.
    pub kind: String,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    pub ts: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
