//! One row per source IP: when it was seen, how much it did, and where.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attackers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub src_ip: String,
    pub first_seen: ChronoDateTimeUtc,
    pub last_seen: ChronoDateTimeUtc,
    pub event_count: i64,
    pub auth_count: i64,
    /// JSON array of decky names, sorted.
    #[sea_orm(column_type = "Text")]
    pub deckies: String,
    /// JSON array of service slugs, sorted.
    #[sea_orm(column_type = "Text")]
    pub services: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
