//! Sign-in, the forced password change, sign-out and who-am-I.

use decnet_common::dto::Me;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ssr::{ctx, fail, set_cookie};

/// The signed-in user, or `None` when the session is missing, expired or revoked.
#[server]
pub async fn get_me() -> Result<Option<Me>, ServerFnError> {
    let (backend, parts) = ctx()?;
    match backend.me(&parts).await {
        Ok(me) => Ok(Some(me)),
        Err(f) if f.status == 401 => Ok(None),
        Err(f) => Err(fail(f)),
    }
}

#[server]
pub async fn login(username: String, password: String) -> Result<(), ServerFnError> {
    let (backend, parts) = ctx()?;
    let resp = backend
        .login(&parts, username, password)
        .await
        .map_err(fail)?;
    set_cookie(&backend.session_cookie(&resp.access_token));
    leptos_axum::redirect(if resp.must_change_password {
        "/change-password"
    } else {
        "/"
    });
    Ok(())
}

#[server]
pub async fn change_password(
    old_password: String,
    new_password: String,
    confirm_password: String,
) -> Result<(), ServerFnError> {
    if new_password != confirm_password {
        return Err(ServerFnError::ServerError(
            "The two new passwords differ".into(),
        ));
    }
    let (backend, parts) = ctx()?;
    let resp = backend
        .change_password(&parts, old_password, new_password)
        .await
        .map_err(fail)?;
    set_cookie(&backend.session_cookie(&resp.access_token));
    leptos_axum::redirect("/");
    Ok(())
}

#[server]
pub async fn logout() -> Result<(), ServerFnError> {
    let (backend, parts) = ctx()?;
    // A session that is already gone is as good as a revoked one.
    let _ = backend.logout(&parts).await;
    set_cookie(&backend.session_cookie(""));
    leptos_axum::redirect("/login");
    Ok(())
}
