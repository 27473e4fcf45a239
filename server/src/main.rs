//! `decnet`: the fleet control plane of a honeypot deception network.

use clap::{Parser, Subcommand};
use decnet_server::ServeConfig;

#[derive(Parser)]
#[command(
    name = "decnet",
    version,
    about = "Fleet control plane of a honeypot deception network"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API and the web console.
    Serve(Box<ServeConfig>),
    /// Check a fleet INI; prints every error with its line, exits non-zero on any.
    Validate {
        file: std::path::PathBuf,
        /// One JSON object on stdout: {valid, errors:[{kind, message, line}]}.
        #[arg(long)]
        json: bool,
    },
    /// Print the docker-compose YAML equivalent of a fleet INI.
    Compose {
        file: std::path::PathBuf,
        /// The decoy binary whose image the YAML names (for its content tag).
        #[arg(long, env = "DECNET_DECOY_BIN")]
        decoy_binary: Option<std::path::PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DECNET_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Command::Serve(cfg) = &cli.command {
        // Before the runtime: its threads inherit the value.
        match decnet_server::priority::apply_setting(cfg.nice) {
            Ok((_, decnet_server::priority::Applied::Unchanged)) => {}
            Ok((nice, how)) => tracing::info!(nice, "CPU priority set ({how:?})"),
            Err(e) => {
                eprintln!("decnet: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("decnet: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(cfg) => rt.block_on(serve(*cfg)),
        Command::Validate { file, json } => match decnet_server::cli::validate(&file, json) {
            Ok(true) => Ok(()),
            Ok(false) => return std::process::ExitCode::FAILURE,
            Err(e) => Err(e.into()),
        },
        Command::Compose { file, decoy_binary } => {
            let decoy =
                decoy_binary.unwrap_or_else(decnet_server::engine::image::default_decoy_path);
            decnet_server::cli::compose(&file, &decoy)
                .map(|y| print!("{y}"))
                .map_err(Into::into)
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("decnet: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(cfg: ServeConfig) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = decnet_server::build(cfg).await?;
    let addr = server.local_addr()?;
    println!("decnet listening on http://{addr}");
    if let Some(pw) = &server.generated_admin_password {
        // Printed once, on stdout only: it is never stored in clear or logged.
        println!(
            "bootstrap admin: user '{}', password '{pw}' (you must change it at first sign-in)",
            server.admin_user
        );
    }
    server.run().await?;
    Ok(())
}

/// glibc keeps freed memory in per-thread arenas and raises its mmap threshold after large
/// frees, so each argon2 hash (19 MiB) would stay resident in whichever thread ran it. Two
/// arenas and a fixed threshold hand such blocks back to the kernel.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
