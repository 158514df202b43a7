//! Secrets kept in the data directory when the environment gives none: the JWT secret and the
//! health-data key, written readable by their owner only.

use rand::RngCore;

use super::{ConfigError, MIN_SECRET_LEN};

/// Development convenience: without `JWT_SECRET`, keep a generated one in the data directory so
/// tokens survive restarts, and say loudly that production must set it.
pub(super) fn generated_secret(data_dir: &std::path::Path) -> Result<Vec<u8>, ConfigError> {
    let path = data_dir.join(".inspine-jwt-secret");
    let io_err = |source| ConfigError::SecretFile {
        path: path.clone(),
        source,
    };
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_owned();
        if existing.len() >= MIN_SECRET_LEN {
            tracing::warn!(path = %path.display(), "JWT_SECRET is not set; using the generated secret kept in the data directory. Set JWT_SECRET in production.");
            return Ok(existing.into_bytes());
        }
    }
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    std::fs::create_dir_all(data_dir).map_err(io_err)?;
    write_private(&path, secret.as_bytes()).map_err(io_err)?;
    tracing::warn!(path = %path.display(), "JWT_SECRET is not set; generated one and kept it in the data directory. Set JWT_SECRET in production.");
    Ok(secret.into_bytes())
}

/// The file in `DATA_DIR` that keeps the health-data key when `HEALTH_DATA_KEY` is unset.
pub const HEALTH_KEY_FILE: &str = ".inspine-health-key";

/// Without `HEALTH_DATA_KEY`, a key generated once and kept in the data directory. Unlike the
/// JWT secret, a kept key that does not parse is an error, never replaced: the health data
/// sealed under it would be lost.
pub(super) fn generated_health_key(
    data_dir: &std::path::Path,
    path: &std::path::Path,
) -> Result<[u8; crate::clinical::crypto::KEY_LEN], ConfigError> {
    use crate::clinical::crypto::HealthKey;
    let err = |reason: String| ConfigError::HealthKeyFile {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(existing) => {
            let key = HealthKey::parse(&existing).map_err(err)?;
            tracing::warn!(path = %path.display(), "HEALTH_DATA_KEY is not set; using the key kept in the data directory. Back this file up apart from the database: without it the health data cannot be read. Set HEALTH_DATA_KEY in production.");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let generated = HealthKey::generate();
            let key = HealthKey::parse(&generated).map_err(err)?;
            std::fs::create_dir_all(data_dir).map_err(|e| err(e.to_string()))?;
            write_private(path, format!("{generated}\n").as_bytes())
                .map_err(|e| err(e.to_string()))?;
            tracing::warn!(path = %path.display(), "HEALTH_DATA_KEY is not set; generated a health-data key and kept it in the data directory. Back this file up apart from the database: without it the health data cannot be read. Set HEALTH_DATA_KEY in production.");
            Ok(key)
        }
        Err(e) => Err(err(e.to_string())),
    }
}

/// Writes a secret readable by its owner only (0600), also when the file already existed with
/// wider permissions.
pub fn write_private(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(contents)
    }
    #[cfg(not(unix))]
    {
        options.open(path)?.write_all(contents)
    }
}
