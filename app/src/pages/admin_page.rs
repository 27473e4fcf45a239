use decnet_common::dto::Role;
use leptos::prelude::*;

use crate::components::layout::use_me;

#[component]
pub fn AdminPage() -> impl IntoView {
    let admin = use_me().is_some_and(|m| m.role == Role::Admin);
    view! {
        <section class="page" id="admin-page">
            <h1>"Admin"</h1>
            {if admin {
                view! { <p class="muted">"Users, settings and purging captured data."</p> }.into_any()
            } else {
                view! { <p class="error" role="alert">"Insufficient permissions"</p> }.into_any()
            }}
        </section>
    }
}
