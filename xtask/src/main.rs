//! `cargo run -p xtask -- <command>`: builds what plain cargo cannot.
//!
//! `site`: the WASM bundle and stylesheet under `target/site/pkg/` (what cargo-leptos would
//! produce), running wasm-bindgen as a library so its version always equals the one in
//! Cargo.lock and nothing has to be installed or downloaded. The lazy routes of the console are
//! split into chunks of their own first (`wasm_split_cli_support`, what cargo-leptos `--split`
//! runs), so the first page downloads only the main module.

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
    // `cargo rustc` so the extra linker flag reaches only the final link of `frontend`: the
    // splitter needs the relocations (`--emit-relocs`) to build its call graph, and no
    // dependency is rebuilt for it.
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .args([
            "rustc",
            "-p",
            "frontend",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            profile,
            "--",
            "-Clink-args=--emit-relocs",
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
    clean_pkg(&pkg)?;

    let main = split(&wasm, &pkg, &target)?;

    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen
        .input_path(&main)
        .out_name(OUTPUT_NAME)
        .web(true)
        .map_err(|e| e.to_string())?
        .typescript(false)
        // The chunks import the main module's functions and globals by their linker names.
        .keep_lld_exports(true)
        .demangle(false)
        .remove_name_section(true)
        .remove_producers_section(true)
        .generate(&pkg)
        .map_err(|e| format!("wasm-bindgen on {}: {e}", main.display()))?;
    // Leptos asks for `<name>.wasm` when LEPTOS_OUTPUT_NAME is set at compile time.
    let bg = pkg.join(format!("{OUTPUT_NAME}_bg.wasm"));
    let out = pkg.join(format!("{OUTPUT_NAME}.wasm"));
    std::fs::rename(&bg, &out).map_err(|e| format!("renaming {}: {e}", bg.display()))?;
    if !debug {
        for file in wasm_files(&pkg)? {
            optimise(&root, &file)?;
        }
    }

    let css = root.join("style/main.css");
    std::fs::copy(&css, pkg.join(format!("{OUTPUT_NAME}.css")))
        .map_err(|e| format!("copying {}: {e}", css.display()))?;
    copy_dir(&root.join("public"), &root.join("target/site"))?;

    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let chunks: u64 = wasm_files(&pkg)?
        .iter()
        .filter(|p| **p != out)
        .map(|p| size(p))
        .sum();
    println!(
        "site ready in {} ({} KB main wasm, {} KB in lazy chunks, profile {profile})",
        root.join("target/site").display(),
        size(&out) / 1024,
        chunks / 1024
    );
    Ok(())
}

/// The name of the loader the split main module imports its chunks' loaders from (leptos's
/// `HydrationScripts` preloads this exact name).
const SPLIT_LOADER: &str = "__wasm_split.______________________.js";
/// Read by leptos's `HydrationScripts` on the server: which chunks each lazy function needs,
/// so a page rendered on the server preloads them.
const SPLIT_MANIFEST: &str = "__wasm_split_manifest.json";

/// Splits the `#[lazy]` functions (Leptos lazy routes) out of the cargo output, as
/// cargo-leptos `--split` does: the chunks (`split_*.wasm`, `chunk_*.wasm`), their JS loader
/// and the manifest go to `pkg`; returns the main module, still to go through wasm-bindgen.
fn split(wasm: &Path, pkg: &Path, target: &Path) -> Result<PathBuf, String> {
    let input = std::fs::read(wasm).map_err(|e| format!("reading {}: {e}", wasm.display()))?;
    let stage = target.join("wasm-split");
    std::fs::create_dir_all(&stage).map_err(|e| format!("creating {}: {e}", stage.display()))?;
    let main = stage.join(format!("{OUTPUT_NAME}_split.wasm"));
    let main_module = format!("/pkg/{OUTPUT_NAME}.js");
    let link_name = format!("./{SPLIT_LOADER}");
    let mut opts = wasm_split_cli_support::Options::new(&input);
    opts.output_dir = pkg;
    opts.main_out_path = &main;
    opts.main_module = &main_module;
    opts.link_name = &link_name;
    let result = wasm_split_cli_support::transform(opts)
        .map_err(|e| format!("splitting {}: {e:?}", wasm.display()))?;
    let manifest = serde_json::to_string_pretty(&result.prefetch_map)
        .map_err(|e| format!("writing the split manifest: {e}"))?;
    std::fs::write(pkg.join(SPLIT_MANIFEST), manifest)
        .map_err(|e| format!("writing {SPLIT_MANIFEST}: {e}"))?;
    Ok(main)
}

/// Removes what an earlier build left in `pkg` (chunk names change from build to build).
fn clean_pkg(pkg: &Path) -> Result<(), String> {
    for entry in std::fs::read_dir(pkg).map_err(|e| format!("reading {}: {e}", pkg.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".wasm") || name.starts_with("__wasm_split") {
            std::fs::remove_file(&path).map_err(|e| format!("removing {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

fn wasm_files(pkg: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(pkg)
        .map_err(|e| format!("reading {}: {e}", pkg.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    files.sort();
    Ok(files)
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
