//! `decnet serve` as a service manager starts it: in a session of its own (so a `--nice`
//! reaches the session's autogroup too). Shared by the CLI tests and the fleet bench.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `decnet serve --listen 127.0.0.1:0 EXTRA --data-dir DIR` with `env` (and no inherited
/// `DECNET_NICE`); the child and the URL it says it listens on.
pub fn serve(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_decnet"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("DECNET_NICE")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches nothing of this process.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("decnet serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let Some(url) = line.trim().strip_prefix("decnet listening on ") else {
        let _ = child.kill();
        panic!("decnet did not start: {line:?}");
    };
    let url = url.to_owned();
    (child, url)
}
