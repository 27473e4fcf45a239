//! The schema of decnet's database, as ordered SeaORM migrations. Runs at start-up.

pub use sea_orm_migration::prelude::*;

mod m20261129_000001_auth;
mod m20261129_000002_fleet;
mod m20261129_000003_capture;
mod m20261129_000004_mutations;
mod m20261129_000005_audit;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_auth::Migration),
            Box::new(m20261129_000002_fleet::Migration),
            Box::new(m20261129_000003_capture::Migration),
            Box::new(m20261129_000004_mutations::Migration),
            Box::new(m20261129_000005_audit::Migration),
        ]
    }
}
