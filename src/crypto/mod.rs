//! Encryption at rest with age. This module is the only code that touches keys.
//!
//! - Every case (and every alert before triage) has its own age X25519 identity. Only its
//!   public recipient is stored in clear (`case_keys`); the identity is stored only wrapped,
//!   one row per grantee (`case_key_grants`): the service key ring, an optional offline
//!   escrow recipient, later individual officers.
//! - [`Crypto::seal`] encrypts a record under its case key: XChaCha20-Poly1305 with a data key
//!   derived (HKDF) from the case's age identity, bound to case and key version (format 2;
//!   records from before it are age files to the case recipient and still open). The
//!   plaintext is framed with the case id and record id, and [`Crypto::open`] refuses a
//!   ciphertext whose frame names another record, so a ciphertext moved to another row or
//!   case fails to open.
//! - Unwrapped case identities are cached, bounded; x25519 secrets zeroize when dropped.
//! - Destroying a case's grants (shredding) makes all its ciphertext unreadable.
//!
//! Never log plaintext, identities or wrapped keys; errors here carry no content.

/// Equality that takes the same time wherever the inputs differ (tokens, MACs).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub mod keyring;
pub mod ops;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};

use age::secrecy::ExposeSecret;
use age::x25519;
use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use crate::clock::naive;
use crate::db::models::{CaseKey, CaseKeyGrant, ServiceKey};
use crate::db::{self, DbConn};
use crate::error::AppError;
use keyring::{key_id_of, KeyRing};

pub const SERVICE_GRANTEE: &str = "service";
const FRAME_MAGIC: &[u8; 4] = b"HVN1";

/// A sealed value as stored: the age ciphertext and the version of the case key it was
/// sealed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub key_version: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("no key exists for this case")]
    NoKey,
    #[error("the case's keys have been destroyed")]
    Shredded,
    /// Tampered, truncated, moved or otherwise unopenable. Deliberately uninformative.
    #[error("sealed data could not be opened")]
    Unreadable,
    #[error("key ring: {0}")]
    KeyRing(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

impl From<CryptoError> for AppError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Shredded => AppError::Gone("case_shredded"),
            CryptoError::Db(d) => AppError::from(d),
            other => AppError::internal(anyhow::anyhow!("crypto: {other}")),
        }
    }
}

struct Cached {
    identity: Arc<x25519::Identity>,
    used: u64,
}

/// Unwrapped case identities, at most `capacity`, least recently used evicted first.
struct KeyCache {
    capacity: usize,
    tick: u64,
    map: HashMap<(String, i32), Cached>,
}

impl KeyCache {
    fn get(&mut self, key: &(String, i32)) -> Option<Arc<x25519::Identity>> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(key).map(|c| {
            c.used = tick;
            c.identity.clone()
        })
    }

    fn put(&mut self, key: (String, i32), identity: Arc<x25519::Identity>) {
        if self.capacity == 0 {
            return;
        }
        if self.map.len() >= self.capacity && !self.map.contains_key(&key) {
            if let Some(oldest) = self.map.iter().min_by_key(|(_, c)| c.used).map(|(k, _)| k.clone()) {
                // Dropping the last Arc zeroizes the secret (x25519-dalek's StaticSecret).
                self.map.remove(&oldest);
            }
        }
        self.tick += 1;
        self.map.insert(key, Cached { identity, used: self.tick });
    }

    fn forget_case(&mut self, case_id: &str) {
        self.map.retain(|(c, _), _| c != case_id);
    }
}

pub struct Crypto {
    ring: RwLock<KeyRing>,
    escrow: Option<(String, x25519::Recipient)>,
    cache: Mutex<KeyCache>,
    /// The service key that was current at the last look (id, recipient), so that
    /// [`Crypto::fresh_key`] can wrap outside the transaction; checked again inside it.
    current_hint: RwLock<Option<(String, x25519::Recipient)>>,
    /// Key-cache hits and misses since start, for /metrics.
    pub cache_hits: std::sync::atomic::AtomicU64,
    pub cache_misses: std::sync::atomic::AtomicU64,
}

/// A case key made ahead of its transaction; see [`Crypto::fresh_key`]. Holds the identity in
/// memory only (zeroized when the last reference drops).
#[derive(Clone)]
pub struct FreshKey {
    case_id: String,
    version: i32,
    identity: Arc<x25519::Identity>,
    recipient: x25519::Recipient,
    /// Wrapped to the service key believed current: (key id, wrapped identity).
    service: Option<(String, Vec<u8>)>,
    escrow: Option<(String, Vec<u8>)>,
}

impl FreshKey {
    /// Seals record `record_id` of this key's case, as [`Crypto::seal`] would once the key
    /// is stored.
    pub fn seal(&self, record_id: &str, plaintext: &[u8]) -> Result<Sealed, CryptoError> {
        let ciphertext = seal_with(&self.identity, &self.case_id, self.version, record_id, plaintext)?;
        Ok(Sealed { ciphertext, key_version: self.version })
    }
}

fn frame(case_id: &str, record_id: &str, plaintext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (c, r) = (case_id.as_bytes(), record_id.as_bytes());
    let (cl, rl) = (u16::try_from(c.len()), u16::try_from(r.len()));
    let (Ok(cl), Ok(rl)) = (cl, rl) else {
        return Err(CryptoError::Unreadable);
    };
    let mut out = Zeroizing::new(Vec::with_capacity(8 + c.len() + r.len() + plaintext.len()));
    out.extend_from_slice(FRAME_MAGIC);
    out.extend_from_slice(&cl.to_be_bytes());
    out.extend_from_slice(c);
    out.extend_from_slice(&rl.to_be_bytes());
    out.extend_from_slice(r);
    out.extend_from_slice(plaintext);
    Ok(out)
}

/// The plaintext inside a frame, if the frame names exactly this case and record.
fn unframe(framed: &[u8], case_id: &str, record_id: &str) -> Option<Zeroizing<Vec<u8>>> {
    let rest = framed.strip_prefix(FRAME_MAGIC.as_slice())?;
    let take = |buf: &[u8]| -> Option<(Vec<u8>, usize)> {
        let len = u16::from_be_bytes([*buf.first()?, *buf.get(1)?]) as usize;
        Some((buf.get(2..2 + len)?.to_vec(), 2 + len))
    };
    let (c, used) = take(rest)?;
    let rest = &rest[used..];
    let (r, used) = take(rest)?;
    (c == case_id.as_bytes() && r == record_id.as_bytes()).then(|| Zeroizing::new(rest[used..].to_vec()))
}

/// Records sealed since format 2 start with this: `HVS2` ‖ 24-byte nonce ‖ XChaCha20-Poly1305
/// of the framed plaintext under the case's data key, with the magic and the key version as
/// associated data. Older records are age files (they start `age-encryption.org/v1`) and
/// still open.
const SEALED_MAGIC: &[u8; 4] = b"HVS2";
const NONCE_LEN: usize = 24;

/// The data key of one version of a case key: HKDF-SHA256 over the case's age identity (its
/// secret), bound to the case and the version. Whoever can unwrap the identity can derive it,
/// nobody else; it is never stored, so shredding the grants destroys it too. One age X25519
/// operation per record (its own ephemeral key) cost 120–150 µs here; this costs a few.
fn data_key(identity: &x25519::Identity, case_id: &str, version: i32) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let secret = identity.to_string();
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"haven case data key v1"), secret.expose_secret().as_bytes());
    let mut info = Zeroizing::new(Vec::with_capacity(4 + case_id.len()));
    info.extend_from_slice(&version.to_be_bytes());
    info.extend_from_slice(case_id.as_bytes());
    let mut key = Zeroizing::new([0u8; 32]);
    hk.expand(&info, key.as_mut()).map_err(|_| CryptoError::KeyRing("data key derivation".into()))?;
    Ok(key)
}

/// The AEAD of one version of a case's key, over its data key.
fn record_cipher(
    identity: &x25519::Identity,
    case_id: &str,
    version: i32,
) -> Result<chacha20poly1305::XChaCha20Poly1305, CryptoError> {
    use chacha20poly1305::aead::KeyInit;
    let key = data_key(identity, case_id, version)?;
    chacha20poly1305::XChaCha20Poly1305::new_from_slice(key.as_slice())
        .map_err(|_| CryptoError::KeyRing("data key length".into()))
}

fn associated_data(version: i32) -> [u8; 8] {
    let mut aad = [0u8; 8];
    aad[..4].copy_from_slice(SEALED_MAGIC);
    aad[4..].copy_from_slice(&version.to_be_bytes());
    aad
}

/// Seals one record of version `version` of a case's key (format 2).
fn seal_with(
    identity: &x25519::Identity,
    case_id: &str,
    version: i32,
    record_id: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    use chacha20poly1305::aead::{Aead, Payload};
    use rand::RngCore;
    let cipher = record_cipher(identity, case_id, version)?;
    // A random 192-bit nonce: no counter to keep, and no collision in any realistic number
    // of records under one key.
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let framed = frame(case_id, record_id, plaintext)?;
    let aad = associated_data(version);
    let sealed = cipher
        .encrypt(&chacha20poly1305::XNonce::from(nonce), Payload { msg: &framed, aad: &aad })
        .map_err(|_| CryptoError::KeyRing("seal".into()))?;
    let mut out = Vec::with_capacity(SEALED_MAGIC.len() + NONCE_LEN + sealed.len());
    out.extend_from_slice(SEALED_MAGIC);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens a record sealed by `seal_with`, or an age file from before format 2. Public (hidden)
/// for the fuzz target `fuzz/fuzz_targets/age_open.rs`, which has no database.
#[doc(hidden)]
pub fn open_record_with(
    identity: &x25519::Identity,
    case_id: &str,
    version: i32,
    record_id: &str,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    open_record(&mut None, identity, case_id, version, record_id, ciphertext)
}

/// `open_record_with`, keeping the version's cipher in `cipher` once derived, so that the
/// records of one page derive their data key once (HKDF over the identity's text), not once
/// each: that was a fifth of the console's case file.
fn open_record(
    cipher: &mut Option<chacha20poly1305::XChaCha20Poly1305>,
    identity: &x25519::Identity,
    case_id: &str,
    version: i32,
    record_id: &str,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    use chacha20poly1305::aead::{Aead, Payload};
    let framed = match ciphertext.strip_prefix(SEALED_MAGIC.as_slice()) {
        Some(rest) => {
            let (nonce, sealed) = rest.split_first_chunk::<NONCE_LEN>().ok_or(CryptoError::Unreadable)?;
            let aad = associated_data(version);
            let aead = match cipher {
                Some(c) => c,
                None => cipher.insert(record_cipher(identity, case_id, version)?),
            };
            let plain = aead
                .decrypt(&chacha20poly1305::XNonce::from(*nonce), Payload { msg: sealed, aad: &aad })
                .map_err(|_| CryptoError::Unreadable)?;
            Zeroizing::new(plain)
        }
        None => Zeroizing::new(age::decrypt(identity, ciphertext).map_err(|_| CryptoError::Unreadable)?),
    };
    unframe(&framed, case_id, record_id).ok_or(CryptoError::Unreadable)
}

fn parse_recipient(s: &str) -> Result<x25519::Recipient, CryptoError> {
    x25519::Recipient::from_str(s).map_err(|_| CryptoError::KeyRing("stored recipient is not an age X25519 key".into()))
}

fn wrap(identity: &x25519::Identity, to: &x25519::Recipient) -> Result<Vec<u8>, CryptoError> {
    let secret = identity.to_string();
    age::encrypt(to, secret.expose_secret().as_bytes()).map_err(|e| CryptoError::KeyRing(format!("wrap: {e}")))
}

fn unwrap_with(wrapped: &[u8], by: &x25519::Identity) -> Result<x25519::Identity, CryptoError> {
    let secret = Zeroizing::new(age::decrypt(by, wrapped).map_err(|_| CryptoError::Unreadable)?);
    let text = std::str::from_utf8(&secret).map_err(|_| CryptoError::Unreadable)?;
    x25519::Identity::from_str(text).map_err(|_| CryptoError::Unreadable)
}

impl Crypto {
    /// Opens (or on first start creates) the key ring in `data_dir`.
    pub fn open_ring(cfg: &crate::config::Config) -> anyhow::Result<Crypto> {
        let ring = KeyRing::load_or_create(&cfg.data_dir, Some(cfg.key_passphrase.expose()))?;
        let escrow = match cfg.escrow_recipient.trim() {
            "" => None,
            r => {
                let rec = x25519::Recipient::from_str(r)
                    .map_err(|_| anyhow::anyhow!("escrow_recipient is not an age X25519 public key (age1…)"))?;
                Some((key_id_of(r, "escrow-"), rec))
            }
        };
        Ok(Crypto {
            ring: RwLock::new(ring),
            escrow,
            cache: Mutex::new(KeyCache { capacity: cfg.key_cache_capacity, tick: 0, map: HashMap::new() }),
            current_hint: RwLock::new(None),
            cache_hits: Default::default(),
            cache_misses: Default::default(),
        })
    }

    fn ring_read(&self) -> std::sync::RwLockReadGuard<'_, KeyRing> {
        self.ring.read().unwrap_or_else(|p| p.into_inner())
    }

    fn ring_write(&self) -> std::sync::RwLockWriteGuard<'_, KeyRing> {
        self.ring.write().unwrap_or_else(|p| p.into_inner())
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, KeyCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Brings `service_keys` in line with the key file: registers keys the database does not
    /// know, makes sure one key is current, and refuses to start if a key that grants still
    /// use is missing from the file (its cases would be unreadable).
    pub fn sync(&self, db: &db::Db) -> anyhow::Result<()> {
        db.write_blocking(|c| self.sync_in(c).map_err(AppError::Internal)).map_err(|e| match e {
            AppError::Internal(e) => e,
            other => anyhow::anyhow!("{other}"),
        })
    }

    /// `sync` inside a transaction holding the key-ring lock, so instances starting together
    /// do not trip over each other and nobody sees a moment without a current key.
    fn sync_in(&self, conn: &mut DbConn) -> anyhow::Result<()> {
        db::lock_key_ring_exclusive(conn)?;
        let ring = self.ring_read();
        let known = ServiceKey::all(conn)?;
        for k in ring.keys() {
            if !known.iter().any(|s| s.key_id == k.id) {
                ServiceKey {
                    key_id: k.id.clone(),
                    recipient: k.recipient(),
                    created_at: naive(k.created_at),
                    is_current: false,
                    retired_at: None,
                }
                .insert(conn)?;
            }
        }
        if ServiceKey::current(conn)?.is_none() {
            let newest = ring.keys().iter().max_by_key(|k| k.created_at).map(|k| k.id.clone());
            if let Some(id) = newest {
                ServiceKey::make_current(conn, &id)?;
            }
        }
        for s in known.iter().filter(|s| s.retired_at.is_none()) {
            if ring.get(&s.key_id).is_none() {
                let n = ServiceKey::grant_count(conn, &s.key_id)?;
                anyhow::ensure!(
                    n == 0,
                    "service key {} is missing from the key file {} but {n} case key grant(s) use it: \
                     restore the key file from backup before starting",
                    s.key_id,
                    ring.path().display()
                );
            }
        }
        Ok(())
    }

    /// Creates the first (or next) key of a case and its grants. Call inside the
    /// transaction that creates the case, so both exist or neither does.
    pub fn create_case_key(&self, conn: &mut DbConn, case_id: &str, now: DateTime<Utc>) -> Result<i32, CryptoError> {
        let version = CaseKey::latest(conn, case_id)?.map_or(1, |k| k.key_version + 1);
        let fresh = self.fresh_key(case_id, version)?;
        self.insert_key(conn, &fresh, now)?;
        // The caller seals the new case's first records next, in this transaction: they need
        // not unwrap what was just wrapped. Should the transaction roll back, the entry is never
        // reached: every lookup starts from a stored `case_keys` row.
        self.cache().put((case_id.to_string(), version), fresh.identity.clone());
        Ok(version)
    }

    /// A new key for `case_id` made *before* the transaction that stores it
    /// ([`Crypto::store_fresh_key`]): the identity, its wrapping to the service key believed
    /// current and to the escrow recipient, and (with [`FreshKey::seal`]) the first records
    /// sealed to it. That is all the X25519 work of an intake, done outside the write lock.
    pub fn fresh_key(&self, case_id: &str, version: i32) -> Result<FreshKey, CryptoError> {
        let identity = x25519::Identity::generate();
        let recipient = identity.to_public();
        let hint = self.current_hint.read().unwrap_or_else(|p| p.into_inner()).clone();
        let service = match hint {
            Some((key_id, to)) => Some((key_id, wrap(&identity, &to)?)),
            None => None,
        };
        let escrow = match &self.escrow {
            Some((escrow_id, to)) => Some((escrow_id.clone(), wrap(&identity, to)?)),
            None => None,
        };
        Ok(FreshKey { case_id: case_id.to_string(), version, identity: Arc::new(identity), recipient, service, escrow })
    }

    /// Stores a [`FreshKey`] and its grants, in the caller's transaction. The service grant is
    /// wrapped again here only if the current service key changed since `fresh_key` (a
    /// rotation); a version that another writer took first is a conflict.
    pub fn store_fresh_key(&self, conn: &mut DbConn, key: &FreshKey, now: DateTime<Utc>) -> Result<(), CryptoError> {
        let expected = CaseKey::latest(conn, &key.case_id)?.map_or(1, |k| k.key_version + 1);
        if expected != key.version {
            return Err(CryptoError::KeyRing(format!("case key version {} is not the next one", key.version)));
        }
        self.insert_key(conn, key, now)
    }

    /// Inserts a key whose version the caller has checked, and its grants.
    fn insert_key(&self, conn: &mut DbConn, key: &FreshKey, now: DateTime<Utc>) -> Result<(), CryptoError> {
        db::lock_key_ring_shared(conn)?;
        let current =
            ServiceKey::current(conn)?.ok_or_else(|| CryptoError::KeyRing("no current service key".into()))?;
        CaseKey {
            case_id: key.case_id.clone(),
            key_version: key.version,
            recipient: key.recipient.to_string(),
            created_at: naive(now),
            shredded_at: None,
        }
        .insert(conn)?;
        let grant = |kind: &str, grantee: &str, key_id: &str, wrapped: Vec<u8>| CaseKeyGrant {
            case_id: key.case_id.clone(),
            key_version: key.version,
            grantee_kind: kind.to_string(),
            grantee_id: grantee.to_string(),
            key_id: key_id.to_string(),
            wrapped,
            created_at: naive(now),
        };
        let service = match &key.service {
            Some((key_id, wrapped)) if *key_id == current.key_id => wrapped.clone(),
            _ => {
                let to = parse_recipient(&current.recipient)?;
                let wrapped = wrap(&key.identity, &to)?;
                *self.current_hint.write().unwrap_or_else(|p| p.into_inner()) = Some((current.key_id.clone(), to));
                wrapped
            }
        };
        grant("service", SERVICE_GRANTEE, &current.key_id, service).insert(conn)?;
        if let Some((escrow_id, wrapped)) = &key.escrow {
            grant("escrow", escrow_id, escrow_id, wrapped.clone()).insert(conn)?;
        }
        Ok(())
    }

    /// Encrypts `plaintext` for record `record_id` of `case_id`, to the case's newest key.
    pub fn seal(
        &self,
        conn: &mut DbConn,
        case_id: &str,
        record_id: &str,
        plaintext: &[u8],
    ) -> Result<Sealed, CryptoError> {
        let key = CaseKey::latest(conn, case_id)?.ok_or(CryptoError::NoKey)?;
        // The data key comes from the unwrapped identity, never from the clear `recipient`
        // column: someone able to write to the database cannot redirect new ciphertext to a
        // key of their own by editing one column.
        let identity = self.case_identity(conn, &key)?;
        let ciphertext = seal_with(&identity, case_id, key.key_version, record_id, plaintext)?;
        Ok(Sealed { ciphertext, key_version: key.key_version })
    }

    /// As [`Crypto::seal`], to version `key_version` of the case's key rather than the newest:
    /// for a field added later to a record whose other fields (and their one stored key
    /// version) were sealed earlier.
    pub fn seal_to_version(
        &self,
        conn: &mut DbConn,
        case_id: &str,
        key_version: i32,
        record_id: &str,
        plaintext: &[u8],
    ) -> Result<Sealed, CryptoError> {
        let key = CaseKey::find(conn, case_id, key_version)?.ok_or(CryptoError::NoKey)?;
        let identity = self.case_identity(conn, &key)?;
        let ciphertext = seal_with(&identity, case_id, key_version, record_id, plaintext)?;
        Ok(Sealed { ciphertext, key_version })
    }

    /// Decrypts what `seal` produced for this very case and record; anything else (another
    /// record's ciphertext, a flipped byte, a truncation) is `Unreadable`, never partial text.
    pub fn open(
        &self,
        conn: &mut DbConn,
        case_id: &str,
        record_id: &str,
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let key = CaseKey::find(conn, case_id, sealed.key_version)?.ok_or(CryptoError::NoKey)?;
        let identity = self.case_identity(conn, &key)?;
        open_record_with(&identity, case_id, sealed.key_version, record_id, &sealed.ciphertext)
    }

    /// Opens several records of one case (a page of notes) with one read of each key version
    /// they use, rather than one per record; otherwise as [`Crypto::open`].
    pub fn open_all(
        &self,
        conn: &mut DbConn,
        case_id: &str,
        records: &[(&str, &Sealed)],
    ) -> Result<Vec<Zeroizing<Vec<u8>>>, CryptoError> {
        // Per key version: its identity, and its cipher once a record needed it.
        type Version = (i32, Arc<x25519::Identity>, Option<chacha20poly1305::XChaCha20Poly1305>);
        let mut versions: Vec<Version> = Vec::new();
        let mut out = Vec::with_capacity(records.len());
        for (record_id, sealed) in records {
            let version = sealed.key_version;
            let at = match versions.iter().position(|(v, _, _)| *v == version) {
                Some(i) => i,
                None => {
                    let key = CaseKey::find(conn, case_id, version)?.ok_or(CryptoError::NoKey)?;
                    versions.push((version, self.case_identity(conn, &key)?, None));
                    versions.len() - 1
                }
            };
            let (_, identity, cipher) = &mut versions[at];
            out.push(open_record(cipher, identity, case_id, version, record_id, &sealed.ciphertext)?);
        }
        Ok(out)
    }

    /// The case identity: from the cache, or unwrapped from the service grant. `key` is the
    /// row the caller has just read, so a shred (perhaps by another process) takes effect
    /// at once everywhere, cache or not.
    fn case_identity(&self, conn: &mut DbConn, key: &CaseKey) -> Result<Arc<x25519::Identity>, CryptoError> {
        let (case_id, version) = (key.case_id.as_str(), key.key_version);
        let cache_key = (case_id.to_string(), version);
        if key.shredded_at.is_some() {
            self.cache().forget_case(case_id);
            return Err(CryptoError::Shredded);
        }
        if let Some(id) = self.cache().get(&cache_key) {
            self.cache_hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(id);
        }
        self.cache_misses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let grant =
            CaseKeyGrant::find(conn, case_id, version, "service", SERVICE_GRANTEE)?.ok_or(CryptoError::Shredded)?;
        let identity = Arc::new(self.unwrap_service_grant(&grant)?);
        self.cache().put(cache_key, identity.clone());
        Ok(identity)
    }

    /// Unwraps a service grant, re-reading the key file once if its key is unknown here
    /// (a rotation may have run in another process).
    fn unwrap_service_grant(&self, grant: &CaseKeyGrant) -> Result<x25519::Identity, CryptoError> {
        {
            let ring = self.ring_read();
            if let Some(k) = ring.get(&grant.key_id) {
                return unwrap_with(&grant.wrapped, &k.identity);
            }
        }
        let mut ring = self.ring_write();
        ring.reload().map_err(|e| CryptoError::KeyRing(format!("{e:#}")))?;
        let k = ring
            .get(&grant.key_id)
            .ok_or_else(|| CryptoError::KeyRing(format!("service key {} is not in the key file", grant.key_id)))?;
        unwrap_with(&grant.wrapped, &k.identity)
    }

    /// Drops a case's cached identity (after shredding).
    pub fn forget(&self, case_id: &str) {
        self.cache().forget_case(case_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_bind_case_and_record() {
        let f = frame("case-1", "note-1", b"hello").unwrap();
        assert_eq!(&*unframe(&f, "case-1", "note-1").unwrap(), b"hello");
        assert!(unframe(&f, "case-1", "note-2").is_none());
        assert!(unframe(&f, "case-2", "note-1").is_none());
        assert!(unframe(&f[..7], "case-1", "note-1").is_none());
        assert!(unframe(b"", "case-1", "note-1").is_none());
    }

    #[test]
    fn records_open_only_with_their_case_version_record_and_key() {
        let id = x25519::Identity::generate();
        let other = x25519::Identity::generate();
        let sealed = seal_with(&id, "case-1", 1, "note-1", b"she was followed home").unwrap();
        assert!(sealed.starts_with(SEALED_MAGIC));
        assert!(!sealed.windows(8).any(|w| w == b"followed"), "no plaintext in the ciphertext");
        assert_eq!(&*open_record_with(&id, "case-1", 1, "note-1", &sealed).unwrap(), b"she was followed home");
        // A fresh nonce every time: the same record sealed twice differs.
        assert_ne!(sealed, seal_with(&id, "case-1", 1, "note-1", b"she was followed home").unwrap());
        let refused = |identity: &x25519::Identity, case: &str, version: i32, record: &str, ct: &[u8]| {
            matches!(open_record_with(identity, case, version, record, ct), Err(CryptoError::Unreadable))
        };
        assert!(refused(&other, "case-1", 1, "note-1", &sealed), "another case key");
        assert!(refused(&id, "case-2", 1, "note-1", &sealed), "another case");
        assert!(refused(&id, "case-1", 2, "note-1", &sealed), "another key version");
        assert!(refused(&id, "case-1", 1, "note-2", &sealed), "another record");
        for cut in [0, 3, 4, 27, 28, sealed.len() - 1] {
            assert!(refused(&id, "case-1", 1, "note-1", &sealed[..cut]), "truncated at {cut}");
        }
        for i in [0, 5, 30, sealed.len() - 1] {
            let mut flipped = sealed.clone();
            flipped[i] ^= 1;
            assert!(refused(&id, "case-1", 1, "note-1", &flipped), "byte {i} flipped");
        }
        // The data key depends on the version and the case, not only on the identity.
        assert_ne!(*data_key(&id, "case-1", 1).unwrap(), *data_key(&id, "case-1", 2).unwrap());
        assert_ne!(*data_key(&id, "case-1", 1).unwrap(), *data_key(&id, "case-2", 1).unwrap());
    }

    #[test]
    fn records_sealed_with_age_before_format_2_still_open() {
        let id = x25519::Identity::generate();
        let framed = frame("case-1", "note-1", b"written in 2026-11").unwrap();
        let legacy = age::encrypt(&id.to_public(), &framed).unwrap();
        assert_eq!(&*open_record_with(&id, "case-1", 1, "note-1", &legacy).unwrap(), b"written in 2026-11");
        assert!(matches!(open_record_with(&id, "case-1", 1, "note-2", &legacy), Err(CryptoError::Unreadable)));
        let other = x25519::Identity::generate();
        assert!(matches!(open_record_with(&other, "case-1", 1, "note-1", &legacy), Err(CryptoError::Unreadable)));
    }

    #[test]
    fn cache_is_bounded_and_evicts_least_recently_used() {
        let mut c = KeyCache { capacity: 2, tick: 0, map: HashMap::new() };
        let id = || Arc::new(x25519::Identity::generate());
        c.put(("a".into(), 1), id());
        c.put(("b".into(), 1), id());
        assert!(c.get(&("a".into(), 1)).is_some());
        c.put(("c".into(), 1), id());
        assert_eq!(c.map.len(), 2);
        assert!(c.get(&("b".into(), 1)).is_none(), "b was least recently used");
        assert!(c.get(&("a".into(), 1)).is_some());
        c.forget_case("a");
        assert!(c.get(&("a".into(), 1)).is_none());
    }
}
