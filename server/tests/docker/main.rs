//! Tests against the real Docker engine (started by `make test`) with the real decoy image.
//! Each test's server owns its containers through its host uuid and a subnet of its own.

#[path = "../support/engine_cleanup.rs"]
#[allow(dead_code)]
mod engine_cleanup;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod support;

mod capture;
mod clients;
mod deploy;
mod mutate;
mod resilience;
