//! The decnet console: routes, pages, components and server functions (Leptos 0.8).
//!
//! Server functions are thin: they find the caller's token and call the [`backend::Backend`]
//! the server provides, which runs the same authorisation and service code as the REST API.

#![recursion_limit = "256"]

#[cfg(feature = "ssr")]
pub mod backend;
pub mod backend_types;
pub mod components;
pub mod pages;
pub mod serverfns;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, Lazy};

use components::layout::Layout;
use pages::lazy::{AdminRoute, CapturedRoute, DeckyRoute, DeployRoute};
use pages::{
    change_password_page::ChangePasswordPage, fleet_page::FleetPage, login_page::LoginPage,
};

/// The HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="decnet" href="/pkg/decnet.css" />
        <Title text="decnet" />
        <Router>
            <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                <Route path=path!("/login") view=LoginPage />
                <Route path=path!("/change-password") view=ChangePasswordPage />
                <ParentRoute path=path!("") view=Layout>
                    <Route path=path!("") view=FleetPage />
                    // Split into chunks of their own (pages::lazy).
                    <Route path=path!("/deploy") view={Lazy::<DeployRoute>::new()} />
                    <Route path=path!("/deckies/:name") view={Lazy::<DeckyRoute>::new()} />
                    <Route path=path!("/captured") view={Lazy::<CapturedRoute>::new()} />
                    <Route path=path!("/admin") view={Lazy::<AdminRoute>::new()} />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
