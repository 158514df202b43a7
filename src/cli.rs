//! The `inspine` command line: serve (default), migrate, seed, user create, holidays, openapi,
//! backup.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};
use crate::db::{self, Db};
use crate::models::user::{self, Role, User};
use crate::state::AppState;

#[derive(Debug, Parser)]
#[command(name = "inspine", version, about = "Inspine Booking API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations, then serve the API (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Seed the clinic's catalog; with --demo also rooms and therapists with schedules.
    Seed {
        #[arg(long)]
        demo: bool,
    },
    /// Manage logins.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Close every location for each statutory holiday of a year (local midnight to midnight);
    /// closures already there are kept, days with confirmed bookings are reported, not closed.
    Holidays {
        /// Region code; known: CA-BC (British Columbia).
        #[arg(long, value_parser = parse_region)]
        region: crate::holidays::Region,
        #[arg(long)]
        year: i32,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Write a consistent copy of the SQLite database to FILE while the server keeps running.
    Backup { file: std::path::PathBuf },
    /// Re-encrypt every intake version and treatment note from the current HEALTH_DATA_KEY to a
    /// new key, in one transaction. The new key (32 bytes, base64 or hex) is read from a prompt,
    /// or from stdin when it is not a terminal; `--new-key` is accepted too but leaves the key in
    /// the shell history. Stop the server first, and start it again with the new key.
    RotateHealthKey {
        #[arg(long)]
        new_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a login; the password is read from a prompt, or from stdin when it is not a terminal.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        name: Option<String>,
    },
}

fn parse_region(s: &str) -> Result<crate::holidays::Region, String> {
    crate::holidays::Region::parse(s).map_err(|e| e.to_string())
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "expected client, therapist or admin".to_owned())
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        return match serde_json::to_string_pretty(&crate::openapi::openapi()) {
            Ok(spec) => {
                println!("{spec}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    // Logging first: reading the configuration may already warn (a generated JWT secret), and
    // a warning an operator must see has to reach the log.
    let _ = dotenvy::dotenv();
    init_tracing(LogFormat::from_env_lenient());
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => return fail(e),
    };
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Migrate => migrate(&config),
        Command::Seed { demo } => seed(&config, demo),
        Command::User {
            command: UserCommand::Create { email, role, name },
        } => create_user(&config, &email, role, name),
        Command::Holidays { region, year } => holidays(&config, region, year),
        Command::Openapi => Ok(()),
        Command::Backup { file } => backup(&config, &file),
        Command::RotateHealthKey { new_key } => rotate_health_key(&config, new_key),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::FAILURE
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

fn serve(config: Config) -> CliResult {
    let bind = config.bind_addr.clone();
    let state = AppState::prepare(config)?;
    actix_web::rt::System::new().block_on(async move {
        tracing::info!(%bind, "serving");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = actix_web::rt::spawn(crate::integrations::webhooks::run_worker(
            crate::integrations::webhooks::Outbox::of(&state),
            stopped.clone(),
        ));
        let postman = actix_web::rt::spawn(crate::notify::run_worker(
            crate::notify::Postman::of(&state),
            stopped.clone(),
        ));
        let waitlist =
            actix_web::rt::spawn(crate::booking::waitlist::run_worker(state.clone(), stopped));
        let served = crate::server::http_server(
            state.clone(),
            crate::server::Listen::Addr(bind),
            crate::server::default_workers(),
        )?
        .await;
        // The server has drained; let the workers finish their passes and stop.
        let _ = stop.send(true);
        let _ = worker.await;
        let _ = postman.await;
        let _ = waitlist.await;
        served
    })?;
    Ok(())
}

fn open(config: &Config) -> Result<Db, Box<dyn std::error::Error>> {
    let db = Db::connect_for_command(&config.database_url)?;
    let mut conn = db.get()?;
    let applied = db::run_migrations(&mut conn).map_err(|e| e.to_string())?;
    tracing::info!(applied, "migrations applied");
    Ok(db)
}

fn migrate(config: &Config) -> CliResult {
    open(config).map(|_| ())
}

fn seed(config: &Config, demo: bool) -> CliResult {
    let db = open(config)?;
    let mut conn = db.get()?;
    let ctx = crate::audit::AuditContext::system();
    db::write_transaction(&mut conn, |conn| crate::seed::seed_catalog(conn, &ctx))?;
    if demo {
        let created = db::write_transaction(&mut conn, |conn| crate::seed::seed_demo(conn, &ctx))?;
        println!("demo data: {created} therapists created");
    } else {
        println!("catalog seeded");
    }
    Ok(())
}

fn read_password() -> Result<String, Box<dyn std::error::Error>> {
    read_secret("Password: ")
}

fn read_secret(prompt: &str) -> Result<String, Box<dyn std::error::Error>> {
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt)?
    } else {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input)?;
        input.lines().next().unwrap_or_default().to_owned()
    };
    Ok(password)
}

fn create_user(config: &Config, email: &str, role: Role, name: Option<String>) -> CliResult {
    let email = user::normalize_email(email);
    crate::auth::rules::check_email(&email).map_err(|e| e.problem().detail)?;
    let name = name.unwrap_or_else(|| email.clone());
    let password = read_password()?;
    crate::auth::password::check_new(&password, &[&email, &name])?;
    let db = open(config)?;
    let mut conn = db.get()?;
    let password_hash = crate::auth::password::hash(&password).map_err(|e| e.to_string())?;
    let new = User::new(email, name, password_hash, None, role);
    db::write_transaction(&mut conn, |conn| {
        user::insert(conn, &new)?;
        crate::audit::record(
            conn,
            &crate::audit::AuditContext::system(),
            crate::audit::Action::UserCreate,
            crate::audit::Subject::User,
            Some(&new.id),
        )
    })?;
    println!("created {} {} ({})", role.as_str(), new.email, new.id);
    Ok(())
}

fn holidays(config: &Config, region: crate::holidays::Region, year: i32) -> CliResult {
    let days = crate::holidays::statutory(region, year)?;
    let db = open(config)?;
    let mut conn = db.get()?;
    let outcome = db::write_transaction(&mut conn, |conn| {
        let outcome = crate::hours::closures::close_for_holidays(conn, &days, chrono::Utc::now())?;
        for (_, _, closure) in &outcome.added {
            crate::audit::record(
                conn,
                &crate::audit::AuditContext::system(),
                crate::audit::Action::ClosureCreate,
                crate::audit::Subject::Closure,
                Some(&closure.id),
            )?;
        }
        Ok::<_, crate::error::ApiError>(outcome)
    })
    .map_err(|e| e.to_string())?;
    for (holiday, location, closure) in &outcome.added {
        println!(
            "added {} {} at {}: {} to {} ({})",
            holiday.date,
            holiday.name,
            location.name,
            rfc3339(closure.starts_at),
            rfc3339(closure.ends_at),
            closure.id
        );
    }
    for (holiday, location, bookings) in &outcome.refused {
        let ids: Vec<&str> = bookings.iter().map(|b| b.id.as_str()).collect();
        eprintln!(
            "not closed: {} {} at {} has {} confirmed booking(s): {}",
            holiday.date,
            holiday.name,
            location.name,
            ids.len(),
            ids.join(", ")
        );
    }
    println!(
        "{} {year}: {} closure(s) added, {} already present, {} day(s) not closed",
        region.code(),
        outcome.added.len(),
        outcome.present,
        outcome.refused.len()
    );
    if outcome.refused.is_empty() {
        Ok(())
    } else {
        Err("some days were not closed: cancel or move their bookings, then run again".into())
    }
}

fn rfc3339(at: chrono::NaiveDateTime) -> String {
    at.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn backup(config: &Config, file: &std::path::Path) -> CliResult {
    let db = Db::connect_for_command(&config.database_url)?;
    let mut conn = db.get()?;
    db::backup_sqlite(&mut conn, file)?;
    println!("backed up to {}", file.display());
    Ok(())
}

fn rotate_health_key(config: &Config, new_key: Option<String>) -> CliResult {
    use crate::clinical::crypto::HealthKey;
    let raw = match new_key {
        Some(key) => key,
        None => read_secret("New HEALTH_DATA_KEY: ")?,
    };
    let new_bytes = HealthKey::parse(&raw).map_err(|e| format!("the new key: {e}"))?;
    let old = HealthKey::new(&config.health_data_key);
    let new = HealthKey::new(&new_bytes);
    if old.id() == new.id() {
        return Err("the new key is the current HEALTH_DATA_KEY".into());
    }
    let db = open(config)?;
    let mut conn = db.get()?;
    let rotated = db::write_transaction(&mut conn, |conn| {
        let rotated = crate::clinical::rotate(conn, &old, &new)?;
        crate::audit::record(
            conn,
            &crate::audit::AuditContext::system(),
            crate::audit::Action::HealthKeyRotate,
            crate::audit::Subject::HealthData,
            None,
        )?;
        Ok::<_, crate::clinical::KeyCheckError>(rotated)
    })
    .map_err(|e| format!("nothing was changed: {e}"))?;
    println!(
        "re-encrypted {} intake version(s) and {} treatment note(s) under key id {} (was {})",
        rotated.intake_versions,
        rotated.treatment_notes,
        new.id(),
        old.id()
    );
    match &config.health_key_file {
        Some(path) => {
            crate::config::write_private(path, format!("{}\n", raw.trim()).as_bytes())
                .map_err(|e| format!("the data is now under the new key, but {} could not be written ({e}): set HEALTH_DATA_KEY to the new key", path.display()))?;
            println!("the new key is kept in {}; back it up", path.display());
        }
        None => println!("set HEALTH_DATA_KEY to the new key before the next start"),
    }
    Ok(())
}
