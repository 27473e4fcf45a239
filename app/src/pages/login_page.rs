use leptos::prelude::*;

use crate::serverfns::auth::Login;
use crate::serverfns::error_text;

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<Login>::new();
    let error = move || {
        action
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| error_text(&e))
    };
    view! {
        <main class="auth-page">
            <ActionForm action=action attr:class="auth-card" attr:id="login-form">
                <h1>"decnet"</h1>
                <p class="muted">"Sign in to the deception network console."</p>
                <label for="username">"Username"</label>
                <input id="username" name="username" type="text" autocomplete="username" required />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                />
                <button type="submit" class="primary">"Sign in"</button>
                <p class="error" role="alert">{error}</p>
            </ActionForm>
        </main>
    }
}
