//! What every request can reach. Built once at start (or per test) by `AppState::build`.

use std::sync::Arc;

use crate::auth::jwt::JwtKeys;
use crate::auth::throttle::LoginThrottle;
use crate::authz::AccessPolicy;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::Crypto;
use crate::db::Db;
use crate::escalation::RuleSet;
use crate::mail::Mailer;
use crate::policy::funding::FundingPolicy;
use crate::policy::risk::RiskPolicy;

pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub jwt: JwtKeys,
    pub clock: Arc<dyn Clock>,
    pub access: AccessPolicy,
    pub throttle: LoginThrottle,
    pub crypto: Crypto,
    pub risk: RiskPolicy,
    pub funding: FundingPolicy,
    pub escalation: RuleSet,
    pub mailer: Mailer,
    pub metrics: crate::metrics::Metrics,
    pub form: crate::form::FormState,
}

impl AppState {
    /// Connects to the database (without migrating), loads keys and policies. Key files are
    /// created on first start.
    pub fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
        let db = Db::connect(config.database_url.expose(), config.db_max_connections)?;
        let jwt = JwtKeys::load_or_create(&config.data_dir, &config.jwt)?;
        let crypto = Crypto::open_ring(&config)?;
        let access = AccessPolicy::load(Some(&config.policies_dir)).map_err(anyhow::Error::msg)?;
        let risk = RiskPolicy::load(Some(&config.policies_dir)).map_err(anyhow::Error::msg)?;
        let funding = FundingPolicy::load(Some(&config.policies_dir)).map_err(anyhow::Error::msg)?;
        let escalation = RuleSet::load(config.policies_dir.clone()).map_err(anyhow::Error::msg)?;
        let mailer = Mailer::from_config(&config)?;
        let throttle = LoginThrottle::new(&config.login, jwt.slot_key("login"));
        let form = crate::form::FormState::new(&config, jwt.slot_key("form"))?;
        Ok(AppState {
            db,
            config: Arc::new(config),
            jwt,
            clock,
            access,
            throttle,
            crypto,
            risk,
            funding,
            escalation,
            mailer,
            metrics: Default::default(),
            form,
        })
    }

    /// The context of one change at `now`, for the domain's functions.
    pub fn ctx(&self, now: chrono::DateTime<chrono::Utc>) -> crate::domain::Ctx<'_> {
        crate::domain::Ctx {
            crypto: &self.crypto,
            access: &self.access,
            risk: &self.risk,
            funding: &self.funding,
            rules: self.escalation.rules(),
            now,
        }
    }

    /// Applies pending migrations, reconciles the key file with the database and seals what
    /// older versions stored in clear (`domain::legacy`); returns the number of migrations
    /// applied. Everything but `haven migrate` calls this before work.
    pub fn prepare(&self) -> anyhow::Result<usize> {
        let ran = self.db.migrate()?;
        self.crypto.sync(&self.db)?;
        let sealed = crate::domain::legacy::seal_clear_fields(&self.db, &self.crypto)?;
        if sealed != Default::default() {
            tracing::info!(
                alerts = sealed.alerts,
                visas = sealed.visas,
                "sealed alert regions and visa countries and types stored in clear by an older version"
            );
        }
        Ok(ran)
    }
}
