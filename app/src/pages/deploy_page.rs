use leptos::prelude::*;

#[component]
pub fn DeployPage() -> impl IntoView {
    view! {
        <section class="page" id="deploy-page">
            <h1>"Deploy"</h1>
            <p class="muted">"Describe a fleet of fake machines and deploy it."</p>
        </section>
    }
}
