//! The `haven` command line: `serve` (the default), `migrate`, `org`, `user`, `audit verify`.
//! Output for people goes to stdout; diagnostics go to the log on stderr.

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::web;
use clap::{Args, Parser, Subcommand};

use crate::audit::Verdict;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::models::{Organization, User};
use crate::domain::accounts::{self, Bootstrap, NewOrganization, NewUser};
use crate::domain::{OrganizationKind, Role};
use crate::state::AppState;

#[derive(Parser)]
#[command(name = "haven", version, about = "Protection case management for defenders at risk")]
struct Cli {
    /// TOML configuration file (also HAVEN_CONFIG); HAVEN_* variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (migrates first). The default.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The defenders' web form.
    #[command(subcommand)]
    Form(FormCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The service key ring (encryption at rest).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Case operations.
    #[command(subcommand)]
    Case(CaseCommand),
    /// The rules in policies/.
    #[command(subcommand)]
    Policies(PoliciesCommand),
    /// Write a consistent copy of the SQLite database to FILE while the service runs.
    Backup {
        /// Where to write the copy; an existing file is never overwritten.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum PoliciesCommand {
    /// Check every policy file; exits 1 if any does not check.
    Check {
        /// The directory to check (default: the configured policies_dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Also show, for this case, which escalation rules apply and when each step would
        /// fire (reads the database; changes nothing).
        #[arg(long, value_name = "CASE_ID")]
        dry_run: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List service keys and how many case-key grants each holds.
    Status,
    /// Add a service key, make it current and re-wrap every grant to it (resumes an
    /// interrupted rotation instead if one is unfinished).
    Rotate {
        /// Grants re-wrapped per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: i64,
        /// Pause between batches, to limit the load on a busy database.
        #[arg(long, default_value_t = 0)]
        pause_ms: u64,
    },
    /// Remove an old service key from the key file; refused while any grant uses it.
    Retire { key_id: String },
    /// Restore the service grant of a case from its escrow grant, with the offline identity.
    Recover {
        /// The offline escrow identity (an age identity file).
        #[arg(long)]
        identity: PathBuf,
        case_id: String,
    },
}

#[derive(Subcommand)]
enum CaseCommand {
    /// Destroy a case's key grants: its encrypted content becomes unreadable for good.
    Shred {
        case_id: String,
        /// Keep the offline escrow grant, so `haven keys recover` can still restore it.
        #[arg(long)]
        keep_escrow: bool,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organisation and print its id.
    Create {
        #[arg(long)]
        name: String,
        /// embassy | un_agency | ngo | other
        #[arg(long)]
        kind: String,
        /// ISO 3166-1 alpha-2, e.g. CO
        #[arg(long)]
        country: String,
    },
    /// List organisations.
    List,
}

#[derive(Subcommand)]
enum FormCommand {
    /// Show which organisation receives the form's alerts and whether the form is open; with
    /// --org, make that organisation the receiver (it must have an active coordinator).
    Intake {
        /// Organisation id or exact name.
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account and print its one-time password.
    Create(UserCreateArgs),
    /// Give an account a new one-time password and print it; ends all her sessions.
    ResetPassword {
        /// The account's email address.
        email: String,
    },
}

#[derive(Args)]
struct UserCreateArgs {
    #[arg(long)]
    email: String,
    #[arg(long)]
    name: String,
    /// admin | coordinator | officer | auditor
    #[arg(long)]
    role: String,
    /// Organisation id or exact name.
    #[arg(long = "org")]
    organization: String,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; exits 1 at the first broken link. Prints the head (last seq and
    /// hash): keep it outside the database and pass it back with --expect-head next time, to
    /// catch rows cut off the end or a chain recomputed from scratch.
    Verify {
        /// A head printed by an earlier run, as SEQ:HASH; that row must still be there, unchanged.
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Option<String>,
        /// On a failure, also print the last good event and every event after it (up to 200),
        /// each with whether its own hash and its link still hold, and where rows are missing.
        /// Reads only: nothing is repaired or rewritten.
        #[arg(long)]
        report: bool,
        /// Start at event SEQ, taking its link to the one before as given: after an incident is
        /// recorded, keep checking what was written since (see README, "When the audit chain
        /// does not verify").
        #[arg(long, value_name = "SEQ", value_parser = clap::value_parser!(i64).range(1..))]
        from: Option<i64>,
    },
}

/// Targets that log a request's concrete path (with its ids) at debug level: actix's
/// extractors ("Failed to deserialize Json … Request path: /api/v1/cases/<id>/…"). They are
/// held at `info` whatever the filter asks for; Haven's own access log names route patterns.
const PATH_LOGGING_TARGETS: &[&str] = &["actix_web::types", "actix_web::request_data", "actix_web::extract"];

fn init_logging(filter: &str, format: &str) {
    let mut filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for target in PATH_LOGGING_TARGETS {
        if let Ok(d) = format!("{target}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).try_init()
    };
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let config = match Config::from_process(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("haven: configuration error: {e}");
            return 2;
        }
    };
    init_logging(&config.log, &config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Migrate => migrate(config),
        Command::Org(cmd) => org(config, cmd),
        Command::User(UserCommand::Create(args)) => user_create(config, args),
        Command::User(UserCommand::ResetPassword { email }) => user_reset_password(config, &email),
        Command::Form(FormCommand::Intake { org }) => form_intake(config, org.as_deref()),
        Command::Audit(AuditCommand::Verify { expect_head, report, from }) => {
            return audit_verify(config, expect_head.as_deref(), report, from.unwrap_or(1))
        }
        Command::Keys(cmd) => keys(config, cmd),
        Command::Case(CaseCommand::Shred { case_id, keep_escrow }) => shred(config, &case_id, keep_escrow),
        Command::Backup { file } => backup(config, &file),
        Command::Policies(PoliciesCommand::Check { dir, dry_run }) => {
            let dir = dir.unwrap_or(config.policies_dir.clone());
            let code = policies_check(&dir);
            if code != 0 {
                return code;
            }
            match dry_run {
                None => return 0,
                Some(case_id) => dry_run_case(config, &dir, &case_id),
            }
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("haven: {e:#}");
            1
        }
    }
}

fn state(config: Config) -> anyhow::Result<AppState> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    AppState::build(config, clock)
}

fn err(e: crate::error::AppError) -> anyhow::Error {
    match e {
        crate::error::AppError::Internal(c) | crate::error::AppError::Unavailable(c) => c,
        other => anyhow::anyhow!("{}", other),
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    let bind = config.bind.clone();
    let workers = config.workers;
    // Everything that can fail comes before the first admin is made: a start that fails
    // (a busy port, a bad rule) must not use up the one-time password it would print.
    let listener = std::net::TcpListener::bind(&bind).map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e}"))?;
    let st = state(config)?;
    let ran = st.prepare()?;
    if ran > 0 {
        tracing::info!(count = ran, "applied database migrations");
    }
    let rules = st.escalation.rules();
    crate::escalation::check_targets(&st.db, &rules).map_err(|e| anyhow::anyhow!("escalation rules: {e}"))?;
    log_rule_sources(&st.config.policies_dir, &rules);
    print_bootstrap(&st)?;
    log_intake(&st)?;
    println!("Haven is listening on http://{}", listener.local_addr()?);
    let data = web::Data::new(st);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker = crate::escalation::spawn_worker(data.clone(), stop.clone());
    let reload_state = data.clone();
    actix_web::rt::System::new().block_on(async move {
        actix_web::rt::spawn(reload_on_sighup(reload_state));
        crate::server(data, listener, workers, true)?.await
    })?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = worker.join();
    Ok(())
}

/// The start log says whether the web form takes alerts, and if not why and what to do: a
/// newcomer's first report must not vanish into an organisation nobody reads.
fn log_intake(st: &AppState) -> anyhow::Result<()> {
    let cfg = st.config.clone();
    let status = st.db.read_blocking(move |c| crate::domain::intake::status(c, &cfg)).map_err(err)?;
    match status.explain() {
        None => tracing::info!(source = status.source().as_str(), "the web form is open"),
        Some(why) => {
            tracing::warn!("{why}");
            println!("Note: {why}.");
        }
    }
    Ok(())
}

/// The start log says which rules are in force and where they come from: a missing
/// `policies/` directory means the rules built into the binary, which a newcomer should know.
fn log_rule_sources(dir: &std::path::Path, rules: &crate::escalation::Rules) {
    if !dir.is_dir() {
        tracing::warn!(
            policies_dir = %dir.display(),
            "no policies directory: the built-in access, risk, funding and escalation rules are in force"
        );
    }
    for name in ["access.toml", "risk.toml", "funding.toml"] {
        tracing::info!(from = %crate::policy::source(Some(dir), name), "policy loaded");
    }
    tracing::info!(
        policies = rules.policies.len(),
        tests = rules.tests_passed,
        from = %rules.sources.join(", "),
        "escalation rules loaded"
    );
}

/// SIGHUP re-reads the escalation rules; a bad file is logged and the rules in force stay.
async fn reload_on_sighup(state: web::Data<AppState>) {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; escalation rules reload only at start");
        return;
    };
    while hup.recv().await.is_some() {
        match state.escalation.reload_checked(|r| crate::escalation::check_targets(&state.db, r)) {
            Ok(r) => tracing::info!(policies = r.policies.len(), tests = r.tests_passed, "escalation rules reloaded"),
            Err(e) => tracing::error!(error = %e, "escalation rules NOT reloaded; the previous rules stay in force"),
        }
    }
}

/// `policies check --dry-run CASE`: every rule that would apply to the case and its records,
/// with each step's time, counted from the running escalation or from now.
fn dry_run_case(config: Config, dir: &std::path::Path, case_id: &str) -> anyhow::Result<()> {
    use crate::escalation::subject;
    let rules = crate::escalation::Rules::load(Some(dir)).map_err(anyhow::Error::msg)?;
    let st = state(config)?;
    st.prepare()?;
    let now = st.clock.now();
    let lines = st
        .db
        .read_blocking(|c| {
            let case =
                crate::db::models::Case::find(c, case_id)?.ok_or(crate::error::AppError::NotFound("case_not_found"))?;
            let subjects = crate::db::models::Case::subjects(c, &case.id)?;
            let mut out =
                vec![format!("Case {} ({}), at {}:", case.reference, case.status, now.format("%Y-%m-%d %H:%M UTC"))];
            for p in &rules.policies {
                for (kind, id) in subjects.iter().filter(|(k, _)| *k == p.subject_kind) {
                    let Some(subj) = subject::load(c, kind, id)? else { continue };
                    let running = crate::db::models::Escalation::active_for(c, &p.id, kind, id)?;
                    let when = p.when.as_ref().map(|w| w.eval(&subj.vars, now)).unwrap_or(Ok(true));
                    let stop = p.stop_when.as_ref().map(|w| w.eval(&subj.vars, now)).unwrap_or(Ok(false));
                    let anchor = match (&running, &p.anchor) {
                        (Some(e), _) => crate::clock::utc(e.anchor_at),
                        (None, Some((v, f))) => subject::time_field(&subj.vars, v, f).unwrap_or(now),
                        (None, None) => now,
                    };
                    out.push(format!(
                        "\n{} on {kind} {id}: when = {}, stop_when now = {}{}",
                        p.id,
                        when.as_ref().map(|b| b.to_string()).unwrap_or_else(|e| e.clone()),
                        stop.as_ref().map(|b| b.to_string()).unwrap_or_else(|e| e.clone()),
                        match &running {
                            Some(e) => format!(
                                ", running (escalation {}, next step {} of repeat {})",
                                e.id,
                                e.step + 1,
                                e.loop_no
                            ),
                            None => ", not running".into(),
                        }
                    ));
                    for (i, s) in p.steps.iter().enumerate() {
                        let at = p.due_at(anchor, 0, i).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string());
                        let targets: Vec<String> = s.notify.iter().map(|t| t.to_string()).collect();
                        out.push(format!(
                            "  step {} at {} -> {}",
                            i + 1,
                            at.unwrap_or_else(|| "never".into()),
                            targets.join(", ")
                        ));
                    }
                    if p.repeat > 0 {
                        out.push(format!("  then {} more round(s), every {} min", p.repeat, p.period.num_minutes()));
                    }
                }
            }
            Ok(out)
        })
        .map_err(err)?;
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// First start: create the admin and show a generated password exactly once, on stdout.
fn print_bootstrap(st: &AppState) -> anyhow::Result<()> {
    let now = st.clock.now();
    let admin_cfg = st.config.admin.clone();
    let outcome =
        st.db.write_blocking(|c| accounts::bootstrap(c, now, &admin_cfg, crate::auth::password::hash)).map_err(err)?;
    if let Bootstrap::Created { email, generated_password } = outcome {
        tracing::info!("created the first admin account");
        match generated_password {
            Some(p) => {
                println!("================================================================");
                println!(" First start: an admin account was created.");
                println!("   email:    {email}");
                println!("   password: {p}");
                println!(" This password is shown only now. Log in and change it");
                println!(" (POST /api/v1/me/password) before doing anything else.");
                println!("================================================================");
            }
            None => {
                println!("First start: admin account {email} created with HAVEN_ADMIN_PASSWORD.")
            }
        }
    }
    Ok(())
}

/// `VACUUM INTO`: an online, consistent snapshot (one read transaction) that never blocks
/// the service's writers for long and leaves no half-written file behind on failure.
fn backup(config: Config, file: &std::path::Path) -> anyhow::Result<()> {
    use diesel::connection::SimpleConnection;
    if file.exists() {
        anyhow::bail!("{} exists; refusing to overwrite it", file.display());
    }
    let db = crate::db::Db::connect(config.database_url.expose(), 1)?;
    if db.backend() != crate::db::Backend::Sqlite {
        anyhow::bail!(
            "haven backup copies the embedded SQLite database; for PostgreSQL use pg_dump (e.g. pg_dump -Fc), \
             and back up {} separately",
            config.data_dir.join("service-keys").display()
        );
    }
    let target = file.to_str().ok_or_else(|| anyhow::anyhow!("the backup path must be valid UTF-8"))?;
    let partial = format!("{target}.partial");
    let _ = std::fs::remove_file(&partial);
    db.get()
        .map_err(err)?
        .batch_execute(&format!("VACUUM INTO '{}'", partial.replace('\'', "''")))
        .map_err(|e| anyhow::anyhow!("backup failed: {e}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&partial, file)?;
    let size = std::fs::metadata(file)?.len();
    println!("Backup written to {} ({size} bytes, mode 0600).", file.display());
    println!(
        "Case content in it is sealed: reading it needs the key file {} (and its passphrase, if set).",
        config.data_dir.join("service-keys").display()
    );
    println!("Back that file up separately. To restore: stop haven, put the copy at the database path, start haven.");
    Ok(())
}

fn migrate(config: Config) -> anyhow::Result<()> {
    let st = state(config)?;
    let ran = st.db.migrate()?;
    println!("{ran} migration(s) applied; the database is up to date.");
    Ok(())
}

fn org(config: Config, cmd: OrgCommand) -> anyhow::Result<()> {
    let st = state(config)?;
    st.prepare()?;
    match cmd {
        OrgCommand::Create { name, kind, country } => {
            let kind = OrganizationKind::parse(&kind)
                .ok_or_else(|| anyhow::anyhow!("--kind must be one of embassy, un_agency, ngo, other"))?;
            let now = st.clock.now();
            let org = st
                .db
                .write_blocking(|c| {
                    accounts::create_organization(c, now, None, NewOrganization { name, kind, country })
                })
                .map_err(err)?;
            println!("created organization {} ({})", org.id, org.name);
        }
        OrgCommand::List => {
            let orgs = st.db.read_blocking(|c| Ok(Organization::page(c, None, i64::MAX)?)).map_err(err)?;
            for o in orgs {
                println!("{}\t{}\t{}\t{}", o.id, o.kind, o.country, o.name);
            }
        }
    }
    Ok(())
}

fn user_create(config: Config, args: UserCreateArgs) -> anyhow::Result<()> {
    let role = Role::parse(&args.role)
        .ok_or_else(|| anyhow::anyhow!("--role must be one of admin, coordinator, officer, auditor"))?;
    let st = state(config)?;
    st.prepare()?;
    let password = crate::auth::password::generate();
    let hash = crate::auth::password::hash(&password).map_err(err)?;
    let now = st.clock.now();
    let user = st
        .db
        .write_blocking(|c| {
            let org = match Organization::find(c, &args.organization)? {
                Some(o) => o,
                None => Organization::find_by_name(c, &args.organization)?.ok_or_else(|| {
                    crate::error::AppError::unprocessable("unknown_organization", "--org names no organization")
                })?,
            };
            let input = NewUser { email: args.email, name: args.name, role, organization_id: org.id };
            accounts::create_user(c, now, None, input, hash, true)
        })
        .map_err(err)?;
    println!("created {} account {} ({})", user.role, user.email, user.id);
    println!("one-time password: {password}");
    println!("It is shown only now; the account must change it at first login.");
    Ok(())
}

fn form_intake(config: Config, org: Option<&str>) -> anyhow::Result<()> {
    let st = state(config)?;
    st.prepare()?;
    let now = st.clock.now();
    let cfg = st.config.clone();
    let wanted = org.map(str::to_string);
    let status = st
        .db
        .write_blocking(move |c| {
            if let Some(w) = &wanted {
                crate::domain::intake::set(c, now, None, w)?;
            }
            crate::domain::intake::status(c, &cfg)
        })
        .map_err(err)?;
    match (&status, status.explain()) {
        (crate::domain::intake::Intake::Open { organization, .. }, _) => println!(
            "the web form is open: its alerts go to {} ({}), chosen by {}",
            organization.name,
            organization.id,
            status.source().as_str()
        ),
        (_, Some(why)) => println!("{why}"),
        (_, None) => {}
    }
    Ok(())
}

fn user_reset_password(config: Config, email: &str) -> anyhow::Result<()> {
    let st = state(config)?;
    st.prepare()?;
    let password = crate::auth::password::generate();
    let hash = crate::auth::password::hash(&password).map_err(err)?;
    let now = st.clock.now();
    let email = email.to_string();
    let lookup = email.clone();
    let user = st
        .db
        .write_blocking(move |c| match User::find_by_email(c, &lookup)? {
            Some(user) => accounts::reset_password(c, now, None, &user.id, hash).map(Some),
            None => Ok(None),
        })
        .map_err(err)?
        .ok_or_else(|| anyhow::anyhow!("no account has the email address {email}"))?;
    println!("new one-time password for {} ({}): {password}", user.email, user.id);
    println!("It is shown only now; her sessions have ended and she must change it at her next login.");
    Ok(())
}

fn audit_verify(config: Config, expect_head: Option<&str>, want_report: bool, from: i64) -> i32 {
    use crate::audit::Report;
    use crate::db::models::AuditEvent;
    const REPORT_ROWS: i64 = 200;
    let expected = match expect_head.map(|h| h.split_once(':')) {
        None => None,
        Some(Some((seq, hash))) if seq.parse::<i64>().is_ok() && hash.len() == 64 => {
            Some((seq.parse::<i64>().unwrap_or_default(), hash.to_string()))
        }
        Some(_) => {
            eprintln!("haven: --expect-head must be SEQ:HASH as printed by an earlier `haven audit verify`");
            return 2;
        }
    };
    type Found = (Verdict, Option<AuditEvent>, Option<Report>);
    let run = || -> anyhow::Result<Found> {
        let st = state(config)?;
        st.db
            .read_blocking(|c| {
                let verdict = crate::audit::verify_from(c, from)?;
                let anchor = match &expected {
                    Some((seq, _)) => AuditEvent::by_seq(c, *seq)?,
                    None => None,
                };
                let head_lost = |a: &Option<AuditEvent>| {
                    expected.as_ref().is_some_and(|(s, h)| !a.as_ref().is_some_and(|a| a.seq == *s && &a.hash == h))
                };
                let last_good = match &verdict {
                    Verdict::Broken { rows_checked, .. } => Some(from - 1 + *rows_checked as i64),
                    // A lost head: the rows from the recorded one on are what changed.
                    Verdict::Intact { head, .. } if head_lost(&anchor) => {
                        let end = head.as_ref().map_or(0, |(s, _)| *s);
                        Some(expected.as_ref().map_or(end, |(s, _)| (*s - 1).min(end)))
                    }
                    Verdict::Intact { .. } => None,
                };
                let report = match last_good {
                    Some(seq) if want_report => Some(crate::audit::report(c, seq, REPORT_ROWS)?),
                    _ => None,
                };
                Ok((verdict, anchor, report))
            })
            .map_err(err)
    };
    let from_note = if from > 1 { format!(" from #{from}") } else { String::new() };
    match run() {
        Ok((Verdict::Intact { rows, head }, anchor, report)) => {
            if let Some((seq, hash)) = &expected {
                let ok = anchor.as_ref().is_some_and(|a| a.seq == *seq && &a.hash == hash);
                if !ok {
                    println!("audit chain BROKEN: the expected head #{seq} is missing or changed (rows cut off or the chain recomputed)");
                    if let Some(r) = &report {
                        print_report(r);
                    }
                    return 1;
                }
            }
            println!("audit chain intact{from_note}: {rows} event(s) verified");
            if let Some((seq, hash)) = head {
                println!("head: {seq}:{hash}");
            }
            0
        }
        Ok((Verdict::Broken { seq, reason, rows_checked }, _, report)) => {
            println!(
                "audit chain BROKEN at event #{seq}: {reason} ({rows_checked} event(s){from_note} before it verified)"
            );
            match &report {
                Some(r) => print_report(r),
                None => println!("run `haven audit verify --report` to see the last good event and what follows it"),
            }
            1
        }
        Err(e) => {
            eprintln!("haven: {e:#}");
            2
        }
    }
}

/// The operator's view of a damaged chain: ids, times and actions, never `detail`.
fn print_report(r: &crate::audit::Report) {
    use crate::clock::ts;
    match &r.last_good {
        Some(ev) => println!(
            "last good event: #{} at {} ({}); its head: {}:{}",
            ev.seq,
            ts(ev.occurred_at),
            ev.action,
            ev.seq,
            ev.hash
        ),
        None => println!("last good event: none (the damage starts at the first row)"),
    }
    if r.following.is_empty() {
        println!("after it: no rows (everything after it is gone)");
    } else {
        println!("after it, {} row(s):", r.following.len() as i64 + r.more);
        for s in &r.following {
            if let Some((a, b)) = s.missing_before {
                if a == b {
                    println!("  #{a} MISSING");
                } else {
                    println!("  #{a}..#{b} MISSING ({} rows)", b - a + 1);
                }
            }
            let e = &s.event;
            println!(
                "  #{} {} {} {} {} actor={} content={} link={}",
                e.seq,
                ts(e.occurred_at),
                e.action,
                e.subject_type,
                e.outcome,
                e.actor_id.as_deref().unwrap_or("-"),
                if s.content_ok { "ok" } else { "CHANGED" },
                if s.link_ok { "ok" } else { "BROKEN" },
            );
        }
        if r.more > 0 {
            println!("  … and {} more row(s) not shown", r.more);
        }
    }
    for e in &r.outside {
        println!(
            "  #{} {} {} {} outside the chain (Haven numbers rows from 1)",
            e.seq,
            ts(e.occurred_at),
            e.action,
            e.subject_type
        );
    }
    println!("nothing was changed; see README \"When the audit chain does not verify\" for what to do next");
}

fn keys(config: Config, cmd: KeysCommand) -> anyhow::Result<()> {
    let st = state(config)?;
    st.prepare()?;
    let now = st.clock.now();
    match cmd {
        KeysCommand::Status => {
            println!("{:<22} {:<8} {:>8}  created", "key", "state", "grants");
            for k in crate::crypto::ops::status(&st.crypto, &st.db)? {
                let state = match (k.key.is_current, k.key.retired_at.is_some(), k.in_key_file) {
                    (true, _, _) => "current",
                    (_, true, _) => "retired",
                    (_, _, false) => "MISSING",
                    _ => "old",
                };
                println!("{:<22} {:<8} {:>8}  {}", k.key.key_id, state, k.grants, crate::clock::ts(k.key.created_at));
            }
        }
        KeysCommand::Rotate { batch_size, pause_ms } => {
            let pause = std::time::Duration::from_millis(pause_ms);
            let report = crate::crypto::ops::rotate(&st.crypto, &st.db, now, batch_size, pause, |done, total| {
                println!("re-wrapped {done}/{total} grants");
            })?;
            match &report.new_key {
                Some(k) => println!("rotation complete: {k} is current; {} grant(s) re-wrapped", report.rewrapped),
                None => println!(
                    "resumed an unfinished rotation: {} is current; {} grant(s) re-wrapped",
                    report.current_key, report.rewrapped
                ),
            }
            println!("old keys stay in the key file until `haven keys retire <key-id>`.");
        }
        KeysCommand::Retire { key_id } => {
            crate::crypto::ops::retire(&st.crypto, &st.db, now, &key_id)?;
            println!("retired {key_id}: removed from the key file");
        }
        KeysCommand::Recover { identity, case_id } => {
            let n = crate::crypto::ops::recover(&st.db, now, &identity, &case_id)?;
            println!("restored the service grant of {case_id} from escrow ({n} key version(s))");
        }
    }
    Ok(())
}

fn shred(config: Config, case_id: &str, keep_escrow: bool) -> anyhow::Result<()> {
    let st = state(config)?;
    st.prepare()?;
    let now = st.clock.now();
    let n = st
        .db
        .write_blocking(|c| crate::crypto::ops::shred(&st.crypto, c, now, None, case_id, keep_escrow))
        .map_err(err)?;
    println!("shredded {case_id}: {n} key grant(s) destroyed{}", if keep_escrow { " (escrow grant kept)" } else { "" });
    Ok(())
}

fn policies_check(dir: &std::path::Path) -> i32 {
    let results = [
        ("access.toml", crate::authz::AccessPolicy::load(Some(dir)).map(|_| String::new())),
        ("risk.toml", crate::policy::risk::RiskPolicy::load(Some(dir)).map(|p| format!(" (sha256 {})", &p.hash[..16]))),
        ("funding.toml", crate::policy::funding::FundingPolicy::load(Some(dir)).map(|_| String::new())),
        (
            "escalation.toml",
            crate::escalation::Rules::load(Some(dir)).map(|r| {
                format!(
                    " ({} policies, {} embedded tests passed, from {})",
                    r.policies.len(),
                    r.tests_passed,
                    r.sources.join(", ")
                )
            }),
        ),
    ];
    let mut failed = false;
    for (name, r) in results {
        let from =
            if dir.join(name).exists() { dir.join(name).display().to_string() } else { format!("built-in {name}") };
        match r {
            Ok(extra) => println!("ok      {from}{extra}"),
            Err(e) => {
                failed = true;
                println!("FAILED  {e}");
            }
        }
    }
    i32::from(failed)
}
