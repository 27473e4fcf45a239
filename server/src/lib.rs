//! The decnet server: REST API under `/api/v1`, the Leptos console (SSR + server
//! functions), auth, and (in later modules) the lifecycle runner, the Docker driver and ingest.

pub mod api;
pub mod audit;
pub mod auth;
pub mod bus;
pub mod captured;
pub mod cli;
pub mod config;
pub mod db;
pub mod engine;
pub mod entities;
pub mod error;
pub mod fleet;
pub mod health;
pub mod ingest;
pub mod lifecycle;
pub mod mutation;
pub mod priority;
pub mod purge;
pub mod runner;
pub mod settings;
pub mod startup;
pub mod state;
pub mod ui;
pub mod watch;

pub use config::ServeConfig;
pub use startup::{build, build_with_engine, Server};
