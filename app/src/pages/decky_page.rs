//! One decky: its identity, its lifecycle history (newest first), live while it changes.

use decnet_common::dto::DeckyDto;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::components::layout::use_me;
use crate::components::progress::status_label;
use crate::pages::fleet_page::short_time;
use crate::pages::fleet_page::{interval_label, state_label};
use crate::serverfns::error_text;
use crate::serverfns::fleet::{
    decky_history, decky_mutations, list_deckies, mutate_decky, set_mutate_interval,
};

#[component]
pub fn DeckyPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let decky = Resource::new(name, |n| async move {
        list_deckies()
            .await
            .map(|l| l.into_iter().find(|d| d.name == n))
    });
    // The controls' own copy, never refetched: the 2 s refresh below must not rebuild them
    // (that would wipe an unsaved edit and the "Mutation queued" answer).
    let controls = Resource::new(name, |n| async move {
        list_deckies()
            .await
            .map(|l| l.into_iter().find(|d| d.name == n))
    });
    let history = Resource::new(name, decky_history);
    let mutations = Resource::new(name, decky_mutations);
    let activity = Resource::new(name, |n| {
        crate::serverfns::captured::captured_logs(format!("limit=20&decky={n}"))
    });
    let admin = use_me().is_some_and(|m| m.role == decnet_common::dto::Role::Admin);
    #[cfg(feature = "hydrate")]
    {
        let alive = RwSignal::new(());
        leptos::task::spawn_local(async move {
            loop {
                gloo_timers::future::TimeoutFuture::new(2000).await;
                if alive.try_get_untracked().is_none() {
                    return;
                }
                decky.refetch();
                history.refetch();
                mutations.refetch();
                activity.refetch();
            }
        });
    }
    view! {
        <section class="page" id="decky-page">
            <h1>{name}</h1>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match decky.await {
                        Ok(Some(d)) => view! { <Identity d /> }.into_any(),
                        Ok(None) => view! { <p class="muted">"This decky is not in the fleet."</p> }.into_any(),
                        Err(e) => view! { <p class="error">{error_text(&e)}</p> }.into_any(),
                    }
                })}
            </Transition>
            {admin.then(|| view! {
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        controls.await.ok().flatten().map(|d| view! { <MutationControls d decky /> })
                    })}
                </Transition>
            })}
            <h2>"Recent activity"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match activity.await {
                        Ok(p) if p.items.is_empty() => view! { <p class="muted">"Nothing captured on this decky yet."</p> }.into_any(),
                        Ok(p) => view! {
                            <table class="grid" id="activity">
                                <thead><tr><th>"When"</th><th>"Service"</th><th>"Event"</th><th>"Source"</th><th>"Details"</th></tr></thead>
                                <tbody>{p.items.into_iter().map(|l| {
                                    let details = l.raw.clone().unwrap_or_else(|| l.fields.to_string());
                                    view! {
                                        <tr><td class="mono">{short_time(Some(&l.ts))}</td><td>{l.service}</td><td>{l.event.as_str()}</td>
                                        <td class="mono">{l.src_ip.unwrap_or_default()}</td><td class="mono details">{details}</td></tr>
                                    }
                                }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{error_text(&e)}</p> }.into_any(),
                    }
                })}
            </Transition>
            <h2>"Mutation history"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match mutations.await {
                        Ok(rows) if rows.is_empty() => view! { <p class="muted">"Never mutated."</p> }.into_any(),
                        Ok(rows) => view! {
                            <table class="grid" id="mutations">
                                <thead><tr><th>"When"</th><th>"Trigger"</th><th>"By"</th><th>"Before"</th><th>"After"</th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|m| view! {
                                        <tr>
                                            <td class="mono">{short_time(Some(&m.at))}</td>
                                            <td>{m.trigger}</td>
                                            <td>{m.actor.unwrap_or_else(|| "scheduler".into())}</td>
                                            <td>{m.old_services.join(", ")}</td>
                                            <td>{m.new_services.join(", ")}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{error_text(&e)}</p> }.into_any(),
                    }
                })}
            </Transition>
            <h2>"Lifecycle history"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match history.await {
                        Ok(rows) if rows.is_empty() => view! { <p class="muted">"No operations yet."</p> }.into_any(),
                        Ok(rows) => {
                            view! {
                                <table class="grid" id="history">
                                    <thead><tr><th>"Started"</th><th>"Operation"</th><th>"Status"</th><th>"Stage"</th><th>"Error"</th></tr></thead>
                                    <tbody>
                                        {rows
                                            .into_iter()
                                            .map(|r| {
                                                let (sym, word) = status_label(r.status);
                                                view! {
                                                    <tr>
                                                        <td class="mono">{r.started_at}</td>
                                                        <td>{r.operation.as_str()}</td>
                                                        <td class=format!("state {}", r.status.as_str())>{format!("{sym} {word}")}</td>
                                                        <td>{r.stage.map(|s| s.as_str()).unwrap_or("")}</td>
                                                        <td>{r.error.unwrap_or_default()}</td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p class="error">{error_text(&e)}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Identity(d: DeckyDto) -> impl IntoView {
    view! {
        <dl class="identity">
            <dt>"State"</dt><dd class=format!("state {}", d.state)>{state_label(&d)}</dd>
            <dt>"IP"</dt><dd class="mono">{d.ip.clone()}</dd>
            <dt>"Hostname"</dt><dd class="mono">{d.hostname.clone()}</dd>
            <dt>"Distro"</dt><dd>{d.distro.clone()}</dd>
            <dt>"Archetype"</dt><dd>{d.archetype.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>"OS fingerprint"</dt><dd>{d.nmap_os.clone()}</dd>
            <dt>"Services"</dt><dd>{d.services.join(", ")}</dd>
            <dt>"Mutation"</dt><dd>{interval_label(d.mutate_interval)}</dd>
            <dt>"Last mutated"</dt><dd>{short_time(d.last_mutated.as_deref())}</dd>
            <dt>"Next mutation"</dt><dd id="next-mutation">{short_time(d.next_mutation.as_deref())}</dd>
        </dl>
    }
}

/// Admin only: "Mutate now" and the interval editor (enable + 5-240 minutes, or a duration
/// string such as `2d`).
#[component]
fn MutationControls(
    d: DeckyDto,
    decky: Resource<Result<Option<DeckyDto>, ServerFnError>>,
) -> impl IntoView {
    let enabled = RwSignal::new(d.mutate_interval.is_some());
    let value = RwSignal::new(
        d.mutate_interval
            .map(|m| format!("{m}m"))
            .unwrap_or_else(|| "30m".into()),
    );
    let message: RwSignal<Option<(bool, String)>> = RwSignal::new(None);
    let name = d.name.clone();
    let save = Action::new_local(move |(name, interval): &(String, Option<String>)| {
        let (name, interval) = (name.clone(), interval.clone());
        async move {
            match set_mutate_interval(name, interval).await {
                Ok(()) => {
                    message.set(Some((true, "Mutation interval updated".into())));
                    decky.refetch();
                }
                Err(e) => message.set(Some((false, error_text(&e)))),
            }
        }
    });
    let mutate = Action::new_local(move |name: &String| {
        let name = name.clone();
        async move {
            match mutate_decky(name).await {
                Ok(_) => {
                    message.set(Some((true, "Mutation queued".into())));
                    decky.refetch();
                }
                Err(e) => message.set(Some((false, error_text(&e)))),
            }
        }
    });
    let (n1, n2) = (name.clone(), name);
    view! {
        <div class="mutation-controls">
            <label for="interval-enabled" class="check">
                <input id="interval-enabled" type="checkbox" prop:checked=move || enabled.get() on:change=move |ev| enabled.set(event_target_checked(&ev)) />
                "Rotate automatically"
            </label>
            <div class="field">
                <label for="interval-value">"Every (e.g. 30m, 240m, 2d)"</label>
                <input id="interval-value" type="text" disabled=move || !enabled.get() prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
            </div>
            <button id="interval-save" on:click=move |_| {
                let interval = enabled.get_untracked().then(|| value.get_untracked().trim().to_owned());
                save.dispatch((n1.clone(), interval));
            }>"Save interval"</button>
            <button id="mutate-now" class="primary" on:click=move |_| { mutate.dispatch(n2.clone()); }>"Mutate now"</button>
            {move || message.get().map(|(ok, m)| view! { <p class=if ok { "ok-line" } else { "error" } role="status">{m}</p> })}
        </div>
    }
}
