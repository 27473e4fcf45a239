//! The fleet: every decky with its state, identity and services; live while operations run;
//! admin actions (teardown with a two-step confirm, retry) only for admins.

use decnet_common::dto::{DeckyDto, Role};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::layout::use_me;
use crate::serverfns::error_text;
use crate::serverfns::fleet::{list_deckies, mutate_decky, redeploy_decky, teardown_decky};

/// A state as symbol + words (never colour alone).
pub fn state_label(d: &DeckyDto) -> String {
    let stage = d
        .last_operation
        .as_ref()
        .filter(|o| !o.status.is_terminal())
        .and_then(|o| o.stage)
        .map(|s| format!(" · {}", s.as_str()))
        .unwrap_or_default();
    let (sym, word) = match d.state.as_str() {
        "running" => ("✓", "running"),
        "failed" => ("✗", "failed"),
        "deploying" => ("▶", "deploying"),
        "mutating" => ("▶", "mutating"),
        "tearing_down" => ("▶", "tearing down"),
        "teardown_failed" => ("✗", "teardown failed"),
        other => ("◌", other),
    };
    format!("{sym} {word}{stage}")
}

pub fn interval_label(m: Option<u32>) -> String {
    match m {
        None => "off".into(),
        Some(m) if m % 1440 == 0 => format!("{} d", m / 1440),
        Some(m) if m % 60 == 0 => format!("{} h", m / 60),
        Some(m) => format!("{m} min"),
    }
}

/// `2026-11-29T06:42:01.123Z` -> `2026-11-29 06:42`; `—` for none.
pub fn short_time(t: Option<&str>) -> String {
    match t {
        Some(t) if t.len() >= 16 => format!("{} {}", &t[..10], &t[11..16]),
        Some(t) => t.to_owned(),
        None => "—".into(),
    }
}

#[component]
pub fn FleetPage() -> impl IntoView {
    let admin = use_me().is_some_and(|m| m.role == Role::Admin);
    let deckies = Resource::new(|| (), |_| list_deckies());
    let action_error: RwSignal<Option<String>> = RwSignal::new(None);
    // Live: refetch every 2 s while the page is open (client only).
    #[cfg(feature = "hydrate")]
    {
        let alive = RwSignal::new(());
        leptos::task::spawn_local(async move {
            loop {
                gloo_timers::future::TimeoutFuture::new(2000).await;
                if alive.try_get_untracked().is_none() {
                    return;
                }
                deckies.refetch();
            }
        });
    }
    view! {
        <section class="page" id="fleet-page">
            <h1>"Fleet"</h1>
            {move || action_error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <Transition fallback=|| view! { <p class="muted">"Loading the fleet…"</p> }>
                {move || Suspend::new(async move {
                    match deckies.await {
                        Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <EmptyFleet admin /> }.into_any(),
                        Ok(list) => view! { <FleetTable list admin deckies action_error /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn EmptyFleet(admin: bool) -> impl IntoView {
    view! {
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
                view! { <p class="muted">"An admin can deploy deckies from the Deploy page."</p> }.into_any()
            }}
        </div>
    }
}

#[component]
fn FleetTable(
    list: Vec<DeckyDto>,
    admin: bool,
    deckies: Resource<Result<Vec<DeckyDto>, ServerFnError>>,
    action_error: RwSignal<Option<String>>,
) -> impl IntoView {
    view! {
        <table class="grid" id="fleet-table">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"State"</th>
                    <th scope="col">"IP"</th>
                    <th scope="col">"Hostname"</th>
                    <th scope="col">"Distro"</th>
                    <th scope="col">"Archetype"</th>
                    <th scope="col">"Services"</th>
                    <th scope="col">"Mutation"</th>
                    <th scope="col">"Last mutated"</th>
                    <th scope="col">"Next"</th>
                    {admin.then(|| view! { <th scope="col">"Actions"</th> })}
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|d| {
                        let name = d.name.clone();
                        let href = format!("/deckies/{name}");
                        let label = name.clone();
                        let err = d.last_operation.as_ref().and_then(|o| o.error.clone()).unwrap_or_default();
                        view! {
                            <tr data-decky=name>
                                <td><A href=href>{label}</A></td>
                                <td class=format!("state {}", d.state) title=err>{state_label(&d)}</td>
                                <td class="mono">{d.ip.clone()}</td>
                                <td class="mono">{d.hostname.clone()}</td>
                                <td>{d.distro.clone()}</td>
                                <td>{d.archetype.clone().unwrap_or_else(|| "—".into())}</td>
                                <td>{d.services.join(", ")}</td>
                                <td>{interval_label(d.mutate_interval)}</td>
                                <td class="mono">{short_time(d.last_mutated.as_deref())}</td>
                                <td class="mono">{short_time(d.next_mutation.as_deref())}</td>
                                {admin.then(|| view! { <td><Actions d=d.clone() deckies action_error /></td> })}
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Actions(
    d: DeckyDto,
    deckies: Resource<Result<Vec<DeckyDto>, ServerFnError>>,
    action_error: RwSignal<Option<String>>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let name = d.name.clone();
    let teardown = Action::new_local(move |name: &String| {
        let name = name.clone();
        async move {
            match teardown_decky(name).await {
                Ok(_) => deckies.refetch(),
                Err(e) => action_error.set(Some(error_text(&e))),
            }
        }
    });
    let retry = Action::new_local(move |name: &String| {
        let name = name.clone();
        async move {
            match redeploy_decky(name).await {
                Ok(_) => deckies.refetch(),
                Err(e) => action_error.set(Some(error_text(&e))),
            }
        }
    });
    let mutate = Action::new_local(move |name: &String| {
        let name = name.clone();
        async move {
            match mutate_decky(name).await {
                Ok(_) => deckies.refetch(),
                Err(e) => action_error.set(Some(error_text(&e))),
            }
        }
    });
    let busy = matches!(d.state.as_str(), "deploying" | "mutating" | "tearing_down");
    let failed = d.state == "failed";
    let (n1, n2, n3, n4) = (name.clone(), name.clone(), name.clone(), name.clone());
    view! {
        <span class="actions">
            <button class="small" disabled=busy aria-label=format!("Mutate {n4} now") on:click={
                let n = n4.clone();
                move |_| { mutate.dispatch(n.clone()); }
            }>"Mutate now"</button>
            {failed.then(|| view! { <button class="small" on:click=move |_| { retry.dispatch(n3.clone()); }>"Retry"</button> })}
            {move || {
                if confirming.get() {
                    let n = n1.clone();
                    view! {
                        <span class="confirm">
                            <button class="small danger" aria-label=format!("Confirm teardown of {n}") on:click={
                                let n = n.clone();
                                move |_| {
                                    confirming.set(false);
                                    teardown.dispatch(n.clone());
                                }
                            }>"Confirm teardown"</button>
                            <button class="small" on:click=move |_| confirming.set(false)>"Cancel"</button>
                        </span>
                    }
                        .into_any()
                } else {
                    view! {
                        <button class="small" disabled=busy aria-label=format!("Tear down {}", n2) on:click=move |_| confirming.set(true)>
                            "Teardown"
                        </button>
                    }
                        .into_any()
                }
            }}
        </span>
    }
}
