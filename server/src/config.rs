//! Command-line and environment configuration of `decnet serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "DECNET_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// Directory for the SQLite database and the generated JWT secret.
    #[arg(long, env = "DECNET_DATA_DIR", default_value = "./decnet-data")]
    pub data_dir: PathBuf,
    /// Database URL (sqlite://... or postgres://...). Default: SQLite in the data dir.
    #[arg(long = "db", env = "DECNET_DB_URL")]
    pub db_url: Option<String>,
    /// Directory holding the built site (`pkg/decnet.js`, `.wasm`, `.css`).
    #[arg(long, env = "DECNET_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Username of the bootstrap admin, created when no user exists.
    #[arg(long, env = "DECNET_ADMIN_USER", default_value = "admin")]
    pub admin_user: String,
    /// Password of the bootstrap admin; generated and printed once when unset.
    #[arg(long, env = "DECNET_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// HS256 secret for session tokens (at least 32 bytes); generated into the data dir when unset.
    #[arg(long, env = "DECNET_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    #[arg(long, env = "DECNET_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,
    /// The static decoy binary packaged into the decoy image (default: beside `decnet`, then
    /// `target/x86_64-unknown-linux-musl/release/decnet-decoy`).
    #[arg(long, env = "DECNET_DECOY_BIN")]
    pub decoy_binary: Option<PathBuf>,
    /// Docker Engine socket (`unix:///path` or a plain path).
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    pub docker_host: String,
    /// Deckies the runner works on at once.
    #[arg(long, env = "DECNET_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    /// Docker calls in flight at once across all deckies; 0 means one per CPU. More than the
    /// host's cores buys little speed and makes a deploy starve the console and the decoys.
    #[arg(long, env = "DECNET_DOCKER_PARALLELISM", default_value_t = 0)]
    pub docker_parallelism: usize,
    /// Seconds after which an unfinished lifecycle row is failed by the watchdog.
    #[arg(long, env = "DECNET_OP_DEADLINE", default_value_t = 600)]
    pub op_deadline: u64,
    /// Nice value of the server's threads (and of its session when it leads one), -20..19.
    /// Unset: -10 when the process may (CAP_SYS_NICE), else unchanged; a value given must
    /// take effect or the server does not start.
    #[arg(long, env = "DECNET_NICE", allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-20..=19))]
    pub nice: Option<i32>,
}

impl ServeConfig {
    /// A config for tests and tools: everything default under `data_dir`.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            db_url: None,
            site_root: PathBuf::from("target/site"),
            admin_user: "admin".into(),
            admin_password: None,
            jwt_secret: None,
            cookie_secure: false,
            decoy_binary: None,
            docker_host: "unix:///var/run/docker.sock".into(),
            concurrency: 4,
            docker_parallelism: 0,
            op_deadline: 600,
            nice: None,
        }
    }

    pub fn database_url(&self) -> String {
        match &self.db_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("decnet.db").display()
            ),
        }
    }
}
