//! `/deckies/*` and the event stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use decnet_common::dto::LifecycleResponse;
use futures_util::{Stream, StreamExt};
use serde_json::Value;

use super::extract::{Admin, JsonBytes, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::fleet::MAX_LIFECYCLE_IDS;
use crate::state::AppState;

const SCHEMA_VIOLATION: &str =
    "Bad Request: Schema structural violation (wrong type, extra fields, or invalid length).";
const INVALID_INI: &str = "Invalid INI config";

/// `{ini_content, replace_fleet?}` with the exact answers of SPEC 2.1 for each way it can
/// be wrong.
fn parse_deploy_body(bytes: &[u8]) -> ApiResult<(String, bool)> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|_| ApiError::unprocessable(INVALID_INI))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request(SCHEMA_VIOLATION))?;
    if obj
        .keys()
        .any(|k| k != "ini_content" && k != "replace_fleet")
    {
        return Err(ApiError::bad_request(SCHEMA_VIOLATION));
    }
    let ini = obj
        .get("ini_content")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request(SCHEMA_VIOLATION))?;
    let replace = match obj.get("replace_fleet") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::unprocessable(INVALID_INI)),
    };
    Ok((ini.to_owned(), replace))
}

pub async fn deploy(
    State(state): State<AppState>,
    _: Admin,
    JsonBytes(body): JsonBytes,
) -> ApiResult<impl IntoResponse> {
    let (ini, replace) = parse_deploy_body(&body)?;
    let resp = state.core.fleet.deploy(&ini, replace).await?;
    Ok((StatusCode::ACCEPTED, Json(resp)))
}

/// `?ids=a&ids=b` (repeated keys, 1..=200).
pub async fn lifecycle(
    State(state): State<AppState>,
    _: Viewer,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<LifecycleResponse>> {
    let ids: Vec<String> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "ids")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
        .collect();
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "At least one lifecycle id is required (?ids=...)",
        ));
    }
    if ids.len() > MAX_LIFECYCLE_IDS {
        return Err(ApiError::unprocessable(format!(
            "At most {MAX_LIFECYCLE_IDS} lifecycle ids per request"
        )));
    }
    Ok(Json(LifecycleResponse {
        rows: state.core.fleet.lifecycle(&ids).await?,
    }))
}

pub async fn list(State(state): State<AppState>, _: Viewer) -> ApiResult<impl IntoResponse> {
    Ok(Json(state.core.fleet.list().await?))
}

pub async fn history(
    State(state): State<AppState>,
    _: Viewer,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(LifecycleResponse {
        rows: state.core.fleet.history(&name, 100).await?,
    }))
}

pub async fn teardown(
    State(state): State<AppState>,
    _: Admin,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let resp = state.core.fleet.teardown(&name).await?;
    Ok((StatusCode::ACCEPTED, Json(resp)))
}

pub async fn redeploy(
    State(state): State<AppState>,
    _: Admin,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let resp = state.core.fleet.redeploy(&name).await?;
    Ok((StatusCode::ACCEPTED, Json(resp)))
}

pub async fn mutate(
    State(state): State<AppState>,
    Admin(p): Admin,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let resp = state
        .core
        .mutator
        .mutate(&name, "api", Some(&p.username))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(resp)))
}

/// `{mutate_interval: "30m" | null}`: 400 for a non-string, 422 for a bad pattern.
pub async fn mutate_interval(
    State(state): State<AppState>,
    _: Admin,
    Path(name): Path<String>,
    JsonBytes(body): JsonBytes,
) -> ApiResult<impl IntoResponse> {
    let v: Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::unprocessable("Invalid JSON body"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("Body must be an object {mutate_interval}"))?;
    if obj.keys().any(|k| k != "mutate_interval") {
        return Err(ApiError::bad_request(
            "Unknown field; expected only mutate_interval",
        ));
    }
    let interval = match obj.get("mutate_interval") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(decnet_common::interval::MutateInterval::parse(s).map_err(
            |_| {
                ApiError::unprocessable(
                    "mutate_interval must match ^[1-9]\\d*[mdMyY]$ (e.g. 30m, 2d) or be null",
                )
            },
        )?),
        Some(_) => {
            return Err(ApiError::bad_request(
                "mutate_interval must be a string or null",
            ))
        }
    };
    state.core.mutator.set_interval(&name, interval).await?;
    Ok(Json(decnet_common::dto::MessageResponse {
        message: "Mutation interval updated".into(),
    }))
}

pub async fn mutations(
    State(state): State<AppState>,
    _: Viewer,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(state.core.mutator.history(&name, 100).await?))
}

/// Server-sent events: every bus event as `event: <topic>` with a JSON `data` line.
pub async fn stream(
    State(state): State<AppState>,
    _: Viewer,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.core.bus.subscribe();
    let events = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|msg| async move {
        // A lagging client skips what it missed; the lifecycle endpoint has the truth.
        let ev = msg.ok()?;
        Some(Ok(Event::default()
            .event(ev.topic)
            .data(ev.payload.to_string())))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(body: &str) -> u16 {
        parse_deploy_body(body.as_bytes())
            .err()
            .map(|e| e.status.as_u16())
            .unwrap_or(200)
    }

    #[test]
    fn deploy_body_errors_follow_the_spec() {
        assert_eq!(status(r#"{"ini_content":"[a]"}"#), 200);
        assert_eq!(status(r#"{"ini_content":"[a]","replace_fleet":true}"#), 200);
        assert_eq!(status(r#"{}"#), 400);
        assert_eq!(status(r#"{"ini_content":5}"#), 400);
        assert_eq!(status(r#"{"ini_content":"x","other":1}"#), 400);
        assert_eq!(status(r#"[]"#), 400);
        assert_eq!(status(r#"{"ini_content":"x","replace_fleet":"yes"}"#), 422);
        assert_eq!(status(r#"{not json"#), 422);
    }
}
