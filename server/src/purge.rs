//! Purging captured data by scope: everything, older than N days, or one decky. Deletes run
//! in small batches, each its own short transaction, so a million-row purge never holds the
//! database for long and the API and runner keep going. Fleet, lifecycle rows, users,
//! settings and the audit trail are never touched.

use chrono::Utc;
use decnet_common::dto::CapturedCounts;
use decnet_common::name::DeckyName;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter,
};
use serde::{Deserialize, Serialize};

use crate::entities::{attacker, bounty, credential, log};

const BATCH: u64 = 20_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case", deny_unknown_fields)]
pub enum PurgeScope {
    All,
    OlderThan { days: u32 },
    Decky { decky: DeckyName },
}

struct Conds {
    logs: Condition,
    credentials: Condition,
    bounties: Condition,
    attackers: Condition,
}

fn conds(scope: &PurgeScope) -> Conds {
    match scope {
        PurgeScope::All => Conds {
            logs: Condition::all(),
            credentials: Condition::all(),
            bounties: Condition::all(),
            attackers: Condition::all(),
        },
        PurgeScope::OlderThan { days } => {
            let cutoff = Utc::now() - chrono::Duration::days(i64::from(*days));
            Conds {
                logs: Condition::all().add(log::Column::ReceivedAt.lt(cutoff)),
                credentials: Condition::all().add(credential::Column::Ts.lt(cutoff)),
                bounties: Condition::all().add(bounty::Column::Ts.lt(cutoff)),
                // An attacker goes once nothing of them is newer than the cutoff.
                attackers: Condition::all().add(attacker::Column::LastSeen.lt(cutoff)),
            }
        }
        PurgeScope::Decky { decky } => {
            let d = decky.as_str().to_owned();
            Conds {
                logs: Condition::all().add(log::Column::Decky.eq(d.clone())),
                credentials: Condition::all().add(credential::Column::Decky.eq(d.clone())),
                bounties: Condition::all().add(bounty::Column::Decky.eq(d.clone())),
                // Only attackers seen by this decky alone; others keep their (shared) row.
                attackers: Condition::all()
                    .add(attacker::Column::Deckies.eq(format!("[{}]", serde_json::json!(d)))),
            }
        }
    }
}

/// What a purge of `scope` would delete.
pub async fn preview(db: &DatabaseConnection, scope: &PurgeScope) -> Result<CapturedCounts, DbErr> {
    let c = conds(scope);
    Ok(CapturedCounts {
        logs: log::Entity::find().filter(c.logs).count(db).await?,
        bounties: bounty::Entity::find().filter(c.bounties).count(db).await?,
        credentials: credential::Entity::find()
            .filter(c.credentials)
            .count(db)
            .await?,
        attackers: attacker::Entity::find()
            .filter(c.attackers)
            .count(db)
            .await?,
    })
}

/// Deletes rows matching `cond` in batches of [`BATCH`], each one statement
/// (`DELETE ... WHERE pk IN (SELECT pk ... LIMIT n)`) in its own implicit transaction.
async fn batched_delete<E>(
    db: &DatabaseConnection,
    pk: E::Column,
    cond: Condition,
) -> Result<u64, DbErr>
where
    E: EntityTrait,
{
    let mut total = 0u64;
    loop {
        let batch = Query::select()
            .column(pk)
            .from(E::default())
            .cond_where(cond.clone())
            .limit(BATCH)
            .to_owned();
        let stmt = Query::delete()
            .from_table(E::default())
            .and_where(Expr::col(pk).in_subquery(batch))
            .to_owned();
        let n = db.execute(&stmt).await?.rows_affected();
        total += n;
        if n < BATCH {
            return Ok(total);
        }
        // Let the API and the runner in between batches.
        tokio::task::yield_now().await;
    }
}

/// Deletes `scope`'s captured data and returns what each table lost. Everything goes with
/// one unconditional delete per table (SQLite truncates); narrower scopes go in batches.
pub async fn purge(db: &DatabaseConnection, scope: &PurgeScope) -> Result<CapturedCounts, DbErr> {
    if *scope == PurgeScope::All {
        return crate::captured::CapturedService::new(db.clone())
            .purge_all()
            .await;
    }
    let c = conds(scope);
    // Dependants first: credentials and bounties point at log rows.
    let credentials =
        batched_delete::<credential::Entity>(db, credential::Column::Id, c.credentials).await?;
    let bounties = batched_delete::<bounty::Entity>(db, bounty::Column::Id, c.bounties).await?;
    let logs = batched_delete::<log::Entity>(db, log::Column::Id, c.logs).await?;
    let attackers =
        batched_delete::<attacker::Entity>(db, attacker::Column::SrcIp, c.attackers).await?;
    Ok(CapturedCounts {
        logs,
        bounties,
        credentials,
        attackers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_from_json() {
        let all: PurgeScope = serde_json::from_str(r#"{"scope":"all"}"#).unwrap();
        assert_eq!(all, PurgeScope::All);
        let old: PurgeScope = serde_json::from_str(r#"{"scope":"older_than","days":7}"#).unwrap();
        assert_eq!(old, PurgeScope::OlderThan { days: 7 });
        let one: PurgeScope =
            serde_json::from_str(r#"{"scope":"decky","decky":"web-01"}"#).unwrap();
        assert!(matches!(one, PurgeScope::Decky { .. }));
        assert!(
            serde_json::from_str::<PurgeScope>(r#"{"scope":"decky","decky":"Bad Name"}"#).is_err()
        );
        assert!(serde_json::from_str::<PurgeScope>(r#"{"scope":"everything"}"#).is_err());
    }
}
