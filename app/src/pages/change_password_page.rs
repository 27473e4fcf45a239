use decnet_common::dto::password_weakness;
use leptos::prelude::*;

use crate::serverfns::auth::ChangePassword;
use crate::serverfns::error_text;

#[component]
pub fn ChangePasswordPage() -> impl IntoView {
    let action = ServerAction::<ChangePassword>::new();
    let new_pw = RwSignal::new(String::new());
    // Same policy as the server, so the operator learns before submitting.
    let hint = move || {
        let pw = new_pw.get();
        (!pw.is_empty())
            .then(|| password_weakness("", &pw))
            .flatten()
    };
    let error = move || {
        action
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| error_text(&e))
    };
    view! {
        <main class="auth-page">
            <ActionForm action=action attr:class="auth-card" attr:id="change-password-form">
                <h1>"Choose a new password"</h1>
                <p class="muted">
                    "Your password must be changed before you can use the console. "
                    "Use at least 12 characters."
                </p>
                <label for="old_password">"Current password"</label>
                <input
                    id="old_password"
                    name="old_password"
                    type="password"
                    autocomplete="current-password"
                    required
                />
                <label for="new_password">"New password"</label>
                <input
                    id="new_password"
                    name="new_password"
                    type="password"
                    autocomplete="new-password"
                    required
                    on:input=move |ev| new_pw.set(event_target_value(&ev))
                />
                <p class="hint" aria-live="polite">{hint}</p>
                <label for="confirm_password">"Repeat the new password"</label>
                <input
                    id="confirm_password"
                    name="confirm_password"
                    type="password"
                    autocomplete="new-password"
                    required
                />
                <button type="submit" class="primary">"Change password"</button>
                <p class="error" role="alert">{error}</p>
            </ActionForm>
        </main>
    }
}
