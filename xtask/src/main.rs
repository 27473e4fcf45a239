//! `cargo run -p xtask -- <command>`: builds what plain cargo cannot.
//!
//! `site`: the WASM bundle and stylesheet under `target/site/pkg/` (what cargo-leptos would
//! produce), running wasm-bindgen as a library so its version always equals the one in
//! Cargo.lock and nothing has to be installed or downloaded.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const OUTPUT_NAME: &str = "decnet";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("site") => site(args.iter().any(|a| a == "--debug")),
        _ => {
            eprintln!("usage: cargo run -p xtask -- site [--debug]");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn site(debug: bool) -> Result<(), String> {
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let profile = if debug { "dev" } else { "wasm-release" };
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .args([
            "build",
            "-p",
            "frontend",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            profile,
        ])
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the frontend failed ({status})"));
    }
    let dir = if debug { "debug" } else { profile };
    let wasm = target
        .join("wasm32-unknown-unknown")
        .join(dir)
        .join("frontend.wasm");
    let pkg = root.join("target/site/pkg");
    std::fs::create_dir_all(&pkg).map_err(|e| format!("creating {}: {e}", pkg.display()))?;

    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen
        .input_path(&wasm)
        .out_name(OUTPUT_NAME)
        .web(true)
        .map_err(|e| e.to_string())?
        .typescript(false)
        .remove_name_section(true)
        .remove_producers_section(true)
        .generate(&pkg)
        .map_err(|e| format!("wasm-bindgen on {}: {e}", wasm.display()))?;
    // Leptos asks for `<name>.wasm` when LEPTOS_OUTPUT_NAME is set at compile time.
    let bg = pkg.join(format!("{OUTPUT_NAME}_bg.wasm"));
    let out = pkg.join(format!("{OUTPUT_NAME}.wasm"));
    std::fs::rename(&bg, &out).map_err(|e| format!("renaming {}: {e}", bg.display()))?;
    if !debug {
        optimise(&root, &out)?;
    }

    let css = root.join("style/main.css");
    std::fs::copy(&css, pkg.join(format!("{OUTPUT_NAME}.css")))
        .map_err(|e| format!("copying {}: {e}", css.display()))?;
    copy_dir(&root.join("public"), &root.join("target/site"))?;

    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    println!(
        "site ready in {} ({} KB wasm, profile {profile})",
        root.join("target/site").display(),
        size / 1024
    );
    Ok(())
}

/// `wasm-opt -Oz` from npm's binaryen 132 in `.tools/` (scripts/setup.sh installs it). Never
/// Debian's binaryen: its wasm-opt 108 produces a bundle that fails to hydrate. Without it the
/// bundle works, only larger.
fn optimise(root: &Path, wasm: &Path) -> Result<(), String> {
    let tool = root.join(".tools/node_modules/.bin/wasm-opt");
    if !tool.exists() {
        eprintln!(
            "xtask: {} missing; skipping wasm-opt (run scripts/setup.sh)",
            tool.display()
        );
        return Ok(());
    }
    let status = Command::new(&tool)
        .arg(wasm)
        .arg("-o")
        .arg(wasm)
        .args(["-Oz", "--strip-debug", "--strip-producers"])
        .args([
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "--enable-reference-types",
            "--enable-multivalue",
        ])
        .status()
        .map_err(|e| format!("running wasm-opt: {e}"))?;
    if !status.success() {
        return Err(format!("wasm-opt failed ({status})"));
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&dest).map_err(|e| e.to_string())?;
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)
                .map_err(|e| format!("copying {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}
