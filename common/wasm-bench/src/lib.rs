//! Exports one call, `parse_and_plan`, for `run.mjs` to time: the same 500-decky INI and
//! work as `benches/parse_500.rs`, compiled to `wasm32-unknown-unknown` without bindgen
//! (no imports, so node can instantiate it bare).

use std::sync::OnceLock;

use decnet_common::fleet::{self, PlanContext};
use decnet_common::ini;

#[path = "../../benches/support/fleet_ini.rs"]
mod fleet_ini;

fn text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(fleet_ini::fleet_ini)
}

/// Builds the INI (first call only), so timing starts from the second call.
#[no_mangle]
pub extern "C" fn prepare() -> u32 {
    text().len() as u32
}

/// Parses and plans the INI; the number of deckies planned, 0 on any error.
#[no_mangle]
pub extern "C" fn parse_and_plan(seed: u32) -> u32 {
    let ctx = PlanContext {
        seed: u64::from(seed),
        ..Default::default()
    };
    match ini::parse(text()).map(|spec| fleet::plan(&spec, &ctx)) {
        Ok(Ok(plans)) => plans.len() as u32,
        _ => 0,
    }
}

/// `validate_all`, the call the browser editor makes on every edit; its error count.
#[no_mangle]
pub extern "C" fn validate_all() -> u32 {
    ini::validate_all(text()).len() as u32
}
