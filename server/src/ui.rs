//! The server's side of the console's server functions: [`app::backend::Backend`] implemented
//! with the same services and the same authorisation path as the REST API.

use std::net::SocketAddr;
use std::sync::Arc;

use app::backend::{Backend, Failure};
use axum::extract::ConnectInfo;
use decnet_common::dto::{ChangePasswordResponse, LoginResponse, Me};
use http::request::Parts;

use crate::auth::{session_cookie, token_from_headers, Need, Principal};
use crate::error::ApiError;
use crate::state::Core;

pub struct UiBackend(pub Arc<Core>);

fn failure(e: ApiError) -> Failure {
    if e.status.is_server_error() {
        // Log it through the one place that does, and keep the detail generic.
        let _ = axum::response::IntoResponse::into_response(e);
        return Failure { status: 500, detail: "Internal Server Error".into() };
    }
    Failure { status: e.status.as_u16(), detail: e.detail }
}

impl UiBackend {
    async fn principal(&self, req: &Parts, need: Need) -> Result<Principal, Failure> {
        let token = token_from_headers(&req.headers);
        self.0.auth.require(token.as_deref(), need).await.map_err(failure)
    }
}

#[async_trait::async_trait]
impl Backend for UiBackend {
    async fn me(&self, req: &Parts) -> Result<Me, Failure> {
        Ok(self.principal(req, Need::AnyUser).await?.me())
    }

    async fn login(&self, req: &Parts, username: String, password: String) -> Result<LoginResponse, Failure> {
        let ip = req.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        self.0.auth.login(&username, &password, ip).await.map_err(failure)
    }

    async fn change_password(
        &self,
        req: &Parts,
        old_password: String,
        new_password: String,
    ) -> Result<ChangePasswordResponse, Failure> {
        let p = self.principal(req, Need::AnyUser).await?;
        self.0.auth.change_password(&p, &old_password, &new_password).await.map_err(failure)
    }

    async fn logout(&self, req: &Parts) -> Result<(), Failure> {
        let p = self.principal(req, Need::AnyUser).await?;
        self.0.auth.logout(&p).await.map_err(failure)
    }

    fn session_cookie(&self, token: &str) -> String {
        session_cookie(token, self.0.cookie_secure)
    }
}
