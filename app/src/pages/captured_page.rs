use leptos::prelude::*;

#[component]
pub fn CapturedPage() -> impl IntoView {
    view! {
        <section class="page" id="captured-page">
            <h1>"Captured data"</h1>
            <p class="muted">"Nothing captured yet."</p>
        </section>
    }
}
