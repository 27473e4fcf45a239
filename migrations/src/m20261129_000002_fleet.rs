//! The fleet's desired state (one row per decky) and the lifecycle rows that realise it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Deckies {
    Table,
    Name,
    Ip,
    Hostname,
    Distro,
    Archetype,
    NmapOs,
    Services,
    ServiceConfig,
    CustomServices,
    MutateInterval,
    LastMutated,
    Subnet,
    Gateway,
    Interface,
    Driver,
    Desired,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DeckyLifecycle {
    Table,
    Id,
    DeckyName,
    HostUuid,
    Operation,
    Status,
    Stage,
    Error,
    Trigger,
    StartedAt,
    UpdatedAt,
    CompletedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let ts = |c: &mut ColumnDef| c.timestamp_with_time_zone().not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(Deckies::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Deckies::Name)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Deckies::Ip).string().not_null())
                    .col(ColumnDef::new(Deckies::Hostname).string().not_null())
                    .col(ColumnDef::new(Deckies::Distro).string().not_null())
                    .col(ColumnDef::new(Deckies::Archetype).string().null())
                    .col(ColumnDef::new(Deckies::NmapOs).string().not_null())
                    .col(ColumnDef::new(Deckies::Services).text().not_null())
                    .col(ColumnDef::new(Deckies::ServiceConfig).text().not_null())
                    .col(ColumnDef::new(Deckies::CustomServices).text().not_null())
                    .col(ColumnDef::new(Deckies::MutateInterval).integer().null())
                    .col(
                        ColumnDef::new(Deckies::LastMutated)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Deckies::Subnet).string().not_null())
                    .col(ColumnDef::new(Deckies::Gateway).string().not_null())
                    .col(ColumnDef::new(Deckies::Interface).string().null())
                    .col(ColumnDef::new(Deckies::Driver).string().not_null())
                    .col(ColumnDef::new(Deckies::Desired).string().not_null())
                    .col(ts(&mut ColumnDef::new(Deckies::CreatedAt)))
                    .col(ts(&mut ColumnDef::new(Deckies::UpdatedAt)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeckyLifecycle::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(DeckyLifecycle::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DeckyLifecycle::DeckyName)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(DeckyLifecycle::HostUuid).string().not_null())
                    .col(
                        ColumnDef::new(DeckyLifecycle::Operation)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(DeckyLifecycle::Status).string().not_null())
                    .col(ColumnDef::new(DeckyLifecycle::Stage).string().null())
                    .col(ColumnDef::new(DeckyLifecycle::Error).string().null())
                    .col(ColumnDef::new(DeckyLifecycle::Trigger).string().null())
                    .col(ts(&mut ColumnDef::new(DeckyLifecycle::StartedAt)))
                    .col(ts(&mut ColumnDef::new(DeckyLifecycle::UpdatedAt)))
                    .col(
                        ColumnDef::new(DeckyLifecycle::CompletedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_lifecycle_status")
                    .table(DeckyLifecycle::Table)
                    .col(DeckyLifecycle::Status)
                    .col(DeckyLifecycle::HostUuid)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_lifecycle_decky")
                    .table(DeckyLifecycle::Table)
                    .col(DeckyLifecycle::DeckyName)
                    .col(DeckyLifecycle::StartedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeckyLifecycle::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Deckies::Table).to_owned())
            .await
    }
}
