//! `/archetypes`, `/services`, `/distros`: the catalogue (only implemented services).

use axum::Json;
use decnet_common::catalogue::{self, Archetype, Distro, Service};

use super::extract::Viewer;

pub async fn archetypes(_: Viewer) -> Json<&'static [Archetype]> {
    Json(catalogue::archetypes())
}

pub async fn services(_: Viewer) -> Json<Vec<&'static Service>> {
    Json(catalogue::services().collect())
}

pub async fn distros(_: Viewer) -> Json<&'static [Distro]> {
    Json(catalogue::distros())
}
