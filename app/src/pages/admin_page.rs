//! Admin: settings (deployment limit, global mutation interval), users, and the audit trail.
//! Viewers get no controls; the server refuses them anyway.

use decnet_common::dto::{Role, UserDto};
use leptos::prelude::*;

use crate::backend_types::PurgeScopeArgs;
use crate::components::layout::use_me;
use crate::pages::fleet_page::short_time;
use crate::serverfns::admin::{
    audit_trail, create_user, delete_user, get_config, reset_user_password, set_deployment_limit,
    set_global_interval, set_user_role,
};
use crate::serverfns::captured::{purge_data, purge_preview};
use crate::serverfns::error_text;

#[component]
pub fn AdminPage() -> impl IntoView {
    let me = use_me();
    if !me.as_ref().is_some_and(|m| m.role == Role::Admin) {
        return view! {
            <section class="page" id="admin-page">
                <h1>"Admin"</h1>
                <p class="error" role="alert">"Insufficient permissions"</p>
            </section>
        }
        .into_any();
    }
    let my_uuid = me.map(|m| m.uuid).unwrap_or_default();
    let config = Resource::new(|| (), |_| get_config());
    let audit = Resource::new(|| (), |_| audit_trail(100, 0));
    let notice: RwSignal<Option<(bool, String)>> = RwSignal::new(None);
    let done = move |r: Result<(), ServerFnError>, ok: &str| {
        match r {
            Ok(()) => notice.set(Some((true, ok.to_owned()))),
            Err(e) => notice.set(Some((false, error_text(&e)))),
        }
        config.refetch();
        audit.refetch();
    };
    view! {
        <section class="page" id="admin-page">
            <h1>"Admin"</h1>
            {move || notice.get().map(|(ok, m)| view! { <p class=if ok { "ok-line" } else { "error" } role="status">{m}</p> })}
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let my_uuid = my_uuid.clone();
                    Suspend::new(async move {
                        match config.await {
                            Ok(cfg) => view! {
                                <Settings limit=cfg.deployment_limit interval=cfg.global_mutation_interval.clone() done />
                                <Users users=cfg.users.unwrap_or_default() my_uuid done />
                            }
                            .into_any(),
                            Err(e) => view! { <p class="error">{error_text(&e)}</p> }.into_any(),
                        }
                    })
                }}
            </Transition>
            <PurgePanel audit />
            <h2>"Audit trail"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match audit.await {
                        Ok(page) => view! {
                            <p class="muted">{format!("{} entries, newest first", page.total)}</p>
                            <table class="grid" id="audit">
                                <thead><tr><th>"When"</th><th>"Who"</th><th>"Action"</th><th>"Target"</th><th>"Outcome"</th><th>"From"</th></tr></thead>
                                <tbody>
                                    {page.items.into_iter().map(|a| view! {
                                        <tr>
                                            <td class="mono">{short_time(Some(&a.at))}</td>
                                            <td>{a.actor.unwrap_or_else(|| "—".into())}</td>
                                            <td class="mono">{a.action}</td>
                                            <td class="mono">{a.target.unwrap_or_default()}</td>
                                            <td class=format!("outcome {}", a.outcome)>{format!("{} ({})", a.outcome, a.status)}</td>
                                            <td class="mono">{a.ip.unwrap_or_default()}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }
                        .into_any(),
                        Err(e) => view! { <p class="error">{error_text(&e)}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
    .into_any()
}

#[component]
fn Settings<F>(limit: u32, interval: String, done: F) -> impl IntoView
where
    F: Fn(Result<(), ServerFnError>, &str) + Copy + Send + Sync + 'static,
{
    let limit = RwSignal::new(limit.to_string());
    let interval = RwSignal::new(interval);
    let save_limit = Action::new_local(move |v: &String| {
        let v = v.clone();
        async move {
            let r = match v.trim().parse::<u32>() {
                Ok(n) => set_deployment_limit(n).await,
                Err(_) => Err(ServerFnError::ServerError(
                    "deployment_limit must be a number from 1 to 500".into(),
                )),
            };
            done(r, "Deployment limit updated");
        }
    });
    let save_interval = Action::new_local(move |v: &String| {
        let v = v.clone();
        async move {
            done(
                set_global_interval(v).await,
                "Global mutation interval updated",
            )
        }
    });
    view! {
        <h2>"Settings"</h2>
        <div class="row settings">
            <div class="field">
                <label for="deployment-limit">"Deployment limit (1-500 deckies)"</label>
                <input id="deployment-limit" type="number" min="1" max="500" prop:value=move || limit.get() on:input=move |ev| limit.set(event_target_value(&ev)) />
                <button id="save-limit" on:click=move |_| { save_limit.dispatch(limit.get_untracked()); }>"Save"</button>
            </div>
            <div class="field">
                <label for="global-interval">"Default mutation interval (e.g. 30m, 2d)"</label>
                <input id="global-interval" type="text" prop:value=move || interval.get() on:input=move |ev| interval.set(event_target_value(&ev)) />
                <button id="save-interval" on:click=move |_| { save_interval.dispatch(interval.get_untracked()); }>"Save"</button>
            </div>
        </div>
    }
}

#[component]
fn Users<F>(users: Vec<UserDto>, my_uuid: String, done: F) -> impl IntoView
where
    F: Fn(Result<(), ServerFnError>, &str) + Copy + Send + Sync + 'static,
{
    let new_name = RwSignal::new(String::new());
    let new_pw = RwSignal::new(String::new());
    let new_role = RwSignal::new(Role::Viewer);
    let create = Action::new_local(move |(u, p, r): &(String, String, Role)| {
        let (u, p, r) = (u.clone(), p.clone(), *r);
        async move {
            done(
                create_user(u, p, r).await.map(|_| ()),
                "User created (they must change the password at first sign-in)",
            )
        }
    });
    let role = Action::new_local(move |(id, r): &(String, Role)| {
        let (id, r) = (id.clone(), *r);
        async move { done(set_user_role(id, r).await, "User role updated") }
    });
    let reset = Action::new_local(move |(id, p): &(String, String)| {
        let (id, p) = (id.clone(), p.clone());
        async move { done(reset_user_password(id, p).await, "Password reset") }
    });
    let remove = Action::new_local(move |id: &String| {
        let id = id.clone();
        async move { done(delete_user(id).await, "User deleted") }
    });
    view! {
        <h2>"Users"</h2>
        <table class="grid" id="users">
            <thead><tr><th>"Username"</th><th>"Role"</th><th>"Status"</th><th>"Actions"</th></tr></thead>
            <tbody>
                {users.into_iter().map(|u| {
                    let me = u.uuid == my_uuid;
                    let (id1, id2, id3) = (u.uuid.clone(), u.uuid.clone(), u.uuid.clone());
                    let other = if u.role == Role::Admin { Role::Viewer } else { Role::Admin };
                    let pw = RwSignal::new(String::new());
                    view! {
                        <tr data-user=u.username.clone()>
                            <td>{u.username.clone()}{me.then_some(" (you)")}</td>
                            <td>{u.role.as_str()}</td>
                            <td>{if u.must_change_password { "must change password" } else { "active" }}</td>
                            <td>
                                {(!me).then(|| view! {
                                    <span class="actions">
                                        <button class="small" on:click=move |_| { role.dispatch((id1.clone(), other)); }>{format!("Make {}", other.as_str())}</button>
                                        <label class="sr-only" for=format!("reset-{}", u.uuid)>"New password"</label>
                                        <input class="small" type="password" id=format!("reset-{}", u.uuid) placeholder="new password" on:input=move |ev| pw.set(event_target_value(&ev)) />
                                        <button class="small" on:click=move |_| { reset.dispatch((id2.clone(), pw.get_untracked())); }>"Reset password"</button>
                                        <button class="small danger" on:click=move |_| { remove.dispatch(id3.clone()); }>"Delete"</button>
                                    </span>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <fieldset class="new-user">
            <legend>"Add a user"</legend>
            <label for="new-username">"Username"</label>
            <input id="new-username" type="text" on:input=move |ev| new_name.set(event_target_value(&ev)) />
            <label for="new-password">"First password (12+ characters)"</label>
            <input id="new-password" type="password" on:input=move |ev| new_pw.set(event_target_value(&ev)) />
            <label for="new-role">"Role"</label>
            <select id="new-role" on:change=move |ev| new_role.set(if event_target_value(&ev) == "admin" { Role::Admin } else { Role::Viewer })>
                <option value="viewer">"viewer"</option>
                <option value="admin">"admin"</option>
            </select>
            <button id="create-user" on:click=move |_| { create.dispatch((new_name.get_untracked(), new_pw.get_untracked(), new_role.get_untracked())); }>"Create"</button>
        </fieldset>
    }
}

/// Purge captured data: choose a scope, preview the counts, type PURGE and the password.
#[component]
fn PurgePanel(
    audit: Resource<Result<decnet_common::dto::AuditPage, ServerFnError>>,
) -> impl IntoView {
    let scope = RwSignal::new("all".to_owned());
    let days = RwSignal::new("30".to_owned());
    let decky = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let preview: RwSignal<Option<decnet_common::dto::CapturedCounts>> = RwSignal::new(None);
    let result: RwSignal<Option<Result<decnet_common::dto::CapturedCounts, String>>> =
        RwSignal::new(None);
    let args = move || PurgeScopeArgs {
        scope: scope.get_untracked(),
        days: days.get_untracked().trim().parse().ok(),
        decky: Some(decky.get_untracked().trim().to_owned()).filter(|d| !d.is_empty()),
    };
    let do_preview = Action::new_local(move |a: &PurgeScopeArgs| {
        let a = a.clone();
        async move {
            match purge_preview(a).await {
                Ok(r) => {
                    preview.set(Some(r.deleted));
                    result.set(None);
                }
                Err(e) => result.set(Some(Err(error_text(&e)))),
            }
        }
    });
    let do_purge = Action::new_local(move |(a, pw): &(PurgeScopeArgs, String)| {
        let (a, pw) = (a.clone(), pw.clone());
        async move {
            match purge_data(a, pw).await {
                Ok(r) => result.set(Some(Ok(r.deleted))),
                Err(e) => result.set(Some(Err(error_text(&e)))),
            }
            confirm.set(String::new());
            password.set(String::new());
            audit.refetch();
        }
    });
    let counts = |c: decnet_common::dto::CapturedCounts| {
        format!(
            "{} logs, {} credentials, {} bounties, {} attackers",
            c.logs, c.credentials, c.bounties, c.attackers
        )
    };
    view! {
        <h2>"Purge captured data"</h2>
        <div class="purge" id="purge">
            <div class="row">
                <div class="field">
                    <label for="purge-scope">"Scope"</label>
                    <select id="purge-scope" on:change=move |ev| { scope.set(event_target_value(&ev)); preview.set(None); }>
                        <option value="all">"Everything"</option>
                        <option value="older_than">"Older than N days"</option>
                        <option value="decky">"One decky"</option>
                    </select>
                </div>
                {move || (scope.get() == "older_than").then(|| view! {
                    <div class="field"><label for="purge-days">"Days"</label>
                    <input id="purge-days" type="number" min="0" prop:value=move || days.get() on:input=move |ev| days.set(event_target_value(&ev)) /></div>
                })}
                {move || (scope.get() == "decky").then(|| view! {
                    <div class="field"><label for="purge-decky">"Decky"</label>
                    <input id="purge-decky" type="text" prop:value=move || decky.get() on:input=move |ev| decky.set(event_target_value(&ev)) /></div>
                })}
            </div>
            <button id="purge-preview" on:click=move |_| { do_preview.dispatch(args()); }>"Preview"</button>
            {move || preview.get().map(|c| view! { <p id="purge-counts">{format!("Will delete: {}", counts(c))}</p> })}
            <div class="row">
                <div class="field">
                    <label for="purge-confirm">"Type PURGE to confirm"</label>
                    <input id="purge-confirm" type="text" autocomplete="off" prop:value=move || confirm.get() on:input=move |ev| confirm.set(event_target_value(&ev)) />
                </div>
                <div class="field">
                    <label for="purge-password">"Your password"</label>
                    <input id="purge-password" type="password" autocomplete="current-password" prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev)) />
                </div>
            </div>
            <button
                id="purge-run"
                class="danger"
                disabled=move || preview.get().is_none() || confirm.get() != "PURGE" || password.get().is_empty()
                on:click=move |_| { do_purge.dispatch((args(), password.get_untracked())); }
            >
                "Purge"
            </button>
            {move || result.get().map(|r| match r {
                Ok(c) => view! { <p class="ok-line" id="purge-result" role="status">{format!("Purged: {}", counts(c))}</p> }.into_any(),
                Err(e) => view! { <p class="error" id="purge-result" role="alert">{e}</p> }.into_any(),
            })}
        </div>
    }
}
