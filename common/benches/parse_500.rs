//! Parses and plans a 500-decky INI many times and prints timings (target: < 10 ms native).
//!
//! `cargo bench -p decnet-common --bench parse_500` (release profile). A plain binary
//! rather than criterion: the figures are for the issue, not a regression gate.

use std::hint::black_box;
use std::time::{Duration, Instant};

use decnet_common::fleet::{self, ExistingDecky, PlanContext};
use decnet_common::ini;

// Shared with the wasm measurement in `common/wasm-bench`.
#[path = "support/fleet_ini.rs"]
mod fleet_ini;
use fleet_ini::fleet_ini;

/// Worst-case shapes near the 512 KiB limit: the parser must stay fast and small on them.
fn pathological() -> Vec<(&'static str, String)> {
    let fill = |unit: &dyn Fn(usize) -> String| {
        let mut s = String::from("[a]\n");
        let mut i = 0;
        loop {
            let next = unit(i);
            if s.len() + next.len() > ini::MAX_INI_BYTES {
                return s;
            }
            s.push_str(&next);
            i += 1;
        }
    };
    let mut big_persona = String::from("[general]\nnet=10.0.0.0/16\n[w]\namount=100\n[w.http]\n");
    big_persona.push_str("custom_body=");
    big_persona.push_str(&"x".repeat(ini::MAX_INI_BYTES - 200));
    vec![
        ("garbage lines", fill(&|_| "x\n".to_owned())),
        ("bad section names", fill(&|i| format!("[A{i}]\n"))),
        ("unknown services", fill(&|i| format!("[a.x{i}]\n"))),
        ("unknown keys", fill(&|i| format!("k{i}=v\n"))),
        ("one long line", fill(&|_| "x".repeat(1000))),
        ("1000 deckies", {
            let mut s = String::from("[general]\nnet=10.0.0.0/16\n");
            for i in 0..10 {
                s.push_str(&format!("[g{i}]\namount=100\n"));
            }
            s
        }),
        ("400 KiB persona x100", big_persona),
        ("32 custom personas x100", {
            // The most the limits allow: 32 services with 64 keys each, on 100 deckies.
            let mut s = String::from("[general]\nnet=10.0.0.0/16\n[w]\namount=100\n");
            for i in 0..ini::MAX_CUSTOM_SERVICES {
                s.push_str(&format!("[custom-x{i}]\nbinary=i\n[w.x{i}]\n"));
                for k in 0..ini::MAX_CUSTOM_PERSONA_KEYS {
                    s.push_str(&format!("key{k}=value {k}\n"));
                }
            }
            s
        }),
        ("65535 ports", {
            let ports: Vec<String> = (1..=65535).map(|p| p.to_string()).collect();
            format!("[a]\n[custom-p]\nbinary=i\nports={}\n", ports.join(","))
        }),
    ]
}

fn stats(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).copied().unwrap_or_default()
    };
    println!(
        "{label:<22} min {:>7.3} ms   median {:>7.3} ms   p99 {:>7.3} ms",
        ms(at(0.0)),
        ms(at(0.5)),
        ms(at(0.99)),
    );
}

fn main() {
    let text = fleet_ini();
    let spec = ini::parse(&text).unwrap_or_else(|e| panic!("bench INI is invalid: {e}"));
    assert_eq!(spec.deckies.len(), 500);
    // An existing fleet of 50 on the same LAN, so clashes and hostnames are checked.
    let existing: Vec<ExistingDecky> = (0..50)
        .map(|i| ExistingDecky {
            name: format!("old-{i}").parse().unwrap(),
            ip: format!("10.20.200.{}", i + 1).parse().unwrap(),
            hostname: format!("old-host-{i}"),
        })
        .collect();
    let ctx = PlanContext {
        existing: &existing,
        deployment_limit: Some(1000),
        host_ip: "10.20.0.2".parse().ok(),
        seed: 0x5eed,
        ..Default::default()
    };

    let runs = 300;
    let (mut parse, mut plan, mut both, mut validate) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let t0 = Instant::now();
        let spec = black_box(ini::parse(black_box(&text))).unwrap();
        let t1 = Instant::now();
        let plans = black_box(fleet::plan(&spec, &ctx)).unwrap();
        let t2 = Instant::now();
        assert_eq!(plans.len(), 500);
        parse.push(t1 - t0);
        plan.push(t2 - t1);
        both.push(t2 - t0);

        let t3 = Instant::now();
        assert!(black_box(ini::validate_all(black_box(&text))).is_empty());
        validate.push(t3.elapsed());
    }
    println!(
        "500-decky INI ({} bytes, {} lines), {runs} runs:",
        text.len(),
        text.lines().count()
    );
    stats("parse", parse);
    stats("plan", plan);
    stats("parse + plan", both);
    stats("validate_all", validate);

    println!("\nPathological inputs (validate_all, parse + plan when valid), 20 runs each:");
    for (label, text) in pathological() {
        let mut samples = Vec::new();
        let mut outcome = String::new();
        for _ in 0..20 {
            let t0 = Instant::now();
            let errors = black_box(ini::validate_all(black_box(&text)));
            if let Ok(spec) = ini::parse(&text) {
                let _ = black_box(fleet::plan(&spec, &PlanContext::default()));
            }
            samples.push(t0.elapsed());
            outcome = format!("{} bytes, {} error(s)", text.len(), errors.len());
        }
        stats(label, samples);
        println!("{:<22} ({outcome})", "");
    }
}
