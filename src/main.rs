//! The `partnermatch` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use partnermatch::{Metrics, Role, ServeOptions, TlsSettings, Tokens, metrics_router, new_token};
use partnermatch_core::dataset::{
    self, DEFAULT_SCHOOLS, DEFAULT_SEED, SyntheticConfig, SyntheticFocus,
};
use partnermatch_core::domain::School;
use partnermatch_core::domain::{MatchMode, Phase, PhaseRelation, Stage};
use partnermatch_core::engine::{
    BrokerQuery, Engine, EngineConfig, FamilyConfig, MatchQuery, SeekerFilter, SeekerSelection,
    broker_limits, validate_sizes,
};
use partnermatch_store::SqliteStore;

mod cli;

use cli::config_file;
use cli::loadgen::{self, LoadConfig};
use cli::report::{self, Format};

/// Environment variable names, one per flag that can come from the
/// environment.
mod env {
    pub const LOG: &str = "PARTNERMATCH_LOG";
    pub const LISTEN: &str = "PARTNERMATCH_LISTEN";
    pub const DATA: &str = "PARTNERMATCH_DATA";
    pub const DB: &str = "PARTNERMATCH_DB";
    pub const TOKENS: &str = "PARTNERMATCH_TOKENS";
}

/// School partner-matching engine: ranked, explained partners for
/// school-to-school support, served over gRPC.
#[derive(Debug, Parser)]
#[command(name = "partnermatch", version)]
struct Cli {
    /// Log filter, e.g. `info`, `debug`, `partnermatch=debug,info`.
    #[arg(long, global = true, env = env::LOG, default_value = "info")]
    log: String,

    /// A TOML configuration file: keys are long flag names with `_` (e.g.
    /// `max_in_flight = 512`); the environment overrides it, flags override
    /// both.
    #[arg(long, global = true, env = "PARTNERMATCH_CONFIG")]
    config: Option<PathBuf>,

    /// Log lines as readable text or as JSON objects (one per line, with
    /// the request's span fields: method, request_id).
    #[arg(long, global = true, value_enum, env = "PARTNERMATCH_LOG_FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gRPC API (SchoolRegistry, PartnerMatcher, health, reflection)
    /// until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Drive a running server on loopback: Match, then the health Check as a
    /// no-op baseline, with the same connections and streams, and print
    /// requests/s and latency percentiles for both.
    Bench(BenchArgs),
    /// Pair many seekers with partners at once (the best total score within
    /// every school's free places) and print the pairs, the seekers left
    /// unassigned and the gain over one-at-a-time matching.
    Broker(BrokerArgs),
    /// Print the families of schools: phase, language group and size band,
    /// ordered by index of challenge and cut to --family-size.
    Families(FamiliesArgs),
    /// Manage bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Show configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the configuration `serve` would run with (file, then
    /// environment, then these flags), as TOML, with token hashes hidden.
    Print(ServeArgs),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Make a new random token: prints the token (give it to the client,
    /// once) and the `role:sha256` line to configure with `serve --token`.
    New {
        /// reader, writer or admin.
        #[arg(long)]
        role: String,
    },
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// Server to drive; must be a loopback address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    target: SocketAddr,

    /// HTTP/2 connections (1–64).
    #[arg(long, default_value_t = 4)]
    connections: usize,

    /// Concurrent callers per connection (1–256).
    #[arg(long, default_value_t = 16)]
    streams: usize,

    /// Measured seconds per RPC (at most 300).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,

    /// Unmeasured warm-up seconds before each measurement (at most 60).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,

    /// Different seekers, spread evenly over the registry.
    #[arg(long, default_value_t = 1000)]
    seekers: usize,

    /// Partners per Match (1–100).
    #[arg(long, default_value_t = 10)]
    limit: u32,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on. Port 0 picks a free port (the log says which).
    #[arg(long, env = env::LISTEN, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,

    #[command(flatten)]
    data: DataArgs,

    /// An accepted bearer token, as `role:sha256hex` (role reader, writer or
    /// admin; the SHA-256 of the token, never the token itself). Repeat for
    /// more tokens, or list them comma-separated in the environment. Make
    /// one with `partnermatch token new --role reader`.
    #[arg(long = "token", env = env::TOKENS, value_delimiter = ',')]
    tokens: Vec<String>,

    /// Serve without authentication: every call is admitted. For a trusted
    /// machine or network only; the server logs a warning.
    #[arg(long, conflicts_with = "tokens")]
    no_auth: bool,

    /// On SIGINT/SIGTERM, seconds to let in-flight calls finish before
    /// stopping anyway.
    #[arg(long, default_value_t = 10.0)]
    shutdown_grace_secs: f64,

    /// API calls handled at once; more are answered RESOURCE_EXHAUSTED at
    /// once (health and reflection are never refused).
    #[arg(long, default_value_t = ServeOptions::default().max_in_flight as u64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_in_flight: u64,

    /// Longest a call may run, in seconds; a client's shorter deadline
    /// (grpc-timeout) wins. Then DEADLINE_EXCEEDED.
    #[arg(long, default_value_t = 30.0)]
    request_timeout_secs: f64,

    /// Largest request message accepted, in bytes.
    #[arg(long, default_value_t = ServeOptions::default().max_message_bytes)]
    max_message_bytes: usize,

    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Require client certificates signed by this CA (PEM); needs TLS.
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,

    /// Serve Prometheus metrics on this address at /metrics (off unless
    /// given), e.g. 127.0.0.1:9464.
    #[arg(long, env = "PARTNERMATCH_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,

    /// Calls one connection may have in progress; more are answered
    /// RESOURCE_EXHAUSTED at once.
    #[arg(long, default_value_t = ServeOptions::default().max_calls_per_connection)]
    max_calls_per_connection: usize,

    /// Concurrent HTTP/2 streams per connection.
    #[arg(long, default_value_t = ServeOptions::default().max_streams_per_connection)]
    max_streams_per_connection: u32,

    /// API calls one client may have in flight (a token; the client's
    /// address when --no-auth); more are answered RESOURCE_EXHAUSTED.
    /// Default: half of --max-in-flight.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_in_flight_per_client: Option<u64>,

    /// Seconds a request's body may take to arrive after its headers (and
    /// the longest gap between the messages of an import stream); a call
    /// holds no slot while it waits.
    #[arg(long, default_value_t = 10.0)]
    body_timeout_secs: f64,

    /// Connections held at once; at the limit the connection idle the
    /// longest is closed for a newcomer. Default: the limit on open files
    /// (raised to its hard limit at start-up) less 64, at most 10,000.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: Option<u64>,

    /// Seconds a new connection has to finish its TLS handshake (or send
    /// the HTTP/2 preface, in plaintext) before it is closed.
    #[arg(long, default_value_t = 10.0)]
    handshake_timeout_secs: f64,

    /// Seconds a connection may stay open with no call in progress.
    #[arg(long, default_value_t = 300.0)]
    idle_timeout_secs: f64,

    /// Seconds of quiet after which the server pings a connection (HTTP/2
    /// keep-alive), closing it if the ping is not answered within
    /// --keepalive-timeout-secs.
    #[arg(long, default_value_t = 60.0)]
    keepalive_interval_secs: f64,

    /// Seconds to wait for the answer to a keep-alive ping.
    #[arg(long, default_value_t = 20.0)]
    keepalive_timeout_secs: f64,
}

/// A positive number of seconds from flag `--flag`.
fn positive_secs(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .with_context(|| format!("--{flag} must be a positive number of seconds, got {value}"))
}

/// Where the registry comes from (serve, broker, families).
#[derive(Debug, clap::Args)]
struct DataArgs {
    /// The database file that keeps the registry (SQLite, created if
    /// missing). Every acknowledged write is on disk in it. `:memory:` keeps
    /// nothing after the server stops.
    #[arg(long, env = env::DB, default_value = "partnermatch.db")]
    db: PathBuf,

    /// Where schools come from besides the database: `synthetic` seeds an
    /// empty database with the embedded Wales-like population (a database
    /// that holds schools is left as it is); the path of a CSV file (see
    /// README) is imported at every start, which changes nothing when the
    /// file has not changed.
    #[arg(long, env = env::DATA, default_value = "synthetic")]
    data: String,

    /// Number of synthetic schools (with `--data synthetic`).
    #[arg(long, default_value_t = DEFAULT_SCHOOLS)]
    schools: usize,

    /// Seed of the synthetic population: the same seed gives the same schools.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,

    /// Strengths and needs of the synthetic schools: `realistic` (a few
    /// each, by stage) or `every-area` (every school has all 21 of each:
    /// the heaviest data, for measuring memory and latency).
    #[arg(long, value_enum, default_value_t = FocusData::Realistic)]
    synthetic_focus: FocusData,

    /// Target size of computed families of schools (2–100).
    #[arg(long, default_value_t = FamilyConfig::default().target_size)]
    family_size: usize,

    /// Smallest computed family where a group can be split (1 to
    /// --family-size).
    #[arg(long, default_value_t = FamilyConfig::default().min_size)]
    family_min_size: usize,
}

#[derive(Debug, clap::Args)]
struct BrokerArgs {
    #[command(flatten)]
    data: DataArgs,

    /// Seekers by id, comma-separated (or use the filter flags).
    #[arg(long, value_delimiter = ',')]
    seekers: Vec<String>,

    /// Seekers: open schools in this consortium.
    #[arg(long)]
    consortium: Option<String>,

    /// Seekers: open schools in this local authority.
    #[arg(long)]
    local_authority: Option<String>,

    /// Seekers: open schools at these stages, comma-separated (red, amber,
    /// yellow, green).
    #[arg(long, value_delimiter = ',')]
    stages: Vec<String>,

    /// Seekers: open schools of this phase (primary, secondary, ...).
    #[arg(long)]
    phase: Option<String>,

    /// support (seekers receive), lead (seekers give) or peer.
    #[arg(long, default_value = "support")]
    mode: String,

    /// same, cross or any.
    #[arg(long, default_value = "same")]
    phase_relation: String,

    /// Pairs no farther apart than this, in km.
    #[arg(long)]
    max_distance_km: Option<f64>,

    /// Partners in the seeker's consortium only.
    #[arg(long)]
    same_consortium: bool,

    /// Partners in the seeker's local authority only.
    #[arg(long)]
    same_local_authority: bool,

    /// Partners in the seeker's language group only.
    #[arg(long)]
    same_language_group: bool,

    /// Give every pair's reasons (in JSON).
    #[arg(long)]
    explain: bool,

    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, clap::Args)]
struct FamiliesArgs {
    #[command(flatten)]
    data: DataArgs,

    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// `--synthetic-focus`: which strengths and needs synthetic schools have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FocusData {
    /// A few each, by stage.
    Realistic,
    /// All 21 of each.
    EveryArea,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mut command = Cli::command();
    if let Some(path) = config_file::config_path(&args) {
        command = config_file::apply(command, std::path::Path::new(&path), &args)?;
    }
    let cli = Cli::from_arg_matches(&command.get_matches_from(&args))
        .unwrap_or_else(|error| error.exit());
    let filter = EnvFilter::try_new(&cli.log)
        .with_context(|| format!("invalid log filter {:?}", cli.log))?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().init(),
    }
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Bench(args) => bench(args),
        Command::Broker(args) => broker(args),
        Command::Families(args) => families(args),
        Command::Config(ConfigCommand::Print(args)) => {
            print!("{}", effective_config(&args));
            Ok(())
        }
        Command::Token(TokenCommand::New { role }) => {
            let role = Role::parse(&role)
                .with_context(|| format!("--role must be reader, writer or admin, got {role:?}"))?;
            let (token, line) = new_token(role);
            println!("token: {token}");
            println!("serve --token {line}");
            Ok(())
        }
    }
}

fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let seconds = |flag: &str, value: f64| {
        Duration::try_from_secs_f64(value)
            .with_context(|| format!("--{flag} must be a non-negative number of seconds"))
    };
    let config = LoadConfig {
        target: args.target,
        connections: args.connections,
        streams: args.streams,
        duration: seconds("duration", args.duration)?,
        warmup: seconds("warmup", args.warmup)?,
        seekers: args.seekers,
        limit: args.limit,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(loadgen::run(config))?;
    println!("{report}");
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let tokens = if args.no_auth {
        tracing::warn!("authentication is off (--no-auth): every call is admitted");
        None
    } else {
        let tokens = Tokens::parse(args.tokens.iter().map(String::as_str))
            .map_err(|problem| anyhow::anyhow!("--token: {problem}"))?;
        if tokens.is_empty() {
            bail!(
                "no tokens configured: give --token ROLE:SHA256 (make one with `partnermatch token new --role admin`), or --no-auth to serve a trusted machine without authentication"
            );
        }
        Some(Arc::new(tokens))
    };
    let read = |path: &PathBuf, what: &str| {
        std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsSettings {
            certificate_chain: read(cert, "--tls-cert")?,
            private_key: read(key, "--tls-key")?,
            client_ca: args
                .tls_client_ca
                .as_ref()
                .map(|ca| read(ca, "--tls-client-ca"))
                .transpose()?,
        }),
        _ => None,
    };
    let open_files = partnermatch::raise_open_files_limit();
    let engine = Arc::new(open_engine(&args.data)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        let metrics = Arc::new(Metrics::default());
        if let Some(metrics_address) = args.metrics_listen {
            let metrics_listener = tokio::net::TcpListener::bind(metrics_address)
                .await
                .with_context(|| format!("cannot listen on {metrics_address} for metrics"))?;
            let bound = metrics_listener.local_addr()?;
            let router = metrics_router(Arc::clone(&engine), Arc::clone(&metrics));
            tokio::spawn(async move {
                if let Err(error) = axum::serve(metrics_listener, router).await {
                    tracing::error!(%error, "metrics server stopped");
                }
            });
            tracing::info!("metrics on http://{bound}/metrics");
        }
        let snapshot = engine.snapshot();
        let max_connections = args.max_connections.map_or_else(
            || partnermatch::default_max_connections(open_files),
            |max| max as usize,
        );
        tracing::info!(
            open_files,
            max_connections,
            "connections: limit on open files raised to its hard limit"
        );
        tracing::info!(
            schools = snapshot.len(),
            families = snapshot.family_count(),
            startup_ms = started.elapsed().as_millis() as u64,
            rss_mb = resident_megabytes(),
            "listening on {address}"
        );
        let options = ServeOptions {
            metrics,
            tls,
            tokens,
            shutdown_grace: Duration::try_from_secs_f64(args.shutdown_grace_secs)
                .context("--shutdown-grace-secs must be a non-negative number")?,
            max_in_flight: args.max_in_flight as usize,
            max_in_flight_per_client: args.max_in_flight_per_client.map(|max| max as usize),
            body_timeout: positive_secs("body-timeout-secs", args.body_timeout_secs)?,
            max_connections: Some(max_connections),
            handshake_timeout: positive_secs(
                "handshake-timeout-secs",
                args.handshake_timeout_secs,
            )?,
            idle_timeout: positive_secs("idle-timeout-secs", args.idle_timeout_secs)?,
            keepalive_interval: positive_secs(
                "keepalive-interval-secs",
                args.keepalive_interval_secs,
            )?,
            keepalive_timeout: positive_secs(
                "keepalive-timeout-secs",
                args.keepalive_timeout_secs,
            )?,
            request_timeout: positive_secs("request-timeout-secs", args.request_timeout_secs)?,
            max_message_bytes: args.max_message_bytes,
            max_streams_per_connection: args.max_streams_per_connection,
            max_calls_per_connection: args.max_calls_per_connection.max(1),
        };
        partnermatch::serve(engine, listener, shutdown_signal(), options).await
    })
}

/// Opens the database, then seeds it or imports into it as `--data` says.
fn open_engine(args: &DataArgs) -> anyhow::Result<Engine> {
    // A bad CSV stops start-up before any database file is touched.
    let csv_schools = match args.data.as_str() {
        "synthetic" => None,
        _ => Some(read_csv(args)?),
    };
    let families = FamilyConfig {
        target_size: args.family_size,
        min_size: args.family_min_size,
    };
    let problems = validate_sizes(&families);
    if !problems.is_empty() {
        bail!("--family-size / --family-min-size: {problems}");
    }
    let config = EngineConfig {
        families,
        ..EngineConfig::default()
    };
    let (store, records) = SqliteStore::open(&args.db)?;
    let stored = records.schools.len();
    tracing::info!(
        db = %args.db.display(),
        schools = stored,
        partnerships = records.partnerships.len(),
        "opened database"
    );
    let engine = Engine::open(config, Box::new(store), records)
        .with_context(|| format!("database {} holds an invalid record", args.db.display()))?;
    let Some(schools) = csv_schools else {
        if stored > 0 {
            tracing::info!(
                "the database holds schools, so it is not seeded (--data synthetic seeds an empty database only)"
            );
            return Ok(engine);
        }
        let config = SyntheticConfig {
            schools: args.schools,
            seed: args.seed,
            focus: match args.synthetic_focus {
                FocusData::Realistic => SyntheticFocus::Realistic,
                FocusData::EveryArea => SyntheticFocus::EveryArea,
            },
        };
        let schools = dataset::generate(config);
        let counts = engine
            .upsert_batch(schools)
            .context("seeding the database with synthetic schools")?;
        tracing::info!(
            schools = counts.created,
            seed = args.seed,
            "seeded the empty database with synthetic schools"
        );
        return Ok(engine);
    };
    let counts = engine
        .upsert_batch(schools)
        .context("importing the CSV schools")?;
    tracing::info!(
        created = counts.created,
        updated = counts.updated,
        unchanged = counts.unchanged,
        "imported schools from CSV"
    );
    Ok(engine)
}

fn read_csv(args: &DataArgs) -> anyhow::Result<Vec<School>> {
    let path = PathBuf::from(&args.data);
    let import = dataset::read_csv_path(&path)
        .with_context(|| format!("reading schools from {}", path.display()))?;
    for rejected in &import.rejected {
        tracing::warn!(file = %path.display(), "row rejected: {rejected}");
    }
    tracing::info!(
        file = %path.display(),
        rows = import.rows,
        loaded = import.schools.len(),
        rejected = import.rejected.len(),
        "read schools from CSV"
    );
    if import.schools.is_empty() {
        bail!(
            "{} has no loadable schools ({} rows, all rejected)",
            path.display(),
            import.rows
        );
    }
    Ok(import.schools)
}

fn broker(args: BrokerArgs) -> anyhow::Result<()> {
    let engine = open_engine(&args.data)?;
    let config = &engine.config().scoring;
    let mode = match args.mode.to_ascii_lowercase().as_str() {
        "support" => MatchMode::Support,
        "lead" => MatchMode::Lead,
        "peer" => MatchMode::Peer,
        other => bail!("--mode must be support, lead or peer, got {other:?}"),
    };
    let mut template = MatchQuery::new("seeker", mode, config);
    template.phase_relation = match args.phase_relation.to_ascii_lowercase().as_str() {
        "same" => PhaseRelation::SamePhase,
        "cross" => PhaseRelation::CrossPhase,
        "any" => PhaseRelation::AnyPhase,
        other => bail!("--phase-relation must be same, cross or any, got {other:?}"),
    };
    template.max_distance_km = args.max_distance_km;
    template.same_consortium = args.same_consortium;
    template.same_local_authority = args.same_local_authority;
    template.same_language_group = args.same_language_group;
    template.explain = args.explain;
    let problems = template.validate();
    if !problems.is_empty() {
        bail!("{problems}");
    }
    let filtered = args.consortium.is_some()
        || args.local_authority.is_some()
        || !args.stages.is_empty()
        || args.phase.is_some();
    let seekers = match (args.seekers.is_empty(), filtered) {
        (false, true) => bail!("give --seekers or filter flags, not both"),
        (true, false) => {
            bail!(
                "give --seekers or at least one of --consortium, --local-authority, --stages, --phase"
            )
        }
        (false, false) => SeekerSelection::Ids(args.seekers),
        (true, true) => SeekerSelection::Filter(SeekerFilter {
            consortium: args.consortium.unwrap_or_default(),
            local_authority: args.local_authority.unwrap_or_default(),
            stages: args
                .stages
                .iter()
                .map(|text| {
                    Stage::parse(text).with_context(|| format!("--stages: unknown stage {text:?}"))
                })
                .collect::<anyhow::Result<_>>()?,
            phase: args
                .phase
                .as_deref()
                .map(|text| {
                    Phase::parse(text).with_context(|| format!("--phase: unknown phase {text:?}"))
                })
                .transpose()?,
        }),
    };
    let query = BrokerQuery {
        seekers,
        template,
        initial_candidates: broker_limits::INITIAL_CANDIDATES,
    };
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} seekers ({eta})")
            .context("progress bar template")?,
    );
    bar.set_message("searching partners");
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let mut stdout = std::io::stdout().lock();
    engine.broker_with_progress(&query, &progress, |outcome| {
        bar.finish_and_clear();
        report::write_brokerage(&mut stdout, outcome, args.format)
    })??;
    Ok(())
}

fn families(args: FamiliesArgs) -> anyhow::Result<()> {
    let engine = open_engine(&args.data)?;
    let report = engine.families(None)?;
    report::write_families(&mut std::io::stdout().lock(), &report, args.format)?;
    Ok(())
}

/// The serve configuration as TOML; tokens show their role only.
fn effective_config(args: &ServeArgs) -> String {
    let data = &args.data;
    let quoted = |value: String| format!("{value:?}");
    let optional = |key: &str, value: Option<String>| match value {
        Some(value) => format!("{key} = {value:?}"),
        None => format!("# {key} is not set"),
    };
    let optional_number = |key: &str, value: Option<u64>| match value {
        Some(value) => format!("{key} = {value}"),
        None => format!("# {key} is not set (derived)"),
    };
    let tokens: Vec<String> = args
        .tokens
        .iter()
        .map(|line| {
            let role = line.split(':').next().unwrap_or_default();
            quoted(format!("{role}:<sha256 hidden>"))
        })
        .collect();
    let lines = [
        format!("listen = {}", quoted(args.listen.to_string())),
        format!("db = {}", quoted(data.db.display().to_string())),
        format!("data = {}", quoted(data.data.clone())),
        format!("schools = {}", data.schools),
        format!("seed = {}", data.seed),
        format!(
            "synthetic_focus = {:?}",
            clap::ValueEnum::to_possible_value(&data.synthetic_focus)
                .map(|value| value.get_name().to_owned())
                .unwrap_or_default()
        ),
        format!("family_size = {}", data.family_size),
        format!("family_min_size = {}", data.family_min_size),
        format!("tokens = [{}]", tokens.join(", ")),
        format!("no_auth = {}", args.no_auth),
        optional(
            "tls_cert",
            args.tls_cert.as_ref().map(|p| p.display().to_string()),
        ),
        optional(
            "tls_key",
            args.tls_key.as_ref().map(|_| "<hidden>".to_owned()),
        ),
        optional(
            "tls_client_ca",
            args.tls_client_ca.as_ref().map(|p| p.display().to_string()),
        ),
        optional("metrics_listen", args.metrics_listen.map(|a| a.to_string())),
        format!("max_in_flight = {}", args.max_in_flight),
        format!("request_timeout_secs = {}", args.request_timeout_secs),
        format!("max_message_bytes = {}", args.max_message_bytes),
        format!(
            "max_streams_per_connection = {}",
            args.max_streams_per_connection
        ),
        format!(
            "max_calls_per_connection = {}",
            args.max_calls_per_connection
        ),
        format!("shutdown_grace_secs = {}", args.shutdown_grace_secs),
        optional_number("max_in_flight_per_client", args.max_in_flight_per_client),
        format!("body_timeout_secs = {}", args.body_timeout_secs),
        optional_number("max_connections", args.max_connections),
        format!("handshake_timeout_secs = {}", args.handshake_timeout_secs),
        format!("idle_timeout_secs = {}", args.idle_timeout_secs),
        format!("keepalive_interval_secs = {}", args.keepalive_interval_secs),
        format!("keepalive_timeout_secs = {}", args.keepalive_timeout_secs),
    ];
    lines.join("\n") + "\n"
}

/// Resident memory of this process in MB, where the OS tells it (Linux).
fn resident_megabytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes / 1024)
}

/// Completes on SIGINT (ctrl-c) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}
