//! Captured data: every decoy event (`logs`), what was derived from it (`credentials`,
//! `bounties`, the per-source `attackers` aggregate) and where ingest stands in each
//! container's log stream (`ingest_cursors`).
//!
//! Portable SQL only (SQLite now, PostgreSQL later): no partial indexes, no JSON operators;
//! JSON is stored as text. Two unique keys make re-reading a log stream harmless:
//! `(container_id, boot, seq)` for events (NULL `seq` on raw rows, and NULLs never collide)
//! and `(container_id, raw_ts)` for raw lines (NULL on events).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Logs {
    Table,
    Id,
    ContainerId,
    Boot,
    Seq,
    RawTs,
    LogTs,
    Decky,
    Service,
    Event,
    SrcIp,
    SrcPort,
    Ts,
    Fields,
    Raw,
    ReceivedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Credentials {
    Table,
    Id,
    LogId,
    Decky,
    Service,
    SrcIp,
    Username,
    Password,
    Method,
    Extra,
    Ts,
}

#[derive(DeriveIden, Clone, Copy)]
enum Attackers {
    Table,
    SrcIp,
    FirstSeen,
    LastSeen,
    EventCount,
    AuthCount,
    Deckies,
    Services,
}

#[derive(DeriveIden, Clone, Copy)]
enum Bounties {
    Table,
    Id,
    LogId,
    Decky,
    Service,
    SrcIp,
    Kind,
    Content,
    Ts,
}

#[derive(DeriveIden, Clone, Copy)]
enum IngestCursors {
    Table,
    ContainerId,
    HostUuid,
    Decky,
    Service,
    Boot,
    LastSeq,
    LastLogTs,
    UpdatedAt,
}

/// `(decky, ts)`, `(service, ts)`, `(src_ip, ts)` and `(ts)`: every list filter, newest first.
async fn filter_indexes<T: Iden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    prefix: &str,
    table: T,
    cols: [T; 3],
    ts: T,
) -> Result<(), DbErr> {
    manager
        .create_index(
            Index::create()
                .name(format!("idx_{prefix}_ts"))
                .table(table)
                .col(ts)
                .to_owned(),
        )
        .await?;
    for (col, name) in cols.into_iter().zip(["decky", "service", "src_ip"]) {
        manager
            .create_index(
                Index::create()
                    .name(format!("idx_{prefix}_{name}_ts"))
                    .table(table)
                    .col(col)
                    .col(ts)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let ts = |c: &mut ColumnDef| c.timestamp_with_time_zone().not_null().to_owned();
        let id = |c: &mut ColumnDef| {
            c.big_integer()
                .not_null()
                .auto_increment()
                .primary_key()
                .to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table(Logs::Table)
                    .if_not_exists()
                    .col(id(&mut ColumnDef::new(Logs::Id)))
                    .col(ColumnDef::new(Logs::ContainerId).string().not_null())
                    .col(ColumnDef::new(Logs::Boot).integer().not_null())
                    .col(ColumnDef::new(Logs::Seq).big_integer().null())
                    .col(ColumnDef::new(Logs::RawTs).big_integer().null())
                    .col(ColumnDef::new(Logs::LogTs).big_integer().not_null())
                    .col(ColumnDef::new(Logs::Decky).string().not_null())
                    .col(ColumnDef::new(Logs::Service).string().not_null())
                    .col(ColumnDef::new(Logs::Event).string().not_null())
                    .col(ColumnDef::new(Logs::SrcIp).string().null())
                    .col(ColumnDef::new(Logs::SrcPort).integer().null())
                    .col(ts(&mut ColumnDef::new(Logs::Ts)))
                    .col(ColumnDef::new(Logs::Fields).text().not_null())
                    .col(ColumnDef::new(Logs::Raw).text().null())
                    .col(ts(&mut ColumnDef::new(Logs::ReceivedAt)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_logs_event")
                    .table(Logs::Table)
                    .col(Logs::ContainerId)
                    .col(Logs::Boot)
                    .col(Logs::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_logs_raw")
                    .table(Logs::Table)
                    .col(Logs::ContainerId)
                    .col(Logs::RawTs)
                    .unique()
                    .to_owned(),
            )
            .await?;
        filter_indexes(
            manager,
            "logs",
            Logs::Table,
            [Logs::Decky, Logs::Service, Logs::SrcIp],
            Logs::Ts,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Credentials::Table)
                    .if_not_exists()
                    .col(id(&mut ColumnDef::new(Credentials::Id)))
                    .col(ColumnDef::new(Credentials::LogId).big_integer().not_null())
                    .col(ColumnDef::new(Credentials::Decky).string().not_null())
                    .col(ColumnDef::new(Credentials::Service).string().not_null())
                    .col(ColumnDef::new(Credentials::SrcIp).string().not_null())
                    .col(ColumnDef::new(Credentials::Username).text().not_null())
                    .col(ColumnDef::new(Credentials::Password).text().not_null())
                    .col(ColumnDef::new(Credentials::Method).string().null())
                    .col(ColumnDef::new(Credentials::Extra).text().not_null())
                    .col(ts(&mut ColumnDef::new(Credentials::Ts)))
                    .to_owned(),
            )
            .await?;
        filter_indexes(
            manager,
            "credentials",
            Credentials::Table,
            [Credentials::Decky, Credentials::Service, Credentials::SrcIp],
            Credentials::Ts,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Attackers::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Attackers::SrcIp)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ts(&mut ColumnDef::new(Attackers::FirstSeen)))
                    .col(ts(&mut ColumnDef::new(Attackers::LastSeen)))
                    .col(
                        ColumnDef::new(Attackers::EventCount)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Attackers::AuthCount)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Attackers::Deckies).text().not_null())
                    .col(ColumnDef::new(Attackers::Services).text().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_attackers_last_seen")
                    .table(Attackers::Table)
                    .col(Attackers::LastSeen)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Bounties::Table)
                    .if_not_exists()
                    .col(id(&mut ColumnDef::new(Bounties::Id)))
                    .col(ColumnDef::new(Bounties::LogId).big_integer().not_null())
                    .col(ColumnDef::new(Bounties::Decky).string().not_null())
                    .col(ColumnDef::new(Bounties::Service).string().not_null())
                    .col(ColumnDef::new(Bounties::SrcIp).string().not_null())
                    .col(ColumnDef::new(Bounties::Kind).string().not_null())
                    .col(ColumnDef::new(Bounties::Content).text().not_null())
                    .col(ts(&mut ColumnDef::new(Bounties::Ts)))
                    .to_owned(),
            )
            .await?;
        filter_indexes(
            manager,
            "bounties",
            Bounties::Table,
            [Bounties::Decky, Bounties::Service, Bounties::SrcIp],
            Bounties::Ts,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(IngestCursors::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(IngestCursors::ContainerId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(IngestCursors::HostUuid).string().not_null())
                    .col(ColumnDef::new(IngestCursors::Decky).string().not_null())
                    .col(ColumnDef::new(IngestCursors::Service).string().not_null())
                    .col(ColumnDef::new(IngestCursors::Boot).integer().not_null())
                    .col(
                        ColumnDef::new(IngestCursors::LastSeq)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IngestCursors::LastLogTs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ts(&mut ColumnDef::new(IngestCursors::UpdatedAt)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ingest_cursors_host")
                    .table(IngestCursors::Table)
                    .col(IngestCursors::HostUuid)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IngestCursors::Table.into_iden(),
            Bounties::Table.into_iden(),
            Attackers::Table.into_iden(),
            Credentials::Table.into_iden(),
            Logs::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
