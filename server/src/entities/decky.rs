//! The fleet's desired state: one row per decky (the single source of truth).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deckies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub ip: String,
    pub hostname: String,
    pub distro: String,
    pub archetype: Option<String>,
    pub nmap_os: String,
    /// JSON array of service slugs.
    pub services: String,
    /// JSON object: service -> persona key -> value.
    pub service_config: String,
    /// JSON array of bring-your-own service definitions.
    pub custom_services: String,
    /// Minutes between automatic mutations; NULL: never.
    pub mutate_interval: Option<i32>,
    pub last_mutated: Option<ChronoDateTimeUtc>,
    pub subnet: String,
    pub gateway: String,
    pub interface: Option<String>,
    /// bridge | macvlan | ipvlan
    pub driver: String,
    /// `present`, or `absent` while its teardown runs.
    pub desired: String,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub const PRESENT: &str = "present";
pub const ABSENT: &str = "absent";
