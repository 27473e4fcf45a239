//! The runner under failure: the server SIGKILLed mid-deploy, Docker gone mid-deploy.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;

use crate::helpers::ADMIN_INITIAL;
use crate::support::{
    cleanup_host, containers_of, decoy_binary, docker, ids_of, spawn_real, Cleanup, SETTLE,
};

pub(crate) struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `decnet serve` as a real process on a random port; returns it and its API base.
pub(crate) fn start_decnet(data_dir: &Path) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_decnet"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data_dir)
        .env("DECNET_ADMIN_PASSWORD", ADMIN_INITIAL)
        .env("DECNET_DECOY_BIN", decoy_binary())
        .env("DECNET_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start decnet");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let url = line
        .trim()
        .strip_prefix("decnet listening on ")
        .expect("listening line")
        .to_owned();
    (Proc(child), format!("{url}/api/v1"))
}

pub(crate) async fn token(http: &reqwest::Client, api: &str, password: &str) -> String {
    let r: Value = http
        .post(format!("{api}/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_owned()
}

async fn rows(http: &reqwest::Client, api: &str, token: &str, ids: &[String]) -> Vec<Value> {
    let q: Vec<(&str, &str)> = ids.iter().map(|i| ("ids", i.as_str())).collect();
    let r: Value = http
        .get(format!("{api}/deckies/lifecycle"))
        .bearer_auth(token)
        .query(&q)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["rows"].as_array().unwrap().clone()
}

#[tokio::test]
async fn sigkill_mid_deploy_then_restart_converges_with_no_orphans() {
    let data = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let (proc1, api) = start_decnet(data.path());
    let first = token(&http, &api, ADMIN_INITIAL).await;
    let r: Value = http
        .post(format!("{api}/auth/change-password"))
        .bearer_auth(&first)
        .json(&json!({"old_password": ADMIN_INITIAL, "new_password": "restart test passphrase"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = r["access_token"].as_str().unwrap().to_owned();
    let ini = "[general]\nnet=10.231.2.0/24\ngw=10.231.2.1\n[rk]\namount=5\nservices=http,ftp\n";
    let r: Value = http
        .post(format!("{api}/deckies/deploy"))
        .bearer_auth(&admin)
        .json(&json!({"ini_content": ini}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids = ids_of(&r);
    assert_eq!(ids.len(), 5);
    // Let the runner get going, then kill the server where it stands.
    let t = Instant::now();
    loop {
        let rs = rows(&http, &api, &admin, &ids).await;
        if rs.iter().any(|r| r["status"] == "running") || t.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let host = rows(&http, &api, &admin, &ids).await[0]["host_uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let _cleanup = Cleanup(host.clone());
    drop(proc1); // SIGKILL
    let open_at_kill = {
        // The database is the truth: count what the dead server left open.
        let db = format!(
            "sqlite://{}?mode=ro",
            data.path().join("decnet.db").display()
        );
        let conn = sea_orm::Database::connect(db).await.unwrap();
        decnet_server::fleet::count_open(&conn).await.unwrap()
    };
    println!("rows left open by the killed server: {open_at_kill}");

    // A leftover container of a decky nobody wants: the restart must remove it.
    let docker = docker().await;
    plant_orphan(&docker, &host).await;
    // And a network of ours that no decky is on: the restart removes it too.
    let stale = "decnet-bridge-10_231_9_0_24";
    plant_orphan_network(&docker, &host, stale).await;

    let (_proc2, api) = start_decnet(data.path());
    let t = Instant::now();
    let admin = token(&http, &api, "restart test passphrase").await;
    let final_rows = loop {
        let rs = rows(&http, &api, &admin, &ids).await;
        if rs
            .iter()
            .all(|r| r["status"] == "succeeded" || r["status"] == "failed")
            || t.elapsed() > SETTLE
        {
            break rs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("all rows terminal {:?} after restart", t.elapsed());
    for r in &final_rows {
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    // The fleet matches the desired state exactly: 5 bases + 10 services, no orphan.
    let deadline = Instant::now() + Duration::from_secs(20);
    let names = loop {
        let names: Vec<String> = containers_of(&docker, &host)
            .await
            .into_iter()
            .map(|c| c.0)
            .collect();
        if names.len() == 15 || Instant::now() > deadline {
            break names;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut expected = Vec::new();
    for i in 1..=5 {
        expected.push(format!("decnet-rk-0{i}"));
        expected.push(format!("decnet-rk-0{i}-ftp"));
        expected.push(format!("decnet-rk-0{i}-http"));
    }
    assert_eq!(names, expected);
    let deadline = Instant::now() + Duration::from_secs(20);
    let nets = loop {
        let nets = crate::support::networks_of(&docker, &host).await;
        if !nets.iter().any(|n| n == stale) || Instant::now() > deadline {
            break nets;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(nets, ["decnet-bridge-10_231_2_0_24"]);
    cleanup_host(&host);
}

async fn plant_orphan_network(docker: &bollard::Docker, host: &str, name: &str) {
    use bollard::models::NetworkCreateRequest;
    use std::collections::HashMap;
    let req = NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("bridge".into()),
        internal: Some(true),
        labels: Some(HashMap::from([
            ("io.decnet.managed".to_string(), "true".to_string()),
            ("io.decnet.host".to_string(), host.to_string()),
        ])),
        ..Default::default()
    };
    docker.create_network(req).await.unwrap();
}

async fn plant_orphan(docker: &bollard::Docker, host: &str) {
    use bollard::models::ContainerCreateBody;
    use bollard::query_parameters::CreateContainerOptions;
    use std::collections::HashMap;
    let image = docker
        .list_images(None::<bollard::query_parameters::ListImagesOptions>)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .find(|t| t.starts_with("decnet-decoy:"))
        .expect("decoy image");
    let labels = HashMap::from([
        ("io.decnet.managed".to_string(), "true".to_string()),
        ("io.decnet.host".to_string(), host.to_string()),
        ("io.decnet.decky".to_string(), "ghost".to_string()),
        ("io.decnet.role".to_string(), "base".to_string()),
    ]);
    let body = ContainerCreateBody {
        image: Some(image),
        cmd: Some(vec!["idle".into()]),
        labels: Some(labels),
        ..Default::default()
    };
    let opts = CreateContainerOptions {
        name: Some(format!("decnet-ghost-{}", &host[..8])),
        ..Default::default()
    };
    docker.create_container(Some(opts), body).await.unwrap();
}

/// A unix-socket proxy in front of dockerd that the test can cut: Docker "stops" for the
/// server under test without touching the daemon other tests use.
struct DockerProxy {
    path: std::path::PathBuf,
    tasks: JoinSet<()>,
}

impl DockerProxy {
    fn start(path: &Path) -> DockerProxy {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind proxy");
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                conns.spawn(async move {
                    if let Ok(mut upstream) = UnixStream::connect("/var/run/docker.sock").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        DockerProxy {
            path: path.to_owned(),
            tasks,
        }
    }

    /// Every connection cut, the socket gone.
    fn stop(mut self) {
        self.tasks.abort_all();
        let _ = std::fs::remove_file(&self.path);
    }
}

#[tokio::test]
async fn docker_gone_mid_deploy_fails_rows_with_a_clear_reason_and_a_retry_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let proxy = DockerProxy::start(&sock);
    let app = spawn_real(Some(format!("unix://{}", sock.display()))).await;
    let admin = app.admin_token().await;
    let ini = "[general]\nnet=10.231.3.0/24\ngw=10.231.3.1\n[gone]\namount=3\nservices=http\n";
    let ids = app.deploy_ok(&admin, ini, false).await;
    proxy.stop();
    let rows = app.wait_terminal(&admin, &ids, SETTLE).await;
    let host = rows[0]["host_uuid"].as_str().unwrap().to_owned();
    let _cleanup = Cleanup(host.clone());
    let failed: Vec<&Value> = rows.iter().filter(|r| r["status"] == "failed").collect();
    assert!(
        !failed.is_empty(),
        "no row noticed Docker going away: {rows:?}"
    );
    for r in &failed {
        let e = r["error"].as_str().unwrap();
        assert!(
            e.starts_with(&format!(
                "Docker is unreachable at unix://{}",
                sock.display()
            )),
            "{e}"
        );
    }
    println!(
        "{} of 3 rows failed with: {}",
        failed.len(),
        failed[0]["error"]
    );

    // Docker is back: the same fleet, resubmitted, comes up.
    let _proxy = DockerProxy::start(&sock);
    let ids = app.deploy_ok(&admin, ini, true).await;
    let rows = app.wait_terminal(&admin, &ids, SETTLE).await;
    for r in &rows {
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    let docker = docker().await;
    assert_eq!(containers_of(&docker, &host).await.len(), 6);
}

#[tokio::test]
async fn a_restarted_base_gets_its_services_restarted_into_the_new_namespace() {
    let app = spawn_real(None).await;
    let admin = app.admin_token().await;
    let ids = app
        .deploy_ok(
            &admin,
            "[general]\nnet=10.231.4.0/24\ngw=10.231.4.1\n[rs-base]\nservices=http\n",
            false,
        )
        .await;
    let rows = app.wait_terminal(&admin, &ids, SETTLE).await;
    let _cleanup = Cleanup(rows[0]["host_uuid"].as_str().unwrap().to_owned());
    assert_eq!(rows[0]["status"], "succeeded", "{}", rows[0]);
    let docker = docker().await;
    let started = |c: bollard::models::ContainerInspectResponse| {
        c.state.and_then(|s| s.started_at).unwrap_or_default()
    };
    let before = started(
        docker
            .inspect_container("decnet-rs-base-http", None)
            .await
            .unwrap(),
    );
    docker
        .restart_container(
            "decnet-rs-base",
            None::<bollard::query_parameters::RestartContainerOptions>,
        )
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = started(
            docker
                .inspect_container("decnet-rs-base-http", None)
                .await
                .unwrap(),
        );
        let answers = http
            .get("http://10.231.4.2/")
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok();
        if now != before && answers {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "services were not restarted into the base's new namespace"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
