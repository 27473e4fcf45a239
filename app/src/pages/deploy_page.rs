//! Deploy: the four-step wizard (ARCHETYPE, CONFIGURATION, MUTATION, DEPLOY) and the INI
//! editor, which validates as you type with the same parser the server runs.

use std::collections::BTreeMap;

use decnet_common::catalogue::{self, Archetype};
use decnet_common::ini;
use decnet_common::name::DeckyName;
use decnet_common::persona::{FieldType, PersonaField};
use leptos::prelude::*;

use crate::components::progress::DeployProgress;
use crate::serverfns::error_text;
use crate::serverfns::fleet::{deploy_ini, preview_ini};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Wizard,
    Ini,
}

/// What the wizard has been told so far.
#[derive(Clone, Debug, PartialEq)]
struct WizardState {
    archetype: Option<String>,
    services: Vec<String>,
    prefix: String,
    count: u32,
    /// (service, key) -> raw value; empty values are left out.
    persona: BTreeMap<(String, String), String>,
    mutate: bool,
    interval: u32,
    /// Optional `[general]` net and gateway (empty: the server's default LAN).
    net: String,
    gw: String,
}

impl Default for WizardState {
    fn default() -> Self {
        WizardState {
            archetype: None,
            services: Vec::new(),
            prefix: "decky".into(),
            count: 3,
            persona: BTreeMap::new(),
            mutate: true,
            interval: 30,
            net: String::new(),
            gw: String::new(),
        }
    }
}

impl WizardState {
    /// The services the deckies will run: the archetype's, else the picked ones.
    fn chosen_services(&self) -> Vec<String> {
        match self
            .archetype
            .as_deref()
            .and_then(catalogue::archetype_by_slug)
        {
            Some(a) => a.services.iter().map(|s| s.as_str().to_owned()).collect(),
            None => self.services.clone(),
        }
    }

    fn names(&self) -> Vec<String> {
        if self.count <= 1 {
            vec![self.prefix.clone()]
        } else {
            let width = self.count.to_string().len().max(2);
            (1..=self.count)
                .map(|i| format!("{}-{i:0width$}", self.prefix))
                .collect()
        }
    }

    fn prefix_error(&self) -> Option<String> {
        if !(1..=50).contains(&self.count) {
            return Some("Count must be between 1 and 50".into());
        }
        self.names()
            .iter()
            .find_map(|n| DeckyName::parse(n).err().map(|e| e.to_string()))
    }

    fn ini(&self) -> String {
        let mut s = String::new();
        if !self.net.trim().is_empty() {
            s.push_str(&format!("[general]\nnet={}\n", self.net.trim()));
            if !self.gw.trim().is_empty() {
                s.push_str(&format!("gw={}\n", self.gw.trim()));
            }
            s.push('\n');
        }
        s.push_str(&format!("[{}]\n", self.prefix));
        if self.count > 1 {
            s.push_str(&format!("amount={}\n", self.count));
        }
        match &self.archetype {
            Some(a) => s.push_str(&format!("archetype={a}\n")),
            None => s.push_str(&format!("services={}\n", self.services.join(","))),
        }
        if self.mutate {
            s.push_str(&format!("mutate_interval={}m\n", self.interval));
        } else {
            s.push_str("mutate_interval=off\n");
        }
        for svc in self.chosen_services() {
            let keys: Vec<(&String, &String)> = self
                .persona
                .iter()
                .filter(|((sv, _), v)| sv == &svc && !v.trim().is_empty())
                .map(|((_, k), v)| (k, v))
                .collect();
            if keys.is_empty() {
                continue;
            }
            s.push_str(&format!("\n[{}.{svc}]\n", self.prefix));
            for (k, v) in keys {
                // Multi-line values become INI continuation lines.
                let v = v.trim_end().replace('\n', "\n    ");
                s.push_str(&format!("{k}={v}\n"));
            }
        }
        s
    }
}

#[component]
pub fn DeployPage() -> impl IntoView {
    if !crate::components::layout::use_me()
        .is_some_and(|m| m.role == decnet_common::dto::Role::Admin)
    {
        return view! {
            <section class="page" id="deploy-page">
                <h1>"Deploy"</h1>
                <p class="error" role="alert">"Insufficient permissions"</p>
            </section>
        }
        .into_any();
    }
    let mode = RwSignal::new(Mode::Wizard);
    // Set once a deploy is accepted: (lifecycle ids, decky names).
    let launched: RwSignal<Option<(Vec<String>, Vec<String>)>> = RwSignal::new(None);
    view! {
        <section class="page" id="deploy-page">
            <h1>"Deploy"</h1>
            {move || match launched.get() {
                Some((ids, names)) => view! { <DeployProgress ids names /> }.into_any(),
                None => {
                    view! {
                        <div class="tabs" role="tablist" aria-label="How to describe the fleet">
                            <button
                                role="tab"
                                id="tab-wizard"
                                aria-selected=move || (mode.get() == Mode::Wizard).to_string()
                                on:click=move |_| mode.set(Mode::Wizard)
                            >
                                "Wizard"
                            </button>
                            <button
                                role="tab"
                                id="tab-ini"
                                aria-selected=move || (mode.get() == Mode::Ini).to_string()
                                on:click=move |_| mode.set(Mode::Ini)
                            >
                                "Edit INI"
                            </button>
                        </div>
                        {move || match mode.get() {
                            Mode::Wizard => view! { <Wizard launched /> }.into_any(),
                            Mode::Ini => view! { <IniEditor launched /> }.into_any(),
                        }}
                    }
                        .into_any()
                }
            }}
        </section>
    }
    .into_any()
}

const STEPS: [&str; 4] = ["ARCHETYPE", "CONFIGURATION", "MUTATION", "DEPLOY"];

#[component]
fn Wizard(launched: RwSignal<Option<(Vec<String>, Vec<String>)>>) -> impl IntoView {
    let state = RwSignal::new(WizardState::default());
    let step = RwSignal::new(1usize);
    let can_leave_step1 = move || state.with(|s| !s.chosen_services().is_empty());
    let can_leave_step2 = move || state.with(|s| s.prefix_error().is_none());
    let next_disabled = move || match step.get() {
        1 => !can_leave_step1(),
        2 => !can_leave_step2(),
        _ => false,
    };
    view! {
        <ol class="steps" aria-label="Wizard steps">
            {STEPS
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let n = i + 1;
                    view! {
                        <li aria-current=move || (step.get() == n).then_some("step") class=move || { if step.get() > n { "done" } else { "" } }>
                            {format!("{n} {name}")}
                        </li>
                    }
                })
                .collect_view()}
        </ol>
        <div class="step-body">
            {move || match step.get() {
                1 => view! { <StepArchetype state /> }.into_any(),
                2 => view! { <StepConfiguration state /> }.into_any(),
                3 => view! { <StepMutation state /> }.into_any(),
                _ => view! { <StepDeploy state launched /> }.into_any(),
            }}
        </div>
        <div class="wizard-nav">
            <button id="wizard-back" disabled=move || step.get() == 1 on:click=move |_| step.update(|s| *s -= 1)>
                "Back"
            </button>
            {move || {
                (step.get() < 4)
                    .then(|| {
                        view! {
                            <button
                                id="wizard-next"
                                class="primary"
                                disabled=next_disabled
                                on:click=move |_| step.update(|s| *s += 1)
                            >
                                "Next"
                            </button>
                        }
                    })
            }}
        </div>
    }
}

#[component]
fn StepArchetype(state: RwSignal<WizardState>) -> impl IntoView {
    let card = move |a: &'static Archetype| {
        let slug = a.slug.to_string();
        let slug2 = slug.clone();
        let selected = move || state.with(|s| s.archetype.as_deref() == Some(slug.as_str()));
        let services: Vec<String> = a.services.iter().map(|s| s.as_str().to_owned()).collect();
        view! {
            <button
                class="card"
                class:selected=selected.clone()
                aria-pressed=move || selected().to_string()
                data-archetype=slug2.clone()
                on:click=move |_| state.update(|s| s.archetype = Some(slug2.clone()))
            >
                <strong>{a.display_name.to_string()}</strong>
                <span class="muted">{a.description.to_string()}</span>
                <span class="chips">{services.join(" · ")}</span>
            </button>
        }
    };
    view! {
        <h2>"1 · Pick an archetype"</h2>
        <div class="cards">{catalogue::archetypes().iter().map(card).collect_view()}</div>
        <h2>"…or pick services"</h2>
        <fieldset class="service-picks">
            <legend>"Services"</legend>
            {catalogue::services()
                .map(|svc| {
                    let slug = svc.slug.as_str().to_owned();
                    let id = format!("svc-{slug}");
                    let label_for = id.clone();
                    let s1 = slug.clone();
                    let s2 = slug.clone();
                    let ports = svc.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
                    view! {
                        <label for=label_for class="check">
                            <input
                                type="checkbox"
                                id=id
                                prop:checked=move || state.with(|s| s.archetype.is_none() && s.services.contains(&s1))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    state.update(|s| {
                                        s.archetype = None;
                                        s.services.retain(|x| x != &s2);
                                        if on {
                                            s.services.push(s2.clone());
                                        }
                                    })
                                }
                            />
                            {format!("{slug} ({ports})")}
                        </label>
                    }
                })
                .collect_view()}
        </fieldset>
    }
}

fn persona_input(
    state: RwSignal<WizardState>,
    service: String,
    f: &'static PersonaField,
) -> impl IntoView {
    let key = f.key.to_string();
    let id = format!("persona-{service}-{key}");
    let k = (service.clone(), key.clone());
    let k2 = k.clone();
    let value = move || state.with(|s| s.persona.get(&k).cloned().unwrap_or_default());
    let set = move |v: String| {
        state.update(|s| {
            s.persona.insert(k2.clone(), v);
        })
    };
    let check = {
        let value = value.clone();
        move || {
            let v = value();
            (!v.trim().is_empty())
                .then(|| f.parse_value(&v).err())
                .flatten()
                .map(|e| format!("{}='{v}' {e}", f.key))
        }
    };
    let placeholder = f.default.as_deref().unwrap_or("").to_owned();
    let control = match &f.field_type {
        FieldType::Bool => {
            let set = set.clone();
            view! {
                <select id=id.clone() on:change=move |ev| set(event_target_value(&ev)) prop:value=value.clone()>
                    <option value="">"(default)"</option>
                    <option value="true">"true"</option>
                    <option value="false">"false"</option>
                </select>
            }
                .into_any()
        }
        FieldType::Enum { values } => {
            let set = set.clone();
            let options: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            view! {
                <select id=id.clone() on:change=move |ev| set(event_target_value(&ev)) prop:value=value.clone()>
                    <option value="">"(default)"</option>
                    {options.into_iter().map(|o| view! { <option value=o.clone()>{o.clone()}</option> }).collect_view()}
                </select>
            }
                .into_any()
        }
        FieldType::Textarea => {
            let set = set.clone();
            view! {
                <textarea id=id.clone() rows="3" placeholder=placeholder on:input=move |ev| set(event_target_value(&ev)) prop:value=value.clone()></textarea>
            }
                .into_any()
        }
        FieldType::Int { min, max } => {
            let set = set.clone();
            view! {
                <input id=id.clone() type="number" min=*min max=*max placeholder=placeholder on:input=move |ev| set(event_target_value(&ev)) prop:value=value.clone() />
            }
                .into_any()
        }
        FieldType::String => {
            let set = set.clone();
            view! {
                <input id=id.clone() type="text" placeholder=placeholder on:input=move |ev| set(event_target_value(&ev)) prop:value=value.clone() />
            }
                .into_any()
        }
    };
    view! {
        <div class="field">
            <label for=id><strong>{key.clone()}</strong> <span class="muted">{format!(" {}", f.description)}</span></label>
            {control}
            {move || check().map(|e| view! { <p class="error">{e}</p> })}
        </div>
    }
}

#[component]
fn StepConfiguration(state: RwSignal<WizardState>) -> impl IntoView {
    let ini_text = Memo::new(move |_| state.with(WizardState::ini));
    let valid = move || state.with(|s| s.prefix_error().is_none());
    let preview = Resource::new(
        move || (ini_text.get(), valid()),
        |(ini, ok)| async move {
            if ok {
                preview_ini(ini).await.map(Some)
            } else {
                Ok(None)
            }
        },
    );
    view! {
        <h2>"2 · Configuration"</h2>
        <div class="row">
            <div class="field">
                <label for="prefix">"Name prefix"</label>
                <input
                    id="prefix"
                    type="text"
                    prop:value=move || state.with(|s| s.prefix.clone())
                    on:input=move |ev| state.update(|s| s.prefix = event_target_value(&ev))
                />
            </div>
            <div class="field">
                <label for="count">"Count (1-50)"</label>
                <input
                    id="count"
                    type="number"
                    min="1"
                    max="50"
                    prop:value=move || state.with(|s| s.count.to_string())
                    on:input=move |ev| state.update(|s| s.count = event_target_value(&ev).parse().unwrap_or(0))
                />
            </div>
        </div>
        <div class="row">
            <div class="field">
                <label for="net">"Decoy LAN (CIDR, optional)"</label>
                <input
                    id="net"
                    type="text"
                    placeholder="192.168.1.0/24"
                    prop:value=move || state.with(|s| s.net.clone())
                    on:input=move |ev| state.update(|s| s.net = event_target_value(&ev))
                />
            </div>
            <div class="field">
                <label for="gw">"Gateway (optional)"</label>
                <input
                    id="gw"
                    type="text"
                    placeholder="first host of the LAN"
                    prop:value=move || state.with(|s| s.gw.clone())
                    on:input=move |ev| state.update(|s| s.gw = event_target_value(&ev))
                />
            </div>
        </div>
        {move || state.with(WizardState::prefix_error).map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {move || {
            state
                .with(WizardState::chosen_services)
                .into_iter()
                .filter_map(|svc| catalogue::service_by_slug(&svc).map(|s| (svc, s)))
                .filter(|(_, s)| !s.persona.is_empty())
                .map(|(svc, s)| {
                    view! {
                        <fieldset class="persona">
                            <legend>{format!("{svc} persona")}</legend>
                            {s.persona.iter().map(|f| persona_input(state, svc.clone(), f)).collect_view()}
                        </fieldset>
                    }
                })
                .collect_view()
        }}
        <h3>"Preview"</h3>
        <Suspense fallback=|| view! { <p class="muted">"Allocating…"</p> }>
            {move || Suspend::new(async move {
                match preview.await {
                    Ok(Some(rows)) => {
                        view! {
                            <table class="grid" id="preview">
                                <thead><tr><th>"Name"</th><th>"IP"</th><th>"Hostname"</th><th>"Services"</th></tr></thead>
                                <tbody>
                                    {rows
                                        .into_iter()
                                        .map(|r| view! { <tr><td>{r.name}</td><td>{r.ip}</td><td>{r.hostname}</td><td>{r.services.join(", ")}</td></tr> })
                                        .collect_view()}
                                </tbody>
                            </table>
                        }
                            .into_any()
                    }
                    Ok(None) => view! { <p class="muted">{state.with_untracked(|s| s.names().join(", "))}</p> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn StepMutation(state: RwSignal<WizardState>) -> impl IntoView {
    view! {
        <h2>"3 · Mutation"</h2>
        <label for="mutate-enabled" class="check">
            <input
                id="mutate-enabled"
                type="checkbox"
                prop:checked=move || state.with(|s| s.mutate)
                on:change=move |ev| state.update(|s| s.mutate = event_target_checked(&ev))
            />
            "Rotate services automatically"
        </label>
        <div class="field">
            <label for="mutate-interval">"Every (minutes, 5-240)"</label>
            <input
                id="mutate-interval"
                type="number"
                min="5"
                max="240"
                disabled=move || !state.with(|s| s.mutate)
                prop:value=move || state.with(|s| s.interval.to_string())
                on:input=move |ev| state.update(|s| s.interval = event_target_value(&ev).parse::<u32>().unwrap_or(30).clamp(5, 240))
            />
        </div>
    }
}

#[component]
fn StepDeploy(
    state: RwSignal<WizardState>,
    launched: RwSignal<Option<(Vec<String>, Vec<String>)>>,
) -> impl IntoView {
    let ini_text = move || state.with(WizardState::ini);
    let error: RwSignal<Option<String>> = RwSignal::new(None);
    let deploy = Action::new_local(move |ini: &String| {
        let ini = ini.clone();
        async move {
            launch(ini, false, launched, error).await;
        }
    });
    view! {
        <h2>"4 · Deploy"</h2>
        <p class="muted">"This INI will be sent:"</p>
        <pre class="ini" id="wizard-ini">{ini_text}</pre>
        <button class="primary" id="wizard-deploy" disabled=move || deploy.pending().get() on:click=move |_| { deploy.dispatch(ini_text()); }>
            "Deploy"
        </button>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
    }
}

/// Sends `ini`; on 202 hands the lifecycle ids and decky names to the progress view.
async fn launch(
    ini: String,
    replace_fleet: bool,
    launched: RwSignal<Option<(Vec<String>, Vec<String>)>>,
    error: RwSignal<Option<String>>,
) {
    let names = ini::parse(&ini)
        .map(|s| {
            s.deckies
                .iter()
                .map(|d| d.name.as_str().to_owned())
                .collect()
        })
        .unwrap_or_default();
    match deploy_ini(ini, replace_fleet).await {
        Ok(r) => launched.set(Some((r.lifecycle_ids, names))),
        Err(e) => error.set(Some(error_text(&e))),
    }
}

#[component]
fn IniEditor(launched: RwSignal<Option<(Vec<String>, Vec<String>)>>) -> impl IntoView {
    let text = RwSignal::new(String::from(
        "[general]\nnet=192.168.1.0/24\ngw=192.168.1.1\n\n[web]\namount=2\narchetype=web-server\n",
    ));
    let replace = RwSignal::new(false);
    // The same parser as the server, compiled to WASM, on every keystroke.
    let errors = Memo::new(move |_| text.with(|t| ini::validate_all(t)));
    let error: RwSignal<Option<String>> = RwSignal::new(None);
    let deploy = Action::new_local(move |(ini, replace): &(String, bool)| {
        let (ini, replace) = (ini.clone(), *replace);
        async move {
            launch(ini, replace, launched, error).await;
        }
    });
    view! {
        <div class="field">
            <label for="ini-text">"Fleet INI"</label>
            <textarea
                id="ini-text"
                class="ini"
                rows="16"
                spellcheck="false"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
            ></textarea>
        </div>
        <div id="ini-errors" aria-live="polite">
            {move || {
                let errs = errors.get();
                if errs.is_empty() {
                    view! { <p class="ok-line">"✓ Valid"</p> }.into_any()
                } else {
                    view! {
                        <ul class="errors">
                            {errs
                                .into_iter()
                                .map(|e| {
                                    let line = e.line.map(|l| format!("line {l}: ")).unwrap_or_default();
                                    view! { <li class="error">{format!("✗ {line}{}", e.message)}</li> }
                                })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                }
            }}
        </div>
        <label for="replace-fleet" class="check">
            <input id="replace-fleet" type="checkbox" prop:checked=move || replace.get() on:change=move |ev| replace.set(event_target_checked(&ev)) />
            "Replace the whole fleet (deckies not in this INI are torn down)"
        </label>
        <button
            class="primary"
            id="ini-deploy"
            disabled=move || !errors.with(Vec::is_empty) || deploy.pending().get()
            on:click=move |_| { deploy.dispatch((text.get_untracked(), replace.get_untracked())); }
        >
            "Deploy"
        </button>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wizard_ini_parses_and_expands_to_the_previewed_names() {
        let mut s = WizardState {
            archetype: Some("web-server".into()),
            prefix: "web".into(),
            count: 3,
            ..Default::default()
        };
        s.persona
            .insert(("http".into(), "server_header".into()), "Apache".into());
        let text = s.ini();
        let spec = ini::parse(&text).unwrap();
        let names: Vec<&str> = spec.deckies.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            s.names().iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert!(
            text.contains("[web.http]\nserver_header=Apache\n"),
            "{text}"
        );
        assert!(text.contains("mutate_interval=30m"), "{text}");
    }

    #[test]
    fn bad_prefixes_are_refused_before_the_server_sees_them() {
        let s = WizardState {
            prefix: "Bad_Name".into(),
            ..Default::default()
        };
        assert!(s.prefix_error().is_some());
        let s = WizardState {
            count: 51,
            ..Default::default()
        };
        assert!(s.prefix_error().is_some());
    }
}
