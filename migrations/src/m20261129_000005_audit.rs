//! The audit trail: every state-changing action, who, when, what and the outcome. Never purged
//! with captured data.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Audit {
    Table,
    Id,
    At,
    Actor,
    Action,
    Target,
    Outcome,
    Status,
    Ip,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Audit::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Audit::Id).string().not_null().primary_key())
                    .col(
                        ColumnDef::new(Audit::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Audit::Actor).string().null())
                    .col(ColumnDef::new(Audit::Action).string().not_null())
                    .col(ColumnDef::new(Audit::Target).string().null())
                    .col(ColumnDef::new(Audit::Outcome).string().not_null())
                    .col(ColumnDef::new(Audit::Status).integer().not_null())
                    .col(ColumnDef::new(Audit::Ip).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_at")
                    .table(Audit::Table)
                    .col(Audit::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Audit::Table).to_owned())
            .await
    }
}
