//! Any bytes -> the INI parser, `validate_all` and, when the text parses, the builder.
//! Nothing may panic; `parse` and `validate_all` must agree on the first error.
#![no_main]

use decnet_common::fleet::{self, PlanContext};
use decnet_common::ini;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = ini::parse(text);
    let all = ini::validate_all(text);
    match parsed {
        Err(e) => assert_eq!(all.first(), Some(&e)),
        Ok(spec) => {
            let seed = data
                .iter()
                .fold(0u64, |h, &b| h.rotate_left(5) ^ u64::from(b));
            let ctx = PlanContext {
                deployment_limit: Some(100),
                seed,
                ..Default::default()
            };
            if let Ok(plans) = fleet::plan(&spec, &ctx) {
                assert_eq!(plans.len(), spec.deckies.len());
            }
        }
    }
});
