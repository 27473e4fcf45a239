//! Wire types shared by the REST API, the server functions and the browser.
//!
//! One type per payload: the server serialises exactly what the UI deserialises, so the two
//! cannot drift apart.

use serde::{Deserialize, Serialize};

/// What a user may do. Admins change things; viewers read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// The signed-in user as the UI sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub uuid: String,
    pub username: String,
    pub role: Role,
    pub must_change_password: bool,
}

/// The body of every error response: `{"detail": "..."}` (plus `error_id` on a 500).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    pub access_token: String,
    pub token_type: String,
    pub must_change_password: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub old_password: String,
    pub new_password: String,
}

/// `200` of change-password: the old token is revoked, this one replaces it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePasswordResponse {
    pub message: String,
    pub access_token: String,
    pub token_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// `ok` when the database answers, `degraded` when it does not.
    pub status: String,
    /// `ok`, or `error: <reason>`.
    pub db: String,
    /// `ok`, or `unreachable: <reason>`.
    pub docker: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDto {
    pub uuid: String,
    pub username: String,
    pub role: Role,
    pub must_change_password: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub username: String,
    pub password: String,
    pub role: Role,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    pub role: Role,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    pub new_password: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageResponse {
    pub message: String,
}

/// `GET /config`: `users` only for admins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigResponse {
    pub role: Role,
    pub deployment_limit: u32,
    pub global_mutation_interval: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<UserDto>>,
}

/// The rules a username must follow; the same check runs in the browser and on the server.
pub fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
}

/// Password policy (NIST 800-63B style: length over composition). Returns why it is weak.
pub fn password_weakness(username: &str, password: &str) -> Option<&'static str> {
    let chars = password.chars().count();
    if chars < 12 {
        return Some("Password must be at least 12 characters long");
    }
    if password.len() > 256 {
        return Some("Password must be at most 256 bytes long");
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Some("Password must not contain the username");
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 5 {
        return Some("Password must use at least 5 different characters");
    }
    const COMMON: [&str; 6] = [
        "password1234",
        "123456789012",
        "qwertyuiopas",
        "changemechangeme",
        "administrator",
        "letmeinletmein",
    ];
    if COMMON.contains(&password.to_lowercase().as_str()) {
        return Some("Password is too common");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_password_is_weak() {
        assert!(password_weakness("admin", "short").is_some());
    }

    #[test]
    fn password_containing_username_is_weak() {
        assert!(password_weakness("admin", "xxADMINxx1234").is_some());
    }

    #[test]
    fn long_varied_password_is_accepted() {
        assert_eq!(password_weakness("admin", "correct horse battery"), None);
    }

    #[test]
    fn usernames_follow_one_rule() {
        assert!(valid_username("alice.b-1@corp"));
        assert!(!valid_username(""));
        assert!(!valid_username("has space"));
        assert!(!valid_username(&"a".repeat(65)));
    }

    #[test]
    fn role_round_trips() {
        for r in [Role::Admin, Role::Viewer] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}

/// Where a lifecycle row is. Terminal rows never change again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LifecycleStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl LifecycleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStatus::Pending => "pending",
            LifecycleStatus::Running => "running",
            LifecycleStatus::Succeeded => "succeeded",
            LifecycleStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Running, Self::Succeeded, Self::Failed].into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, LifecycleStatus::Succeeded | LifecycleStatus::Failed)
    }
}

/// What a lifecycle row does to its decky.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Deploy,
    Mutate,
    Teardown,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Deploy => "deploy",
            Operation::Mutate => "mutate",
            Operation::Teardown => "teardown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Deploy, Self::Mutate, Self::Teardown].into_iter().find(|v| v.as_str() == s)
    }
}

/// The step a running operation is in, for progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Image,
    Network,
    Base,
    Services,
    Verify,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Image => "image",
            Stage::Network => "network",
            Stage::Base => "base",
            Stage::Services => "services",
            Stage::Verify => "verify",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Image, Self::Network, Self::Base, Self::Services, Self::Verify]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One lifecycle row on the wire; timestamps are RFC 3339 UTC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRow {
    pub id: String,
    pub decky_name: String,
    pub host_uuid: String,
    pub operation: Operation,
    pub status: LifecycleStatus,
    pub stage: Option<Stage>,
    pub error: Option<String>,
    pub started_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleResponse {
    pub rows: Vec<LifecycleRow>,
}

/// `202` of deploy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployResponse {
    pub message: String,
    pub mode: String,
    pub lifecycle_ids: Vec<String>,
}

/// `202` of mutate and teardown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedResponse {
    pub lifecycle_ids: Vec<String>,
}

/// One decky of `GET /deckies`: its desired state and what the runner last did with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeckyDto {
    pub name: String,
    pub ip: String,
    pub mac: Option<String>,
    pub hostname: String,
    pub distro: String,
    pub archetype: Option<String>,
    pub nmap_os: String,
    pub services: Vec<String>,
    pub service_config: crate::persona::ServiceConfig,
    /// Minutes, or `null`: never mutated automatically.
    pub mutate_interval: Option<u32>,
    pub last_mutated: Option<String>,
    /// `deploying`, `running`, `failed`, `mutating`, `tearing_down`, `teardown_failed`.
    pub state: String,
    /// The latest lifecycle row of this decky, if any.
    pub last_operation: Option<LifecycleRow>,
}

/// A change of a lifecycle row, as published on `decky.<name>.lifecycle`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    pub lifecycle_id: String,
    pub operation: Operation,
    pub status: LifecycleStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One decky a deploy would create, as the wizard previews it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPreview {
    pub name: String,
    pub ip: String,
    pub hostname: String,
    pub services: Vec<String>,
}

// ---- captured data (ingest) ----

/// What a decoy reported; `raw` marks a line that was not a valid event (kept verbatim).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureEventKind {
    Connect,
    Auth,
    Command,
    Request,
    Disconnect,
    Raw,
}

impl CaptureEventKind {
    pub const ALL: [CaptureEventKind; 6] = [
        Self::Connect,
        Self::Auth,
        Self::Command,
        Self::Request,
        Self::Disconnect,
        Self::Raw,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Auth => "auth",
            Self::Command => "command",
            Self::Request => "request",
            Self::Disconnect => "disconnect",
            Self::Raw => "raw",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a bounty holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BountyKind {
    /// A command line typed at a service (FTP, SMTP, Redis, IMAP, ...).
    Command,
    /// Data the attacker handed over to be kept (an SMTP message).
    Upload,
    /// The body of an HTTP request.
    RequestBody,
    /// Protocol bytes that did not parse, or a command too long for its field.
    Payload,
}

impl BountyKind {
    pub const ALL: [BountyKind; 4] = [
        Self::Command,
        Self::Upload,
        Self::RequestBody,
        Self::Payload,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Command => "command",
            Self::Upload => "upload",
            Self::RequestBody => "request_body",
            Self::Payload => "payload",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One row of `GET /logs`; timestamps are RFC 3339 UTC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogDto {
    pub id: i64,
    pub container_id: String,
    /// Which run of the container's process; `seq` restarts with each.
    pub boot: i32,
    /// The decoy's per-process sequence number; `null` on raw rows.
    pub seq: Option<i64>,
    pub decky: String,
    pub service: String,
    pub event: CaptureEventKind,
    pub src_ip: Option<String>,
    pub src_port: Option<u16>,
    pub ts: String,
    /// The event's own fields (username, path, command, payload, ...).
    pub fields: serde_json::Value,
    /// The line as received, when it was not a valid event.
    pub raw: Option<String>,
    pub received_at: String,
}

/// One row of `GET /credentials`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CredentialDto {
    pub id: i64,
    pub log_id: i64,
    pub decky: String,
    pub service: String,
    pub src_ip: String,
    pub username: String,
    /// `""` when the protocol carries no cleartext password; the material is in `extra`.
    pub password: String,
    pub method: Option<String>,
    pub extra: serde_json::Value,
    pub ts: String,
}

/// One row of `GET /attackers`: everything one source address did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackerDto {
    pub src_ip: String,
    pub first_seen: String,
    pub last_seen: String,
    pub event_count: i64,
    pub auth_count: i64,
    pub deckies: Vec<String>,
    pub services: Vec<String>,
}

/// One row of `GET /bounties`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BountyDto {
    pub id: i64,
    pub log_id: i64,
    pub decky: String,
    pub service: String,
    pub src_ip: String,
    pub kind: BountyKind,
    pub content: String,
    pub ts: String,
}

/// A page of captured data, newest first. Pass `next_cursor` back as `cursor` for the next
/// page (stable while rows arrive), or use `offset`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapturedPage<T> {
    pub items: Vec<T>,
    /// Rows matching the filters (all pages).
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Rows per captured-data table: what a purge would delete, or did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedCounts {
    pub logs: u64,
    pub bounties: u64,
    pub credentials: u64,
    pub attackers: u64,
}

/// Published on `decky.<name>.capture` after each stored batch: what it added for that decky.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureBatchEvent {
    pub events: u64,
    pub raw: u64,
    pub credentials: u64,
    pub bounties: u64,
}
