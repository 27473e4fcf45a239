//! One mutation of a decky: old and new services, trigger and actor.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mutations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub decky_name: String,
    /// JSON arrays of service slugs.
    pub old_services: String,
    pub new_services: String,
    /// `api` or `scheduled`.
    pub trigger: String,
    /// Username for operator-triggered mutations.
    pub actor: Option<String>,
    pub lifecycle_id: String,
    pub at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
