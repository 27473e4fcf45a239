//! The signed-in frame: resolves the session, enforces the forced password change, and
//! draws the navigation (admin entries only for admins) around the page.

use decnet_common::dto::{Me, Role};
use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect, A};

use crate::serverfns::auth::{get_me, Logout};
use crate::serverfns::error_text;

#[component]
pub fn Layout() -> impl IntoView {
    let me = Resource::new(|| (), |_| get_me());
    // Effects run only in the browser: this flips once the page has hydrated, which tests
    // (and curious operators) can see on the root element.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <div class="app" data-hydrated=move || hydrated.get().to_string()>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(Some(me)) if me.must_change_password => {
                            view! { <Redirect path="/change-password" /> }.into_any()
                        }
                        Ok(Some(me)) => {
                            provide_context(me.clone());
                            view! {
                                <Nav me />
                                <main class="content">
                                    <Outlet />
                                </main>
                            }
                                .into_any()
                        }
                        Ok(None) => view! { <Redirect path="/login" /> }.into_any(),
                        Err(e) => {
                            view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
}

#[component]
fn Nav(me: Me) -> impl IntoView {
    let admin = me.role == Role::Admin;
    let logout = ServerAction::<Logout>::new();
    view! {
        <header class="topbar">
            <span class="brand">"decnet"</span>
            <nav aria-label="Main">
                <A href="/" exact=true>"Fleet"</A>
                {admin.then(|| view! { <A href="/deploy">"Deploy"</A> })}
                <A href="/captured">"Captured data"</A>
                {admin.then(|| view! { <A href="/admin">"Admin"</A> })}
            </nav>
            <span class="who">
                <span class="username">{me.username.clone()}</span>
                <span class="role-badge">{me.role.as_str()}</span>
                <ActionForm action=logout attr:class="inline">
                    <button type="submit" class="link">"Sign out"</button>
                </ActionForm>
            </span>
        </header>
    }
}

/// The signed-in user, provided by [`Layout`] to every page inside it.
pub fn use_me() -> Option<Me> {
    use_context::<Me>()
}
