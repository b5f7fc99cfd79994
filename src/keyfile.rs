//! Files that hold secrets (signing keys, later the age key ring): created with mode 0600
//! and refused at start when anyone but the owner could read them.

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Creates `path` (and its directory) for writing, readable by the owner only. Fails if the
/// file exists, so a key is never silently overwritten.
pub fn create_private(path: &Path) -> anyhow::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        create_private_dir(dir)?;
    }
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| anyhow::anyhow!("cannot create key file {}: {e}", path.display()))
}

/// Refuses a key file that group or others can read or write.
pub fn check_private(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| anyhow::anyhow!("cannot read key file {}: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "key file {} is accessible to other users (mode {:o}); run `chmod 600 {}` and start again",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    Ok(())
}

/// Creates a directory (and parents) that only the owner can enter.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create directory {}: {e}", dir.display()))?;
    restrict_to_owner_mode(dir, 0o700)
}

/// Makes an existing file readable and writable by its owner only.
pub fn restrict_to_owner(path: &Path) -> anyhow::Result<()> {
    restrict_to_owner_mode(path, 0o600)
}

fn restrict_to_owner_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| anyhow::anyhow!("cannot restrict permissions of {}: {e}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}
