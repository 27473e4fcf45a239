use decnet_common::dto::Role;
use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::layout::use_me;

#[component]
pub fn FleetPage() -> impl IntoView {
    let admin = use_me().is_some_and(|m| m.role == Role::Admin);
    view! {
        <section class="page" id="fleet-page">
            <h1>"Fleet"</h1>
            <div class="empty-state">
                <p>"No deckies yet."</p>
                {if admin {
                    view! {
                        <p>
                            <A href="/deploy">"Deploy your first deckies"</A>
                            " to put fake machines on the decoy LAN."
                        </p>
                    }
                        .into_any()
                } else {
                    view! { <p class="muted">"An admin can deploy deckies from the Deploy page."</p> }
                        .into_any()
                }}
            </div>
        </section>
    }
}
