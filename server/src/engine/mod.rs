//! The container engine as the runner sees it: a small trait, so the runner's state machine
//! can be tested with a double, and [`docker::DockerEngine`], the real one (bollard).

pub mod docker;
pub mod image;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use async_trait::async_trait;

/// Labels that mark a container or network as ours. Nothing without them is ever touched.
pub const LABEL_MANAGED: &str = "io.decnet.managed";
pub const LABEL_DECKY: &str = "io.decnet.decky";
pub const LABEL_ROLE: &str = "io.decnet.role";
pub const LABEL_SERVICE: &str = "io.decnet.service";
/// The decnet server (host uuid) that owns it: servers sharing an engine never touch each
/// other's containers.
pub const LABEL_HOST: &str = "io.decnet.host";

/// Why an engine call failed. `Unreachable` means nothing was done; say so to the operator.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("Docker is unreachable at {socket}: {cause}")]
    Unreachable { socket: String, cause: String },
    #[error("{0}")]
    Failed(String),
}

/// The network a decky attaches to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NetSpec {
    pub subnet: String,
    pub gateway: Ipv4Addr,
    /// `bridge` (isolated), `macvlan` or `ipvlan`.
    pub driver: String,
    /// Host NIC for macvlan/ipvlan.
    pub interface: Option<String>,
}

impl NetSpec {
    /// One managed network per subnet and driver.
    pub fn name(&self) -> String {
        network_name(&self.driver, &self.subnet)
    }
}

/// The managed network's name for a driver and subnet.
pub fn network_name(driver: &str, subnet: &str) -> String {
    format!("decnet-{driver}-{}", subnet.replace(['/', '.'], "_"))
}

/// A bring-your-own service: an image already on the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomImage {
    pub image: String,
    pub exec: Option<Vec<String>>,
}

/// One service container of a decky.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub slug: String,
    /// JSON object of persona keys (passed as `DECNET_PERSONA`).
    pub persona: String,
    /// `Some` for bring-your-own services.
    pub custom: Option<CustomImage>,
}

/// Everything the engine needs to realise one decky.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeckyRuntime {
    pub name: String,
    pub ip: Ipv4Addr,
    pub hostname: String,
    pub nmap_os: String,
    pub sysctls: BTreeMap<String, String>,
    pub net: NetSpec,
    pub services: Vec<ServiceSpec>,
}

/// The decoy's command line for service `slug` of a decky running `all` services: its
/// standard ports, unless it gives one up to a sibling (`--port 0`, see
/// [`decnet_common::catalogue::ports_beside`]).
pub fn serve_args<'a>(slug: &str, all: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut args = vec!["serve".to_owned(), slug.to_owned()];
    let others = all.into_iter().filter(|s| *s != slug);
    if let Some(ports) = decnet_common::catalogue::ports_beside(slug, others) {
        for p in ports {
            args.push("--port".to_owned());
            args.push(p.to_string());
        }
    }
    args
}

/// A container carrying our labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Managed {
    pub id: String,
    pub name: String,
    pub decky: String,
    pub role: String,
    pub running: bool,
}

#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// The decoy image, built locally when missing; returns its reference.
    async fn ensure_image(&self) -> Result<String, EngineError>;
    /// The managed network for `net`, created when missing; returns its id.
    async fn ensure_network(&self, net: &NetSpec) -> Result<String, EngineError>;
    /// Creates and starts the base container; returns its id.
    async fn start_base(
        &self,
        d: &DeckyRuntime,
        image: &str,
        network_id: &str,
    ) -> Result<String, EngineError>;
    /// Creates and starts one service container in the base's network namespace.
    async fn start_service(
        &self,
        d: &DeckyRuntime,
        base_id: &str,
        image: &str,
        svc: &ServiceSpec,
    ) -> Result<String, EngineError>;
    /// Removes the decky's service containers (not the base).
    async fn remove_services(&self, decky: &str) -> Result<(), EngineError>;
    /// Removes every container of the decky: services first, then the base.
    async fn remove_decky(&self, decky: &str) -> Result<(), EngineError>;
    /// Checks that the base and every service run and the base holds the decky's IP.
    async fn verify(&self, d: &DeckyRuntime) -> Result<(), EngineError>;
    /// Every container carrying our labels.
    async fn list_managed(&self) -> Result<Vec<Managed>, EngineError>;
    /// Restarts the decky's service containers (after its base restarted).
    async fn restart_services(&self, decky: &str) -> Result<(), EngineError>;
    /// Removes this server's managed network `name` unless a container is still attached;
    /// true when it was removed. One that is absent, in use or not ours is left (false).
    async fn remove_network(&self, name: &str) -> Result<bool, EngineError>;
    /// The names of this server's managed networks.
    async fn managed_networks(&self) -> Result<Vec<String>, EngineError>;
}
