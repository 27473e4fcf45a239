//! One authentication attempt, derived from an `auth` event.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credentials")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub log_id: i64,
    pub decky: String,
    pub service: String,
    pub src_ip: String,
    #[sea_orm(column_type = "Text")]
    pub username: String,
    /// `""` where the protocol carries no cleartext password (the material is in `extra`).
    #[sea_orm(column_type = "Text")]
    pub password: String,
    pub method: Option<String>,
    /// JSON object: the event's other fields (hashes, challenges, paths, ...).
    #[sea_orm(column_type = "Text")]
    pub extra: String,
    pub ts: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
