//! Captured data: credentials, attackers and events, filtered by decky, service and source.

use leptos::prelude::*;

use crate::pages::fleet_page::short_time;
use crate::serverfns::captured::{captured_attackers, captured_credentials, captured_logs};
use crate::serverfns::error_text;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Credentials,
    Attackers,
    Events,
}

fn query(decky: &str, service: &str, src: &str) -> String {
    let mut q = vec!["limit=100".to_owned()];
    for (k, v) in [("decky", decky), ("service", service), ("src_ip", src)] {
        let v = v.trim();
        if !v.is_empty() {
            let enc: String = v
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.:".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            q.push(format!("{k}={enc}"));
        }
    }
    q.join("&")
}

#[component]
pub fn CapturedPage() -> impl IntoView {
    let tab = RwSignal::new(Tab::Credentials);
    let decky = RwSignal::new(String::new());
    let service = RwSignal::new(String::new());
    let src = RwSignal::new(String::new());
    let q = Memo::new(move |_| query(&decky.get(), &service.get(), &src.get()));
    let creds = Resource::new(move || q.get(), captured_credentials);
    let attackers = Resource::new(move || q.get(), captured_attackers);
    let events = Resource::new(move || q.get(), captured_logs);
    let tab_button = move |t: Tab, id: &'static str, label: &'static str| {
        view! {
            <button role="tab" id=id aria-selected=move || (tab.get() == t).to_string() on:click=move |_| tab.set(t)>
                {label}
            </button>
        }
    };
    let filter = move |id: &'static str, label: &'static str, sig: RwSignal<String>| {
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <input id=id type="text" prop:value=move || sig.get() on:change=move |ev| sig.set(event_target_value(&ev)) />
            </div>
        }
    };
    view! {
        <section class="page" id="captured-page">
            <h1>"Captured data"</h1>
            <div class="row">
                {filter("filter-decky", "Decky", decky)}
                {filter("filter-service", "Service", service)}
                {filter("filter-src", "Source IP", src)}
            </div>
            <div class="tabs" role="tablist" aria-label="What to show">
                {tab_button(Tab::Credentials, "tab-credentials", "Credentials")}
                {tab_button(Tab::Attackers, "tab-attackers", "Attackers")}
                {tab_button(Tab::Events, "tab-events", "Events")}
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match tab.get() {
                        Tab::Credentials => match creds.await {
                            Ok(p) if p.items.is_empty() => view! { <p class="muted">"No credentials captured yet."</p> }.into_any(),
                            Ok(p) => view! {
                                <table class="grid" id="credentials">
                                    <thead><tr><th>"When"</th><th>"Decky"</th><th>"Service"</th><th>"Source"</th><th>"Username"</th><th>"Password"</th><th>"Method"</th></tr></thead>
                                    <tbody>{p.items.into_iter().map(|c| view! {
                                        <tr><td class="mono">{short_time(Some(&c.ts))}</td><td>{c.decky}</td><td>{c.service}</td><td class="mono">{c.src_ip}</td>
                                        <td class="mono">{c.username}</td><td class="mono">{c.password}</td><td>{c.method.unwrap_or_default()}</td></tr>
                                    }).collect_view()}</tbody>
                                </table>
                            }.into_any(),
                            Err(e) => view! { <p class="error">{error_text(&e)}</p> }.into_any(),
                        },
                        Tab::Attackers => match attackers.await {
                            Ok(p) if p.items.is_empty() => view! { <p class="muted">"No attackers yet."</p> }.into_any(),
                            Ok(p) => view! {
                                <table class="grid" id="attackers">
                                    <thead><tr><th>"Source"</th><th>"First seen"</th><th>"Last seen"</th><th>"Events"</th><th>"Auth attempts"</th><th>"Deckies"</th><th>"Services"</th></tr></thead>
                                    <tbody>{p.items.into_iter().map(|a| view! {
                                        <tr><td class="mono">{a.src_ip}</td><td class="mono">{short_time(Some(&a.first_seen))}</td><td class="mono">{short_time(Some(&a.last_seen))}</td>
                                        <td>{a.event_count}</td><td>{a.auth_count}</td><td>{a.deckies.join(", ")}</td><td>{a.services.join(", ")}</td></tr>
                                    }).collect_view()}</tbody>
                                </table>
                            }.into_any(),
                            Err(e) => view! { <p class="error">{error_text(&e)}</p> }.into_any(),
                        },
                        Tab::Events => match events.await {
                            Ok(p) if p.items.is_empty() => view! { <p class="muted">"No events yet."</p> }.into_any(),
                            Ok(p) => view! {
                                <table class="grid" id="events">
                                    <thead><tr><th>"When"</th><th>"Decky"</th><th>"Service"</th><th>"Event"</th><th>"Source"</th><th>"Details"</th></tr></thead>
                                    <tbody>{p.items.into_iter().map(|l| {
                                        let details = l.raw.clone().unwrap_or_else(|| l.fields.to_string());
                                        view! {
                                            <tr><td class="mono">{short_time(Some(&l.ts))}</td><td>{l.decky}</td><td>{l.service}</td><td>{l.event.as_str()}</td>
                                            <td class="mono">{l.src_ip.unwrap_or_default()}</td><td class="mono details">{details}</td></tr>
                                        }
                                    }).collect_view()}</tbody>
                                </table>
                            }.into_any(),
                            Err(e) => view! { <p class="error">{error_text(&e)}</p> }.into_any(),
                        },
                    }
                })}
            </Transition>
        </section>
    }
}
