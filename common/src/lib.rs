//! Code the browser and the server both run: wire DTOs, the fleet INI parser and the
//! catalogue. No I/O here; everything compiles to `wasm32-unknown-unknown`.

pub mod dto;
