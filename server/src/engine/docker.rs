//! [`Engine`] on the Docker Engine API (bollard).
//!
//! Connects lazily and negotiates the API version (the daemon here speaks 1.41), so a
//! server started before dockerd works once dockerd is up. Every container it creates is
//! hardened: non-root, read-only root fs, no new privileges, all capabilities dropped,
//! capped memory and pids, a low CPU weight (services also a CPU quota), json-file logs with
//! a size cap, no Docker socket.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, HostConfigLogConfig,
    Ipam, IpamConfig, NetworkCreateRequest, NetworkingConfig, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, ListNetworksOptions,
    RemoveContainerOptions, RestartContainerOptions, StartContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::sync::Mutex;

use super::image::{DecoyBinary, BINARY_IN_IMAGE, IMAGE_REPO};
use super::{
    DeckyRuntime, Engine, EngineError, Managed, NetSpec, ServiceSpec, LABEL_DECKY, LABEL_HOST,
    LABEL_MANAGED, LABEL_ROLE, LABEL_SERVICE,
};

/// Memory and pids caps: a decoy is tiny; an attacker must not grow it.
const BASE_MEMORY: i64 = 16 * 1024 * 1024;
const SERVICE_MEMORY: i64 = 64 * 1024 * 1024;
const BASE_PIDS: i64 = 16;
const SERVICE_PIDS: i64 = 128;
const NOBODY: &str = "65534:65534";
/// CPU weight of every decoy container: a quarter of Docker's default, so a decoy under a
/// flood (or a fleet starting) yields the CPU to the control plane and the host.
const CPU_SHARES: i64 = 256;
/// A service container never uses more than half a CPU.
const SERVICE_NANO_CPUS: i64 = 500_000_000;

pub struct DockerEngine {
    socket: String,
    host: String,
    decoy_path: PathBuf,
    client: Mutex<Option<Docker>>,
    /// Serialises image import and network creation (two deckies must not race to create one)
    /// and remembers what exists: the image (by the binary's size and mtime) and network ids.
    setup: Mutex<Known>,
    /// Cleared when the engine refuses CPU quotas (no CFS bandwidth control): then service
    /// containers start without one, and only the weight applies.
    cpu_quota: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Known {
    /// (binary size, mtime) -> image reference present on the engine.
    image: Option<((u64, std::time::SystemTime), String)>,
    networks: HashMap<String, String>,
}

impl DockerEngine {
    /// `host`: this server's uuid, stamped on and required of everything it manages.
    pub fn new(socket: String, decoy_path: PathBuf, host: String) -> Self {
        DockerEngine {
            socket,
            host,
            decoy_path,
            client: Mutex::new(None),
            setup: Mutex::new(Known::default()),
            cpu_quota: std::sync::atomic::AtomicBool::new(true),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn unreachable(&self, cause: impl std::fmt::Display) -> EngineError {
        EngineError::Unreachable {
            socket: self.socket.clone(),
            cause: cause.to_string(),
        }
    }

    /// A connected client, (re)connecting and negotiating the version when needed.
    pub async fn docker(&self) -> Result<Docker, EngineError> {
        let mut guard = self.client.lock().await;
        if let Some(d) = guard.as_ref() {
            return Ok(d.clone());
        }
        let path = self.socket.strip_prefix("unix://").unwrap_or(&self.socket);
        let d = Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION)
            .map_err(|e| self.unreachable(e))?;
        let d = tokio::time::timeout(Duration::from_secs(5), d.negotiate_version())
            .await
            .map_err(|_| self.unreachable("no answer within 5 s"))?
            .map_err(|e| self.unreachable(e))?;
        *guard = Some(d.clone());
        Ok(d)
    }

    /// Maps a bollard error: transport failures mean Docker is unreachable (and the client
    /// is dropped so the next call reconnects); API errors keep the daemon's message.
    async fn err(&self, what: &str, e: bollard::errors::Error) -> EngineError {
        use bollard::errors::Error as E;
        // After any failure, believe nothing cached: an image or network may be gone.
        *self.setup.lock().await = Known::default();
        match e {
            E::DockerResponseServerError {
                status_code,
                message,
            } => EngineError::Failed(format!("{what}: Docker answered {status_code}: {message}")),
            other => {
                *self.client.lock().await = None;
                self.unreachable(format!("{what}: {other}"))
            }
        }
    }

    async fn containers_of(&self, decky: Option<&str>) -> Result<Vec<Managed>, EngineError> {
        let docker = self.docker().await?;
        let mut labels = vec![
            format!("{LABEL_MANAGED}=true"),
            format!("{LABEL_HOST}={}", self.host),
        ];
        if let Some(d) = decky {
            labels.push(format!("{LABEL_DECKY}={d}"));
        }
        let opts = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_string(), labels)])),
            ..Default::default()
        };
        let list = match docker.list_containers(Some(opts)).await {
            Ok(l) => l,
            Err(e) => return Err(self.err("listing containers", e).await),
        };
        Ok(list
            .into_iter()
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                Managed {
                    id: c.id.unwrap_or_default(),
                    name: c
                        .names
                        .and_then(|n| n.first().cloned())
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .into(),
                    decky: labels.get(LABEL_DECKY).cloned().unwrap_or_default(),
                    role: labels.get(LABEL_ROLE).cloned().unwrap_or_default(),
                    running: c.state.map(|s| s.to_string() == "running").unwrap_or(false),
                }
            })
            .collect())
    }

    async fn remove(&self, docker: &Docker, c: &Managed) -> Result<(), EngineError> {
        let opts = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match docker.remove_container(&c.id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(self.err(&format!("removing {}", c.name), e).await),
        }
    }

    /// This server's managed networks, `name` only when given: (name, id).
    async fn own_networks(
        &self,
        docker: &Docker,
        name: Option<&str>,
    ) -> Result<Vec<(String, String)>, bollard::errors::Error> {
        let mut filters = HashMap::from([(
            "label".to_string(),
            vec![
                format!("{LABEL_MANAGED}=true"),
                format!("{LABEL_HOST}={}", self.host),
            ],
        )]);
        if let Some(n) = name {
            filters.insert("name".to_string(), vec![n.to_owned()]);
        }
        let opts = ListNetworksOptions {
            filters: Some(filters),
        };
        Ok(docker
            .list_networks(Some(opts))
            .await?
            .into_iter()
            .filter_map(|n| Some((n.name?, n.id?)))
            // The name filter matches substrings.
            .filter(|(n, _)| name.is_none_or(|want| want == n))
            .collect())
    }

    async fn create_and_start(
        &self,
        name: &str,
        mut body: ContainerCreateBody,
    ) -> Result<String, EngineError> {
        use std::sync::atomic::Ordering;
        let docker = self.docker().await?;
        let opts = || CreateContainerOptions {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        if !self.cpu_quota.load(Ordering::Relaxed) {
            if let Some(h) = body.host_config.as_mut() {
                h.nano_cpus = None;
            }
        }
        let quota = body
            .host_config
            .as_ref()
            .and_then(|h| h.nano_cpus)
            .is_some();
        let created = match docker.create_container(Some(opts()), body.clone()).await {
            Ok(c) => c,
            Err(e) if quota && e.to_string().contains("NanoCPUs") => {
                tracing::warn!("the engine refuses CPU quotas ({e}); decoys get only a CPU weight");
                self.cpu_quota.store(false, Ordering::Relaxed);
                if let Some(h) = body.host_config.as_mut() {
                    h.nano_cpus = None;
                }
                match docker.create_container(Some(opts()), body).await {
                    Ok(c) => c,
                    Err(e) => return Err(self.err(&format!("creating {name}"), e).await),
                }
            }
            Err(e) => return Err(self.err(&format!("creating {name}"), e).await),
        };
        if let Err(e) = docker
            .start_container(&created.id, None::<StartContainerOptions>)
            .await
        {
            return Err(self.err(&format!("starting {name}"), e).await);
        }
        Ok(created.id)
    }
}

fn labels(host: &str, decky: &str, role: &str, service: Option<&str>) -> HashMap<String, String> {
    let mut l = HashMap::from([
        (LABEL_MANAGED.to_string(), "true".to_string()),
        (LABEL_HOST.to_string(), host.to_string()),
        (LABEL_DECKY.to_string(), decky.to_string()),
        (LABEL_ROLE.to_string(), role.to_string()),
    ]);
    if let Some(s) = service {
        l.insert(LABEL_SERVICE.to_string(), s.to_string());
    }
    l
}

/// The hardening every decoy container gets.
fn hardened(memory: i64, pids: i64) -> HostConfig {
    HostConfig {
        memory: Some(memory),
        memory_swap: Some(memory),
        pids_limit: Some(pids),
        cpu_shares: Some(CPU_SHARES),
        readonly_rootfs: Some(true),
        security_opt: Some(vec!["no-new-privileges:true".into()]),
        cap_drop: Some(vec!["ALL".into()]),
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        }),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".into(), "10m".into()),
                ("max-file".into(), "3".into()),
            ])),
        }),
        ..Default::default()
    }
}

pub fn base_name(decky: &str) -> String {
    format!("decnet-{decky}")
}

pub fn service_name(decky: &str, service: &str) -> String {
    format!("decnet-{decky}-{service}")
}

#[async_trait]
impl Engine for DockerEngine {
    async fn ensure_image(&self) -> Result<String, EngineError> {
        let stamp = std::fs::metadata(&self.decoy_path)
            .and_then(|m| Ok((m.len(), m.modified()?)))
            .map_err(|e| {
                EngineError::Failed(format!(
                    "cannot read the decoy binary {}: {e}",
                    self.decoy_path.display()
                ))
            })?;
        if let Some((known, reference)) = &self.setup.lock().await.image {
            if *known == stamp {
                return Ok(reference.clone());
            }
        }
        let path = self.decoy_path.clone();
        let bin = tokio::task::spawn_blocking(move || DecoyBinary::load(&path))
            .await
            .map_err(|e| EngineError::Failed(e.to_string()))?
            .map_err(EngineError::Failed)?;
        let reference = bin.reference();
        let docker = self.docker().await?;
        let mut known = self.setup.lock().await;
        if docker.inspect_image(&reference).await.is_ok() {
            known.image = Some((stamp, reference.clone()));
            return Ok(reference);
        }
        let tar = bin.rootfs_tar().map_err(EngineError::Failed)?;
        let opts = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(IMAGE_REPO.into()),
            tag: Some(bin.tag.clone()),
            changes: vec![
                format!("ENTRYPOINT [\"{BINARY_IN_IMAGE}\"]"),
                format!("USER {NOBODY}"),
            ],
            ..Default::default()
        };
        let mut stream =
            docker.create_image(Some(opts), Some(bollard::body_full(tar.into())), None);
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                drop(known);
                return Err(self.err("importing the decoy image", e).await);
            }
        }
        known.image = Some((stamp, reference.clone()));
        Ok(reference)
    }

    async fn ensure_network(&self, net: &NetSpec) -> Result<String, EngineError> {
        let docker = self.docker().await?;
        let mut known = self.setup.lock().await;
        let name = net.name();
        if let Some(id) = known.networks.get(&name) {
            return Ok(id.clone());
        }
        // API 1.41 allows two networks with one name: look before creating, refer by id.
        let opts = ListNetworksOptions {
            filters: Some(HashMap::from([("name".to_string(), vec![name.clone()])])),
        };
        let existing = match docker.list_networks(Some(opts)).await {
            Ok(l) => l,
            Err(e) => {
                drop(known);
                return Err(self.err("listing networks", e).await);
            }
        };
        if let Some(id) = existing
            .into_iter()
            .find(|n| n.name.as_deref() == Some(&name))
            .and_then(|n| n.id)
        {
            known.networks.insert(name, id.clone());
            return Ok(id);
        }
        let mut options = HashMap::new();
        if let Some(iface) = &net.interface {
            options.insert("parent".to_string(), iface.clone());
        }
        let req = NetworkCreateRequest {
            name: name.clone(),
            driver: Some(net.driver.clone()),
            // An isolated bridge: deckies cannot reach out through the host.
            internal: Some(net.driver == "bridge"),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some(net.subnet.clone()),
                    gateway: Some(net.gateway.to_string()),
                    ..Default::default()
                }]),
                options: None,
            }),
            options: Some(options),
            labels: Some(HashMap::from([
                (LABEL_MANAGED.to_string(), "true".to_string()),
                (LABEL_HOST.to_string(), self.host.clone()),
            ])),
            ..Default::default()
        };
        match docker.create_network(req).await {
            Ok(r) => {
                known.networks.insert(name, r.id.clone());
                Ok(r.id)
            }
            Err(e) => {
                drop(known);
                Err(self
                    .err(&format!("creating network {name} ({})", net.subnet), e)
                    .await)
            }
        }
    }

    async fn start_base(
        &self,
        d: &DeckyRuntime,
        image: &str,
        network_id: &str,
    ) -> Result<String, EngineError> {
        let mut sysctls: HashMap<String, String> = d.sysctls.clone().into_iter().collect();
        // Services bind their real (low) ports without any capability.
        sysctls.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        let mut host = hardened(BASE_MEMORY, BASE_PIDS);
        host.network_mode = Some(network_id.to_owned());
        host.sysctls = Some(sysctls);
        let endpoint = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(d.ip.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            cmd: Some(vec!["idle".into()]),
            hostname: Some(d.hostname.clone()),
            user: Some(NOBODY.into()),
            labels: Some(labels(&self.host, &d.name, "base", None)),
            host_config: Some(host),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(network_id.to_owned(), endpoint)])),
            }),
            ..Default::default()
        };
        self.create_and_start(&base_name(&d.name), body).await
    }

    async fn start_service(
        &self,
        d: &DeckyRuntime,
        base_id: &str,
        image: &str,
        svc: &ServiceSpec,
    ) -> Result<String, EngineError> {
        let mut host = hardened(SERVICE_MEMORY, SERVICE_PIDS);
        host.nano_cpus = Some(SERVICE_NANO_CPUS);
        host.network_mode = Some(format!("container:{base_id}"));
        let env = vec![
            format!("DECNET_DECKY={}", d.name),
            format!("DECNET_HOSTNAME={}", d.hostname),
            format!("DECNET_OS={}", d.nmap_os),
            format!("DECNET_PERSONA={}", svc.persona),
        ];
        let (image, cmd, entrypoint) = match &svc.custom {
            Some(c) => (
                c.image.clone(),
                c.exec.clone(),
                c.exec.as_ref().map(|_| Vec::new()),
            ),
            None => (
                image.to_owned(),
                Some(super::serve_args(
                    &svc.slug,
                    d.services.iter().map(|s| s.slug.as_str()),
                )),
                None,
            ),
        };
        let body = ContainerCreateBody {
            image: Some(image),
            cmd,
            entrypoint,
            env: Some(env),
            user: Some(NOBODY.into()),
            labels: Some(labels(&self.host, &d.name, "service", Some(&svc.slug))),
            host_config: Some(host),
            ..Default::default()
        };
        self.create_and_start(&service_name(&d.name, &svc.slug), body)
            .await
    }

    async fn remove_services(&self, decky: &str) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        for c in self
            .containers_of(Some(decky))
            .await?
            .iter()
            .filter(|c| c.role != "base")
        {
            self.remove(&docker, c).await?;
        }
        Ok(())
    }

    async fn remove_decky(&self, decky: &str) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        let all = self.containers_of(Some(decky)).await?;
        // Services first: removing a base under running services orphans them.
        for c in all.iter().filter(|c| c.role != "base") {
            self.remove(&docker, c).await?;
        }
        for c in all.iter().filter(|c| c.role == "base") {
            self.remove(&docker, c).await?;
        }
        Ok(())
    }

    async fn verify(&self, d: &DeckyRuntime) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        let base = match docker.inspect_container(&base_name(&d.name), None).await {
            Ok(b) => b,
            Err(e) => return Err(self.err("inspecting the base", e).await),
        };
        let running = base.state.as_ref().and_then(|s| s.running).unwrap_or(false);
        if !running {
            return Err(EngineError::Failed(format!(
                "base container of {} is not running",
                d.name
            )));
        }
        let ips: Vec<String> = base
            .network_settings
            .and_then(|n| n.networks)
            .map(|n| n.into_values().filter_map(|e| e.ip_address).collect())
            .unwrap_or_default();
        if !ips.iter().any(|ip| ip == &d.ip.to_string()) {
            return Err(EngineError::Failed(format!(
                "base of {} holds {ips:?}, not {}",
                d.name, d.ip
            )));
        }
        let present = self.containers_of(Some(&d.name)).await?;
        for s in &d.services {
            let name = service_name(&d.name, &s.slug);
            match present.iter().find(|c| c.name == name) {
                Some(c) if c.running => {}
                Some(_) => {
                    return Err(EngineError::Failed(format!(
                        "service {} of {} exited",
                        s.slug, d.name
                    )))
                }
                None => {
                    return Err(EngineError::Failed(format!(
                        "service {} of {} is missing",
                        s.slug, d.name
                    )))
                }
            }
        }
        Ok(())
    }

    async fn list_managed(&self) -> Result<Vec<Managed>, EngineError> {
        self.containers_of(None).await
    }

    async fn remove_network(&self, name: &str) -> Result<bool, EngineError> {
        let docker = self.docker().await?;
        // Held throughout: no deploy through this engine is handed the id being removed.
        let mut known = self.setup.lock().await;
        known.networks.remove(name);
        let found = match self.own_networks(&docker, Some(name)).await {
            Ok(found) => found,
            Err(e) => {
                drop(known);
                return Err(self.err("listing networks", e).await);
            }
        };
        let Some((_, id)) = found.into_iter().next() else {
            return Ok(false);
        };
        match docker.remove_network(&id).await {
            Ok(()) => Ok(true),
            // Docker refuses (403 "has active endpoints") while a container is attached, even
            // one of another server; or it is gone meanwhile: leave it.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 403 | 404 | 409,
                message,
            }) => {
                tracing::debug!(network = %name, "not removed: {message}");
                Ok(false)
            }
            Err(e) => {
                drop(known);
                Err(self.err(&format!("removing network {name}"), e).await)
            }
        }
    }

    async fn managed_networks(&self) -> Result<Vec<String>, EngineError> {
        let docker = self.docker().await?;
        match self.own_networks(&docker, None).await {
            Ok(list) => Ok(list.into_iter().map(|(name, _)| name).collect()),
            Err(e) => Err(self.err("listing networks", e).await),
        }
    }

    async fn restart_services(&self, decky: &str) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        for c in self
            .containers_of(Some(decky))
            .await?
            .iter()
            .filter(|c| c.role != "base")
        {
            if let Err(e) = docker
                .restart_container(&c.id, None::<RestartContainerOptions>)
                .await
            {
                return Err(self.err(&format!("restarting {}", c.name), e).await);
            }
        }
        Ok(())
    }
}
