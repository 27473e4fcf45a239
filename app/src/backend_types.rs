//! Argument types of server functions that both builds (browser and server) need.

use serde::{Deserialize, Serialize};

/// A purge scope as the form sends it: `all`, `older_than` (with `days`) or `decky` (with
/// `decky`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeScopeArgs {
    pub scope: String,
    pub days: Option<u32>,
    pub decky: Option<String>,
}
