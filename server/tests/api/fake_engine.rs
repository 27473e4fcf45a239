//! A Docker double for the runner's state machine: records every call, fails or hangs on
//! request, and keeps a tiny model of running containers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use decnet_server::engine::{DeckyRuntime, Engine, EngineError, Managed, NetSpec, ServiceSpec};

#[derive(Default)]
pub struct FakeEngine {
    pub calls: Mutex<Vec<String>>,
    /// Deckies whose base fails to start.
    pub fail_base: Mutex<BTreeSet<String>>,
    /// When set, every base start waits this long.
    pub base_delay: Mutex<Option<Duration>>,
    /// Deckies with containers (the model).
    pub running: Mutex<BTreeSet<String>>,
    pub unreachable: Mutex<bool>,
    /// Base starts in progress now, and the most seen at once.
    pub bases_in_flight: Mutex<(usize, usize)>,
    /// When set, every network removal takes this long (after it is recorded).
    pub network_removal_delay: Mutex<Option<Duration>>,
    /// Managed networks (the model), and the network each decky's base is on.
    pub networks: Mutex<BTreeSet<String>>,
    pub attached: Mutex<BTreeMap<String, String>>,
}

impl FakeEngine {
    fn record(&self, s: String) -> Result<(), EngineError> {
        self.calls.lock().unwrap().push(s);
        if *self.unreachable.lock().unwrap() {
            return Err(EngineError::Unreachable {
                socket: "unix:///fake.sock".into(),
                cause: "connection refused".into(),
            });
        }
        Ok(())
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl Engine for FakeEngine {
    async fn ensure_image(&self) -> Result<String, EngineError> {
        self.record("image".into())?;
        Ok("decnet-decoy:fake".into())
    }

    async fn ensure_network(&self, net: &NetSpec) -> Result<String, EngineError> {
        self.record(format!("network {}", net.subnet))?;
        self.networks.lock().unwrap().insert(net.name());
        Ok(net.name())
    }

    async fn start_base(
        &self,
        d: &DeckyRuntime,
        _image: &str,
        net: &str,
    ) -> Result<String, EngineError> {
        self.record(format!("base {} {}", d.name, d.ip))?;
        let delay = *self.base_delay.lock().unwrap();
        if let Some(delay) = delay {
            {
                let mut f = self.bases_in_flight.lock().unwrap();
                f.0 += 1;
                f.1 = f.1.max(f.0);
            }
            tokio::time::sleep(delay).await;
            self.bases_in_flight.lock().unwrap().0 -= 1;
        }
        if self.fail_base.lock().unwrap().contains(&d.name) {
            return Err(EngineError::Failed(format!(
                "creating decnet-{}: Docker answered 500: boom",
                d.name
            )));
        }
        if !self.networks.lock().unwrap().contains(net) {
            return Err(EngineError::Failed(format!("network {net} not found")));
        }
        self.running.lock().unwrap().insert(d.name.clone());
        self.attached
            .lock()
            .unwrap()
            .insert(d.name.clone(), net.to_owned());
        Ok(format!("base-{}", d.name))
    }

    async fn start_service(
        &self,
        d: &DeckyRuntime,
        _b: &str,
        _i: &str,
        s: &ServiceSpec,
    ) -> Result<String, EngineError> {
        self.record(format!("service {} {}", d.name, s.slug))?;
        Ok(format!("svc-{}-{}", d.name, s.slug))
    }

    async fn remove_services(&self, decky: &str) -> Result<(), EngineError> {
        self.record(format!("remove-services {decky}"))
    }

    async fn remove_decky(&self, decky: &str) -> Result<(), EngineError> {
        self.record(format!("remove {decky}"))?;
        self.running.lock().unwrap().remove(decky);
        self.attached.lock().unwrap().remove(decky);
        Ok(())
    }

    async fn verify(&self, d: &DeckyRuntime) -> Result<(), EngineError> {
        self.record(format!("verify {}", d.name))
    }

    async fn list_managed(&self) -> Result<Vec<Managed>, EngineError> {
        Ok(self
            .running
            .lock()
            .unwrap()
            .iter()
            .map(|d| Managed {
                id: d.clone(),
                name: format!("decnet-{d}"),
                decky: d.clone(),
                role: "base".into(),
                running: true,
            })
            .collect())
    }

    async fn restart_services(&self, decky: &str) -> Result<(), EngineError> {
        self.record(format!("restart-services {decky}"))
    }

    async fn remove_network(&self, name: &str) -> Result<bool, EngineError> {
        self.record(format!("remove-network {name}"))?;
        let delay = *self.network_removal_delay.lock().unwrap();
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if self.attached.lock().unwrap().values().any(|n| n == name) {
            return Ok(false);
        }
        Ok(self.networks.lock().unwrap().remove(name))
    }

    async fn managed_networks(&self) -> Result<Vec<String>, EngineError> {
        Ok(self.networks.lock().unwrap().iter().cloned().collect())
    }
}
