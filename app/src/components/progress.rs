//! Per-decky progress of a deploy: one pill per lifecycle row, polled about once a second
//! until every row is terminal, a transcript of terminal events, a clear end state and a
//! retry of the failed deckies.

use decnet_common::dto::{LifecycleRow, LifecycleStatus};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::serverfns::error_text;
use crate::serverfns::fleet::redeploy_decky;

/// The symbol and word for a status: state is never told by colour alone.
pub fn status_label(status: LifecycleStatus) -> (&'static str, &'static str) {
    match status {
        LifecycleStatus::Pending => ("◌", "PENDING"),
        LifecycleStatus::Running => ("▶", "RUNNING"),
        LifecycleStatus::Succeeded => ("✓", "SUCCEEDED"),
        LifecycleStatus::Failed => ("✗", "FAILED"),
    }
}

fn pill_text(r: &LifecycleRow) -> String {
    let (sym, word) = status_label(r.status);
    match (r.status, r.stage) {
        (LifecycleStatus::Running, Some(stage)) => {
            format!("{sym} {} {word} · {}", r.decky_name, stage.as_str())
        }
        _ => format!("{sym} {} {word}", r.decky_name),
    }
}

/// Tracks `ids` (lifecycle rows of `names`, in the same order).
#[component]
pub fn DeployProgress(ids: Vec<String>, names: Vec<String>) -> impl IntoView {
    let tracked = RwSignal::new(ids);
    let rows: RwSignal<Vec<LifecycleRow>> = RwSignal::new(Vec::new());
    let transcript: RwSignal<Vec<String>> = RwSignal::new(Vec::new());
    let poll_error: RwSignal<Option<String>> = RwSignal::new(None);
    let retry_error: RwSignal<Option<String>> = RwSignal::new(None);
    let generation = RwSignal::new(0u64);

    // Client only: a polling loop per generation of tracked ids; a newer one (after a
    // retry) or the page going away ends the older.
    Effect::new(move |_| {
        let ids = tracked.get();
        let my_gen = generation.get_untracked() + 1;
        generation.set(my_gen);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(poll(ids, my_gen, generation, rows, transcript, poll_error));
        #[cfg(not(feature = "hydrate"))]
        let _ = (ids, my_gen);
    });

    let all_terminal = move || {
        let r = rows.get();
        !r.is_empty()
            && r.len() == tracked.with(Vec::len)
            && r.iter().all(|r| r.status.is_terminal())
    };
    let failed = move || {
        rows.get()
            .into_iter()
            .filter(|r| r.status == LifecycleStatus::Failed)
            .collect::<Vec<_>>()
    };

    let retry = Action::new_local(move |names: &Vec<String>| {
        let names = names.clone();
        async move {
            let mut new_ids = Vec::new();
            for n in &names {
                match redeploy_decky(n.clone()).await {
                    Ok(r) => new_ids.extend(r.lifecycle_ids),
                    Err(e) => {
                        retry_error.set(Some(format!("{n}: {}", error_text(&e))));
                        return;
                    }
                }
            }
            // Keep the succeeded rows, swap the failed ones for their retries.
            let keep: Vec<String> = rows
                .get_untracked()
                .into_iter()
                .filter(|r| r.status != LifecycleStatus::Failed)
                .map(|r| r.id)
                .collect();
            rows.set(Vec::new());
            tracked.set(keep.into_iter().chain(new_ids).collect());
        }
    });

    view! {
        <section class="progress" aria-label="Deploy progress">
            <ul class="pills" aria-live="polite">
                {move || {
                    let r = rows.get();
                    if r.is_empty() {
                        names
                            .iter()
                            .map(|n| view! { <li class="pill pending">{format!("◌ {n} PENDING")}</li> })
                            .collect_view()
                            .into_any()
                    } else {
                        r.iter()
                            .map(|row| {
                                let class = format!("pill {}", row.status.as_str());
                                view! {
                                    <li class=class title=row.error.clone().unwrap_or_default() data-decky=row.decky_name.clone()>
                                        {pill_text(row)}
                                    </li>
                                }
                            })
                            .collect_view()
                            .into_any()
                    }
                }}
            </ul>
            {move || poll_error.get().map(|e| view! { <p class="hint">"Still trying: " {e}</p> })}
            {move || {
                if !all_terminal() {
                    return view! { <p class="muted end-state">"Working… this page updates on its own."</p> }.into_any();
                }
                let f = failed();
                if f.is_empty() {
                    let n = rows.with(Vec::len);
                    #[cfg(feature = "hydrate")]
                    {
                        let navigate = leptos_router::hooks::use_navigate();
                        leptos::task::spawn_local(async move {
                            gloo_timers::future::TimeoutFuture::new(1500).await;
                            navigate("/", Default::default());
                        });
                    }
                    view! {
                        <div class="end-state ok" role="status">
                            <p>{format!("✓ All {n} decky/ies are up.")}</p>
                            <A href="/">"Go to the fleet"</A>
                        </div>
                    }
                        .into_any()
                } else {
                    let names: Vec<String> = f.iter().map(|r| r.decky_name.clone()).collect();
                    view! {
                        <div class="end-state bad" role="alert">
                            <p>{format!("✗ {} of {} failed:", f.len(), rows.with(Vec::len))}</p>
                            <ul class="failures">
                                {f
                                    .into_iter()
                                    .map(|r| {
                                        view! {
                                            <li>
                                                <strong>{r.decky_name.clone()}</strong>
                                                ": "
                                                {r.error.clone().unwrap_or_default()}
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                            <button class="primary" id="retry-failed" on:click=move |_| { retry.dispatch(names.clone()); }>
                                "Retry failed"
                            </button>
                            {move || retry_error.get().map(|e| view! { <p class="error">{e}</p> })}
                        </div>
                    }
                        .into_any()
                }
            }}
            <details class="transcript" open>
                <summary>"Transcript"</summary>
                <ol>{move || transcript.get().into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ol>
            </details>
        </section>
    }
}

#[cfg(feature = "hydrate")]
async fn poll(
    ids: Vec<String>,
    my_gen: u64,
    generation: RwSignal<u64>,
    rows: RwSignal<Vec<LifecycleRow>>,
    transcript: RwSignal<Vec<String>>,
    poll_error: RwSignal<Option<String>>,
) {
    use crate::serverfns::fleet::lifecycle_rows;
    use std::collections::BTreeSet;
    let mut told: BTreeSet<String> = BTreeSet::new();
    loop {
        if generation.try_get_untracked() != Some(my_gen) {
            return;
        }
        match lifecycle_rows(ids.clone()).await {
            Ok(fresh) => {
                poll_error.set(None);
                for r in fresh.iter().filter(|r| r.status.is_terminal()) {
                    if told.insert(r.id.clone()) {
                        let (sym, word) = status_label(r.status);
                        let when = r
                            .completed_at
                            .as_deref()
                            .and_then(|t| t.get(11..19))
                            .unwrap_or("");
                        let why = r
                            .error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default();
                        transcript.update(|t| {
                            t.push(format!("{when} {sym} {} {word}{why}", r.decky_name))
                        });
                    }
                }
                let done = fresh.len() == ids.len() && fresh.iter().all(|r| r.status.is_terminal());
                if rows.try_set(fresh).is_some() || generation.try_get_untracked().is_none() {
                    return;
                }
                if done {
                    return;
                }
            }
            // Transient: keep polling.
            Err(e) => {
                if poll_error.try_set(Some(error_text(&e))).is_some() {
                    return;
                }
            }
        }
        gloo_timers::future::TimeoutFuture::new(1000).await;
    }
}
