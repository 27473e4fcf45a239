//! One API error type, mapped to a status and a `{"detail": ...}` body in one place.
//!
//! The client sees a clean message; the internal cause (if any) is logged. Anything unexpected
//! becomes a 500 with an `error_id` that is also in the log, and nothing else.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use decnet_common::dto::ErrorBody;

pub const CREDENTIALS_INVALID: &str = "Could not validate credentials";
pub const INSUFFICIENT_PERMISSIONS: &str = "Insufficient permissions";
pub const PASSWORD_CHANGE_REQUIRED: &str =
    "Password change required before accessing this resource";

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    /// Logged, never sent.
    cause: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            cause: None,
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, CREDENTIALS_INVALID)
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, INSUFFICIENT_PERMISSIONS)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    /// An unexpected failure: the cause goes to the log only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            detail: "Internal Server Error".into(),
            cause: Some(cause.to_string()),
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::internal(format!("database: {e}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.detail)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = ErrorBody {
            detail: self.detail,
            error_id: None,
        };
        if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            let id = uuid::Uuid::new_v4().to_string();
            tracing::error!(error_id = %id, cause = self.cause.as_deref().unwrap_or(""), "internal error");
            body.error_id = Some(id);
        }
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
