//! SeaORM entities, one module per table (the schema itself lives in `migrations`).

pub mod audit;
pub mod decky;
pub mod lifecycle;
pub mod mutation;
pub mod revoked_token;
pub mod setting;
pub mod user;
