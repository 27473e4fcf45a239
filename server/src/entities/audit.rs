//! One audited action.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub at: ChronoDateTimeUtc,
    /// Username; `None` when the caller was not signed in.
    pub actor: Option<String>,
    /// e.g. `deploy`, `login`, `user.create`.
    pub action: String,
    /// What it acted on (a decky, a user), when there is one.
    pub target: Option<String>,
    /// `ok`, `denied`, `rejected` or `failed`.
    pub outcome: String,
    /// The HTTP status answered.
    pub status: i32,
    pub ip: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
