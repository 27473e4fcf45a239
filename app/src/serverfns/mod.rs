//! Server functions, grouped by domain.

pub mod admin;
pub mod auth;
pub mod captured;
pub mod fleet;

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use leptos::prelude::*;

    use crate::backend::{Failure, SharedBackend};

    /// The backend and the current request's head.
    pub fn ctx() -> Result<(SharedBackend, http::request::Parts), ServerFnError> {
        let backend =
            use_context::<SharedBackend>().ok_or_else(|| ServerFnError::new("backend missing"))?;
        let parts = use_context::<http::request::Parts>()
            .ok_or_else(|| ServerFnError::new("request missing"))?;
        Ok((backend, parts))
    }

    pub fn set_cookie(value: &str) {
        if let (Some(opts), Ok(v)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            http::HeaderValue::from_str(value),
        ) {
            opts.append_header(http::header::SET_COOKIE, v);
        }
    }

    pub fn fail(f: Failure) -> ServerFnError {
        if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
            if let Ok(code) = http::StatusCode::from_u16(f.status) {
                opts.set_status(code);
            }
        }
        ServerFnError::ServerError(f.detail)
    }
}

/// The message to show for a failed server function.
pub fn error_text(e: &leptos::prelude::ServerFnError) -> String {
    match e {
        leptos::prelude::ServerFnError::ServerError(m) => m.clone(),
        other => other.to_string(),
    }
}
