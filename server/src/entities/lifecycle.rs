//! Lifecycle rows: one operation on one decky, `pending -> running -> succeeded | failed`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "decky_lifecycle")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub decky_name: String,
    pub host_uuid: String,
    pub operation: String,
    pub status: String,
    pub stage: Option<String>,
    pub error: Option<String>,
    pub trigger: Option<String>,
    pub started_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
    pub completed_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
