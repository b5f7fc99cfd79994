//! Access tokens: HS256 JWTs, and nothing else is accepted (no `none`, no other algorithm).
//! Each carries `kid`, and `exp`/`nbf`/`iat`/`iss`/`aud`/`jti`/`sub` plus the session id;
//! the session is checked in the database on every request, so a token is only as good as
//! its session.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::JwtConfig;
use crate::error::AppError;

pub const KEY_FILE: &str = "jwt-signing.key";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_seconds: u64,
    leeway_seconds: i64,
    /// Derived from the signing secret: keys the digests of idempotent request bodies, so a
    /// stored digest cannot be used to confirm a guess about what a body said.
    digest_key: zeroize::Zeroizing<[u8; 32]>,
}

impl JwtKeys {
    pub fn new(secret: &[u8], cfg: &JwtConfig) -> Self {
        let kid = hex::encode(&Sha256::digest(secret)[..8]);
        let digest_key = zeroize::Zeroizing::new(
            Sha256::new().chain_update(b"haven/request-digest/v1").chain_update(secret).finalize().into(),
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&cfg.issuer]);
        validation.set_audience(&[&cfg.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]);
        // Time claims are checked in `verify` against the app's clock (the one that issued
        // them), not the library's wall clock, so the whole service agrees on what "now" is.
        validation.validate_nbf = false;
        validation.validate_exp = false;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            kid,
            validation,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            ttl_seconds: cfg.access_ttl_seconds,
            leeway_seconds: cfg.leeway_seconds as i64,
            digest_key,
        }
    }

    /// The configured secret, or the key file in `data_dir`, created (mode 0600) on first start.
    pub fn load_or_create(data_dir: &Path, cfg: &JwtConfig) -> anyhow::Result<Self> {
        if !cfg.secret.is_empty() {
            return Ok(Self::new(cfg.secret.expose().as_bytes(), cfg));
        }
        let path = data_dir.join(KEY_FILE);
        let secret = if path.exists() {
            crate::keyfile::check_private(&path)?;
            let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path)?);
            let bytes = hex::decode(text.trim())
                .map_err(|_| anyhow::anyhow!("{} is not a hex key; delete it to make a new one", path.display()))?;
            anyhow::ensure!(bytes.len() >= 32, "{} holds a key shorter than 32 bytes", path.display());
            zeroize::Zeroizing::new(bytes)
        } else {
            let bytes = zeroize::Zeroizing::new(rand::random::<[u8; 32]>().to_vec());
            let mut f = crate::keyfile::create_private(&path)?;
            f.write_all(zeroize::Zeroizing::new(hex::encode(&*bytes)).as_bytes())?;
            f.sync_all()?;
            bytes
        };
        Ok(Self::new(&secret, cfg))
    }

    /// HMAC-SHA256 of `bytes` under the service's digest key, hex.
    pub fn keyed_digest(&self, bytes: &[u8]) -> Result<String, AppError> {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&*self.digest_key)
            .map_err(|e| AppError::internal(anyhow::anyhow!("hmac: {e}")))?;
        mac.update(bytes);
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    /// The key of the throttles' slots for `purpose`: derived from the signing secret,
    /// which every instance of one deployment shares, so they all count in the same slots.
    pub fn slot_key(&self, purpose: &str) -> crate::auth::throttle::SlotKey {
        crate::auth::throttle::SlotKey::derive(&*self.digest_key, purpose)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    pub fn issue(&self, user_id: &str, session_id: &str, now: DateTime<Utc>) -> Result<String, AppError> {
        let iat = now.timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            jti: uuid::Uuid::new_v4().to_string(),
            iat,
            nbf: iat,
            exp: iat + self.ttl_seconds as i64,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| AppError::internal(anyhow::anyhow!("jwt encode: {e}")))
    }

    /// Checks header (algorithm, kid), signature and claims; any failure is the same 401.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, AppError> {
        let invalid = AppError::Unauthorized("invalid_token");
        let header = jsonwebtoken::decode_header(token).map_err(|_| AppError::Unauthorized("invalid_token"))?;
        if header.alg != Algorithm::HS256 || header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(invalid);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|_| AppError::Unauthorized("invalid_token"))?;
        let now = now.timestamp();
        if claims.exp <= now - self.leeway_seconds || claims.nbf > now + self.leeway_seconds {
            return Err(invalid);
        }
        Ok(claims)
    }
}
