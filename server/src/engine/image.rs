//! The decoy image: our static decoy binary as the only file of a `FROM scratch` rootfs,
//! imported (not built) and tagged by the binary's content hash, so it is rebuilt exactly
//! when the binary changes.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub const IMAGE_REPO: &str = "decnet-decoy";
pub const BINARY_IN_IMAGE: &str = "/decnet-decoy";

/// The decoy binary's bytes and the tag derived from them.
pub struct DecoyBinary {
    pub bytes: Vec<u8>,
    pub tag: String,
}

impl DecoyBinary {
    pub fn load(path: &Path) -> Result<DecoyBinary, String> {
        let bytes = std::fs::read(path).map_err(|e| {
            format!(
                "cannot read the decoy binary {}: {e} (build it with `make decoy`)",
                path.display()
            )
        })?;
        let digest = Sha256::digest(&bytes);
        let tag = digest
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        Ok(DecoyBinary { bytes, tag })
    }

    pub fn reference(&self) -> String {
        format!("{IMAGE_REPO}:{}", self.tag)
    }

    /// A one-file tar: `decnet-decoy`, mode 0755, owned by root.
    pub fn rootfs_tar(&self) -> Result<Vec<u8>, String> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(self.bytes.len() as u64);
        header.set_mode(0o755);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(
                &mut header,
                BINARY_IN_IMAGE.trim_start_matches('/'),
                self.bytes.as_slice(),
            )
            .map_err(|e| e.to_string())?;
        builder.into_inner().map_err(|e| e.to_string())
    }
}

/// Where to look for the decoy binary when none is configured: beside the running `decnet`,
/// then the workspace's musl release build.
pub fn default_decoy_path() -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("decnet-decoy"));
            // target/release/decnet -> target/x86_64-unknown-linux-musl/release/decnet-decoy
            if let Some(target) = dir.parent() {
                candidates.push(target.join("x86_64-unknown-linux-musl/release/decnet-decoy"));
            }
            if let Some(target) = dir.parent().and_then(Path::parent) {
                candidates.push(target.join("x86_64-unknown-linux-musl/release/decnet-decoy"));
            }
        }
    }
    candidates.push(PathBuf::from(
        "target/x86_64-unknown-linux-musl/release/decnet-decoy",
    ));
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| candidates.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_follows_the_content_and_the_tar_holds_one_executable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bin");
        std::fs::write(&p, b"\x7fELF fake").unwrap();
        let a = DecoyBinary::load(&p).unwrap();
        std::fs::write(&p, b"\x7fELF other").unwrap();
        let b = DecoyBinary::load(&p).unwrap();
        assert_ne!(a.tag, b.tag);
        assert_eq!(a.tag.len(), 16);
        let tar_bytes = a.rootfs_tar().unwrap();
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let entries: Vec<_> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(entries, vec![("decnet-decoy".to_string(), 0o755)]);
    }
}
