//! One decky: its identity, its lifecycle history (newest first), live while it changes.

use decnet_common::dto::DeckyDto;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::components::progress::status_label;
use crate::pages::fleet_page::{interval_label, state_label};
use crate::serverfns::error_text;
use crate::serverfns::fleet::{decky_history, list_deckies};

#[component]
pub fn DeckyPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let decky = Resource::new(name, |n| async move {
        list_deckies().await.map(|l| l.into_iter().find(|d| d.name == n))
    });
    let history = Resource::new(name, decky_history);
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
            <dt>"Last mutated"</dt><dd>{d.last_mutated.clone().unwrap_or_else(|| "never".into())}</dd>
        </dl>
    }
}
