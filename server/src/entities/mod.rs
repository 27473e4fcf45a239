//! SeaORM entities, one module per table (the schema itself lives in `migrations`).

pub mod attacker;
pub mod audit;
pub mod bounty;
pub mod credential;
pub mod decky;
pub mod ingest_cursor;
pub mod lifecycle;
pub mod log;
pub mod mutation;
pub mod revoked_token;
pub mod setting;
pub mod user;
