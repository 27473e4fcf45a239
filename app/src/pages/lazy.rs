//! The pages that are rarely the first one a browser opens, each split out of the main WASM
//! bundle into a chunk of its own that loads when the route is first entered (Leptos
//! `#[lazy_route]`; `cargo run -p xtask -- site` does the splitting). On the server nothing is
//! split: the same view renders in place, and the response preloads the chunk it needs.
//!
//! The login, layout and fleet pages stay in the main bundle.

use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

use crate::pages::{
    admin_page::AdminPage, captured_page::CapturedPage, decky_page::DeckyPage,
    deploy_page::DeployPage,
};

/// `/deploy`: the wizard, the INI editor and the INI parser/planner behind them.
pub struct DeployRoute;

#[lazy_route]
impl LazyRoute for DeployRoute {
    fn data() -> Self {
        DeployRoute
    }

    fn view(this: Self) -> AnyView {
        let DeployRoute = this;
        view! { <DeployPage /> }.into_any()
    }
}

/// `/admin`: settings, users, purge and the audit trail.
pub struct AdminRoute;

#[lazy_route]
impl LazyRoute for AdminRoute {
    fn data() -> Self {
        AdminRoute
    }

    fn view(this: Self) -> AnyView {
        let AdminRoute = this;
        view! { <AdminPage /> }.into_any()
    }
}

/// `/captured`: credentials, attackers and events.
pub struct CapturedRoute;

#[lazy_route]
impl LazyRoute for CapturedRoute {
    fn data() -> Self {
        CapturedRoute
    }

    fn view(this: Self) -> AnyView {
        let CapturedRoute = this;
        view! { <CapturedPage /> }.into_any()
    }
}

/// `/deckies/:name`: one decky's identity, history and mutation controls.
pub struct DeckyRoute;

#[lazy_route]
impl LazyRoute for DeckyRoute {
    fn data() -> Self {
        DeckyRoute
    }

    fn view(this: Self) -> AnyView {
        let DeckyRoute = this;
        view! { <DeckyPage /> }.into_any()
    }
}
