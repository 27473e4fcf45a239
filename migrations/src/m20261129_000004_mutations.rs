//! The record of every mutation: which services a decky ran before and after, why, and who.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Mutations {
    Table,
    Id,
    DeckyName,
    OldServices,
    NewServices,
    Trigger,
    Actor,
    LifecycleId,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Mutations::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Mutations::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Mutations::DeckyName).string().not_null())
                    .col(ColumnDef::new(Mutations::OldServices).text().not_null())
                    .col(ColumnDef::new(Mutations::NewServices).text().not_null())
                    .col(ColumnDef::new(Mutations::Trigger).string().not_null())
                    .col(ColumnDef::new(Mutations::Actor).string().null())
                    .col(ColumnDef::new(Mutations::LifecycleId).string().not_null())
                    .col(
                        ColumnDef::new(Mutations::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_mutations_decky")
                    .table(Mutations::Table)
                    .col(Mutations::DeckyName)
                    .col(Mutations::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Mutations::Table).to_owned())
            .await
    }
}
