//! API tests: the real server on a random port, a fresh SQLite file per test, plain HTTP.

mod auth;
mod capture_seed;
mod captured;
mod config;
mod deploy;
mod fake_engine;
mod helpers;
mod mutate;
mod purge;
