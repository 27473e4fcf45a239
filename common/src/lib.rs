//! Code the browser and the server both run: wire DTOs, the fleet INI parser and the
//! catalogue. No I/O here; everything compiles to `wasm32-unknown-unknown`.
//!
//! - [`catalogue`]: archetypes, distros, OS profiles, services (static data).
//! - [`ini`]: fleet INI text -> [`ini::FleetSpec`], with line-numbered [`ini::IniError`]s.
//! - [`fleet`]: [`ini::FleetSpec`] + the existing fleet -> the deckies to create; mutation picks.
//! - [`name`], [`interval`], [`subnet`], [`persona`]: the parsed value types they share.

pub mod catalogue;
pub mod dto;
pub mod fleet;
pub mod ini;
pub mod interval;
pub mod name;
pub mod persona;
mod rng;
pub mod subnet;
