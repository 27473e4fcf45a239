//! Extractors: who is calling (checked before the body is read) and strict JSON bodies.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::auth::{token_from_headers, Need, Principal};
use crate::error::ApiError;
use crate::state::AppState;

async fn principal(parts: &Parts, state: &AppState, need: Need) -> Result<Principal, ApiError> {
    let token = token_from_headers(&parts.headers);
    state.core.auth.require(token.as_deref(), need).await
}

/// Any signed-in user, including one who must still change their password.
pub struct AnyUser(pub Principal);
/// A viewer or an admin whose password is settled.
pub struct Viewer(pub Principal);
/// An admin whose password is settled.
pub struct Admin(pub Principal);

macro_rules! principal_extractor {
    ($t:ident, $need:expr) => {
        impl FromRequestParts<AppState> for $t {
            type Rejection = ApiError;
            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, ApiError> {
                principal(parts, state, $need).await.map($t)
            }
        }
    };
}
principal_extractor!(AnyUser, Need::AnyUser);
principal_extractor!(Viewer, Need::Viewer);
principal_extractor!(Admin, Need::Admin);

/// The peer address (no proxy headers are trusted).
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// The raw body of a request that must be JSON: 415 for another content type.
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type: send the body as application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
            } else {
                ApiError::bad_request("Could not read the request body")
            }
        })?;
        Ok(JsonBytes(bytes))
    }
}

/// A JSON body parsed into `T` (which denies unknown fields): 415 / 422 with a clear message.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| {
            ApiError::unprocessable(format!("Invalid request body: {}", json_error(&e)))
        })
    }
}

/// serde_json's message without echoing long input back.
fn json_error(e: &serde_json::Error) -> String {
    let mut msg = e.to_string();
    if msg.len() > 200 {
        let mut cut = 200;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
        msg.push('…');
    }
    msg
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("Not Found")
}
