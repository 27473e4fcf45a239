//! The decnet server: REST API under `/api/v1`, the Leptos console (SSR + server
//! functions), auth, and (in later modules) the lifecycle runner, the Docker driver and ingest.

pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod entities;
pub mod error;
pub mod health;
pub mod settings;
pub mod startup;
pub mod state;
pub mod ui;

pub use config::ServeConfig;
pub use startup::{build, Server};
