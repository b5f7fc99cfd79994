//! The service key ring: age X25519 identities in one file under the data dir, never in the
//! database. The file is JSON, readable by its owner only (mode 0600), optionally encrypted
//! as a whole to a passphrase (age scrypt, fixed work factor). Every rewrite goes through a
//! temporary file, fsync and rename, under an exclusive lock, so a crash leaves either the
//! old file or the new one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::{ExposeSecret, SecretString};
use age::x25519;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::keyfile;

pub const KEY_FILE: &str = "service-keys";
const LOCK_FILE: &str = "service-keys.lock";
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";
/// scrypt log2(N) for a passphrase-protected key file: about a second's work, paid once at
/// start. Fixed, so an attacker-supplied file cannot make start-up hang.
pub const SCRYPT_LOG_N: u8 = 16;

/// The stable id of an age recipient: a short digest of its public key.
pub fn key_id_of(recipient: &str, prefix: &str) -> String {
    format!("{prefix}{}", &hex::encode(Sha256::digest(recipient.as_bytes()))[..16])
}

pub struct RingKey {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub identity: x25519::Identity,
}

impl RingKey {
    pub fn recipient(&self) -> String {
        self.identity.to_public().to_string()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV1 {
    version: u32,
    keys: Vec<FileKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKey {
    id: String,
    created_at: DateTime<Utc>,
    identity: String,
}

pub struct KeyRing {
    dir: PathBuf,
    passphrase: Option<SecretString>,
    keys: Vec<RingKey>,
}

impl KeyRing {
    /// Opens the key file in `dir`, creating it with one fresh identity if it does not exist.
    pub fn load_or_create(dir: &Path, passphrase: Option<&str>) -> anyhow::Result<KeyRing> {
        let mut ring = KeyRing {
            dir: dir.to_path_buf(),
            passphrase: passphrase.filter(|p| !p.is_empty()).map(|p| SecretString::from(p.to_string())),
            keys: Vec::new(),
        };
        let _lock = ring.lock()?;
        if ring.path().exists() {
            ring.keys = ring.read()?;
        } else {
            let key = new_key(Utc::now());
            ring.keys.push(key);
            ring.write()?;
        }
        Ok(ring)
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(KEY_FILE)
    }

    pub fn keys(&self) -> &[RingKey] {
        &self.keys
    }

    pub fn get(&self, key_id: &str) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.id == key_id)
    }

    /// Re-reads the file (another process may have rotated).
    pub fn reload(&mut self) -> anyhow::Result<()> {
        let _lock = self.lock()?;
        self.keys = self.read()?;
        Ok(())
    }

    /// Adds a fresh identity and persists it before returning its id.
    pub fn add_new(&mut self, now: DateTime<Utc>) -> anyhow::Result<String> {
        let _lock = self.lock()?;
        self.keys = self.read()?;
        let key = new_key(now);
        let id = key.id.clone();
        self.keys.push(key);
        self.write()?;
        Ok(id)
    }

    /// Removes an identity from the file for good.
    pub fn remove(&mut self, key_id: &str) -> anyhow::Result<bool> {
        let _lock = self.lock()?;
        self.keys = self.read()?;
        let before = self.keys.len();
        self.keys.retain(|k| k.id != key_id);
        if self.keys.len() == before {
            return Ok(false);
        }
        self.write()?;
        Ok(true)
    }

    fn lock(&self) -> anyhow::Result<File> {
        if !self.dir.exists() {
            keyfile::create_private_dir(&self.dir)?;
        }
        let path = self.dir.join(LOCK_FILE);
        let mut opts = OpenOptions::new();
        opts.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let f = opts.open(&path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        f.lock().map_err(|e| anyhow::anyhow!("cannot lock {}: {e}", path.display()))?;
        Ok(f)
    }

    fn read(&self) -> anyhow::Result<Vec<RingKey>> {
        let path = self.path();
        keyfile::check_private(&path)?;
        let raw = Zeroizing::new(
            std::fs::read(&path).map_err(|e| anyhow::anyhow!("cannot read key file {}: {e}", path.display()))?,
        );
        let json: Zeroizing<Vec<u8>> = if raw.starts_with(AGE_MAGIC) {
            let Some(pass) = &self.passphrase else {
                anyhow::bail!("key file {} is passphrase-protected: set HAVEN_KEY_PASSPHRASE", path.display());
            };
            let mut id = age::scrypt::Identity::new(pass.clone());
            id.set_max_work_factor(SCRYPT_LOG_N);
            Zeroizing::new(age::decrypt(&id, &raw).map_err(|_| {
                anyhow::anyhow!("cannot unlock key file {}: wrong HAVEN_KEY_PASSPHRASE?", path.display())
            })?)
        } else {
            if self.passphrase.is_some() {
                anyhow::bail!(
                    "HAVEN_KEY_PASSPHRASE is set but key file {} is not passphrase-protected; \
                     unset it, or move the file away to start a new protected ring",
                    path.display()
                );
            }
            raw
        };
        let file: FileV1 = serde_json::from_slice(&json)
            .map_err(|e| anyhow::anyhow!("key file {} is malformed: {e}", path.display()))?;
        anyhow::ensure!(file.version == 1, "key file {}: unknown version {}", path.display(), file.version);
        let mut keys = Vec::with_capacity(file.keys.len());
        for k in file.keys {
            let secret = Zeroizing::new(k.identity);
            let identity = x25519::Identity::from_str(&secret)
                .map_err(|_| anyhow::anyhow!("key file {}: key {} is not an age identity", path.display(), k.id))?;
            let expected = key_id_of(&identity.to_public().to_string(), "sk-");
            anyhow::ensure!(expected == k.id, "key file {}: key {} does not match its id", path.display(), k.id);
            keys.push(RingKey { id: k.id, created_at: k.created_at, identity });
        }
        anyhow::ensure!(!keys.is_empty(), "key file {} holds no key", path.display());
        Ok(keys)
    }

    fn write(&self) -> anyhow::Result<()> {
        let file = FileV1 {
            version: 1,
            keys: self
                .keys
                .iter()
                .map(|k| FileKey {
                    id: k.id.clone(),
                    created_at: k.created_at,
                    identity: k.identity.to_string().expose_secret().to_string(),
                })
                .collect(),
        };
        let json = Zeroizing::new(serde_json::to_vec_pretty(&file)?);
        for k in file.keys {
            drop(Zeroizing::new(k.identity));
        }
        let bytes: Zeroizing<Vec<u8>> = match &self.passphrase {
            Some(pass) => {
                let mut r = age::scrypt::Recipient::new(pass.clone());
                r.set_work_factor(SCRYPT_LOG_N);
                Zeroizing::new(age::encrypt(&r, &json).map_err(|e| anyhow::anyhow!("encrypting key file: {e}"))?)
            }
            None => json,
        };
        let path = self.path();
        let tmp = self.dir.join(format!("{KEY_FILE}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut f = keyfile::create_private(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| anyhow::anyhow!("cannot replace key file {}: {e}", path.display()))?;
        // The rename itself must survive a crash.
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

fn new_key(now: DateTime<Utc>) -> RingKey {
    let identity = x25519::Identity::generate();
    let id = key_id_of(&identity.to_public().to_string(), "sk-");
    RingKey { id, created_at: now, identity }
}
