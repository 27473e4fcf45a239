//! The WASM entry: hydrate the server-rendered console.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // `hydrate_lazy`, not `hydrate_body`: a page opened directly on a lazy route (deploy,
    // admin, captured data, a decky) hydrates only once its WASM chunk has loaded.
    leptos::mount::hydrate_lazy(app::App);
}
