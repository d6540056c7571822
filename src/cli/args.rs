//! The command line's arguments. Every option of the server's
//! configuration is optional here: what a flag (or its environment
//! variable) gives wins over the configuration file, which wins over the
//! defaults ([`super::config`]). They are serialised under the
//! configuration's key names to be laid over the file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use std::ffi::OsStr;
use std::marker::PhantomData;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use partnermatch::Role;
use partnermatch_core::domain::{ClosedSet, MatchMode, Phase, PhaseRelation, Stage, TrustRelation};
use partnermatch_core::engine::Factor;
use partnermatch_core::evaluation;
use serde::{Deserialize, Serialize};

use super::report::Format;

/// School partner-matching engine: ranked, explained partners for
/// school-to-school support, served over gRPC.
#[derive(Debug, Parser)]
#[command(name = "partnermatch", version)]
pub struct Cli {
    /// A TOML configuration file: keys are the long flags with `_` (e.g.
    /// `max_in_flight = 512`); the environment overrides it, flags override
    /// both. Unknown keys are refused.
    #[arg(long, global = true, env = "PARTNERMATCH_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub logging: LoggingArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gRPC API (SchoolRegistry, PartnerMatcher,
    /// PartnershipRegistry, health, reflection) until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Drive a running server on loopback: Match, then the health Check as
    /// a no-op baseline, with the same connections and streams, and print
    /// requests/s and latency percentiles for both.
    Bench(BenchArgs),
    /// Pair many seekers with partners at once (the best total score within
    /// every school's free places) and print the pairs, the seekers left
    /// unassigned and the gain over one-at-a-time matching.
    Broker(BrokerArgs),
    /// Print the families of schools: phase, language group and size band,
    /// ordered by index of challenge and cut to --family-size.
    Families(FamiliesArgs),
    /// Measure matching quality: Match, Broker and three baselines (the
    /// nearest green schools, a DfE-style comparator, the nearest feasible
    /// partners) on the same seekers — similar stages, language fit,
    /// travel, needs covered, supporter load (docs/evaluation.md).
    Evaluate(EvaluateArgs),
    /// Import a file of schools into the database (stop a server that holds
    /// it first) or, with --target, into a running server: England's
    /// register (`gias`), Ofsted's inspection outcomes (`ofsted`),
    /// StatsWales's free school meals by school (`statswales-fsm`) or the
    /// project's own CSV (`schools`). Prints what was created, updated,
    /// unchanged, rejected and skipped; the accepted rows are written all
    /// or nothing.
    Import(ImportArgs),
    /// Manage bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Show configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the configuration `serve` would run with (defaults, then the
    /// file, then the environment, then these flags), as TOML, with token
    /// hashes and the TLS key hidden.
    Print(ServeArgs),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a new random token: prints the token (give it to the client,
    /// once) and the `role:sha256` line to configure with `serve --token`.
    New {
        /// The token's role.
        #[arg(long, value_parser = closed_set::<Role>())]
        role: Role,
    },
}

/// Logging, for every command.
#[derive(Debug, clap::Args, Serialize)]
pub struct LoggingArgs {
    /// Log filter, e.g. `info`, `debug`, `partnermatch=debug,info`
    /// (default `info`).
    #[arg(long, global = true, env = "PARTNERMATCH_LOG")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,

    /// Log lines as readable text or as JSON objects (one per line, with
    /// the request's span fields: method, request_id). Default `text`.
    #[arg(long, global = true, value_enum, env = "PARTNERMATCH_LOG_FORMAT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    Text,
    Json,
}

/// Where synthetic schools' stages come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceData {
    /// A given stage, as the Welsh categories were.
    Stages,
    /// Report cards (dated, some stale, some missing) from which the server
    /// derives each stage.
    ReportCards,
}

/// Which strengths and needs synthetic schools have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FocusData {
    /// A few each, by stage.
    Realistic,
    /// All 21 of each: the heaviest data, for measuring memory and latency.
    EveryArea,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Where the registry comes from (serve, broker, families).
#[derive(Debug, clap::Args, Serialize)]
pub struct DataArgs {
    /// Where the registry is kept: a SQLite file (created if missing), or a
    /// PostgreSQL database given as `postgres://USER[:PASSWORD]@HOST:PORT/DB`
    /// (its schema created or brought up to date at start-up). Every
    /// acknowledged write is durable in it. `:memory:` keeps nothing after
    /// the server stops. Default `partnermatch.db`.
    #[arg(long, env = "PARTNERMATCH_DB")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<PathBuf>,

    /// Where schools come from besides the database: `synthetic` (the
    /// default) seeds an empty database with the embedded Wales-like
    /// population; the path of a CSV file (see README) is imported at every
    /// start, which changes nothing when the file has not changed.
    #[arg(long, env = "PARTNERMATCH_DATA")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,

    /// Number of synthetic schools (default 1500).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schools: Option<usize>,

    /// Seed of the synthetic population: the same seed gives the same
    /// schools (default 2015).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,

    /// Strengths and needs of the synthetic schools (default `realistic`).
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synthetic_focus: Option<FocusData>,

    /// Where the synthetic schools' stages come from: `stages` (given, the
    /// default) or `report-cards` (evaluations the stage is derived from).
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synthetic_evidence: Option<EvidenceData>,

    /// Target size of computed families of schools, 2–100 (default 11).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_size: Option<usize>,

    /// Smallest computed family where a group can be split, 1 to
    /// --family-size (default 6).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_min_size: Option<usize>,

    /// Evidence older than this many years (1–100) counts as unknown when
    /// deriving stages, strengths and needs (default 4). The Welsh
    /// categories of 2019 need 10 to count today.
    #[arg(long, env = "PARTNERMATCH_EVIDENCE_MAX_AGE_YEARS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_max_age_years: Option<i16>,

    /// The date evidence is judged at, YYYY-MM-DD (default: the day the
    /// server starts), for answers that must not change with the calendar.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_as_of: Option<String>,

    /// The stage rule's bar for green from area grades, 0–1: leadership
    /// strong or better and at least this share of the graded areas strong
    /// or better (default 0.5).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_green_share: Option<f64>,
}

/// The server's options; each default is in [`super::config::Config`].
#[derive(Debug, clap::Args, Serialize)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:50051). Port 0 picks a free
    /// port (the log says which).
    #[arg(long, env = "PARTNERMATCH_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,

    #[command(flatten)]
    #[serde(flatten)]
    pub data: DataArgs,

    /// An accepted bearer token, as `role:sha256hex` (role reader, writer
    /// or admin; the SHA-256 of the token, never the token itself). Repeat
    /// for more tokens, or list them comma-separated in the environment.
    /// Make one with `partnermatch token new --role reader`.
    #[arg(long = "token", env = "PARTNERMATCH_TOKENS", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Vec<String>>,

    /// Serve without authentication: every call is admitted. For a trusted
    /// machine or network only; the server logs a warning.
    #[arg(long, conflicts_with = "tokens")]
    #[serde(skip_serializing_if = "is_false")]
    pub no_auth: bool,

    /// On SIGINT/SIGTERM, seconds to let in-flight calls finish before
    /// stopping anyway (default 10).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_secs: Option<f64>,

    /// API calls handled at once, 1–100,000; more are answered
    /// RESOURCE_EXHAUSTED at once (health and reflection are never
    /// refused). Default 256.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u64>,

    /// API calls one client may have in flight (a token; the client's
    /// address with --no-auth); more are answered RESOURCE_EXHAUSTED.
    /// Default: half of --max-in-flight.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight_per_client: Option<u64>,

    /// With a PostgreSQL --db that other replicas share: seconds this
    /// replica may be behind the database's change log before it reports
    /// NOT_SERVING and refuses reads with UNAVAILABLE (see --serve-stale).
    /// Default 5.
    #[arg(long, alias = "max-lag")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_lag_secs: Option<f64>,

    /// With a PostgreSQL --db: keep answering reads from this replica's
    /// snapshot while it is behind the database or cannot reach it (health
    /// still reports NOT_SERVING, so balancers prefer current replicas).
    #[arg(long)]
    #[serde(skip_serializing_if = "is_false")]
    pub serve_stale: bool,

    /// Longest a call may run, in seconds; a client's shorter deadline
    /// (grpc-timeout) wins. Then DEADLINE_EXCEEDED. Default 30.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout_secs: Option<f64>,

    /// Seconds a request's body may take to arrive after its headers, and
    /// the longest gap between an import's messages; a call holds no slot
    /// while it waits. Default 10.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_timeout_secs: Option<f64>,

    /// Largest request message accepted, in bytes (default 4194304).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_message_bytes: Option<usize>,

    /// Most memory one ImportSchools stream may hold while it is read, in
    /// bytes: each message counts its encoded size plus a school record's
    /// fixed size. Beyond it the import is refused (RESOURCE_EXHAUSTED) and
    /// nothing is applied. Default 268435456 (256 MiB: about 300,000
    /// schools as the register gives them).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_import_bytes: Option<usize>,

    /// Most memory all ImportSchools streams may hold at once, in bytes;
    /// an import that would go beyond it is refused (RESOURCE_EXHAUSTED).
    /// Default 536870912 (512 MiB).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_import_bytes_total: Option<usize>,

    /// Calls one connection may have in progress, open-ended streams
    /// (health Watch, reflection) among them; more are answered
    /// RESOURCE_EXHAUSTED at once (default 64).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_calls_per_connection: Option<usize>,

    /// Open-ended streams (health Watch, reflection) one client address
    /// may hold at once; more are answered RESOURCE_EXHAUSTED. They need no
    /// token, so this bounds what one address can hold (default 512; raise
    /// it for more Watch clients than that behind one proxy).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_streams_per_address: Option<usize>,

    /// Seconds an open-ended stream (health Watch, reflection) may last;
    /// then the server ends it with status OK and the client calls again,
    /// as the gRPC health protocol asks (default 300).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_lifetime_secs: Option<f64>,

    /// Concurrent HTTP/2 streams per connection (default 256).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_streams_per_connection: Option<u32>,

    /// Connections held at once; at the limit the connection idle the
    /// longest is closed for a newcomer. Default: the limit on open files
    /// (raised to its hard limit at start-up) less 64, at most 10,000.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,

    /// Seconds a new connection has to finish its TLS handshake (or send
    /// the HTTP/2 preface, in plaintext) before it is closed (default 10).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_timeout_secs: Option<f64>,

    /// Seconds a connection may stay open with no call in progress
    /// (default 300).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout_secs: Option<f64>,

    /// Seconds of quiet after which the server pings a connection (HTTP/2
    /// keep-alive), closing it if the ping is not answered within
    /// --keepalive-timeout-secs (default 60).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive_interval_secs: Option<f64>,

    /// Seconds to wait for the answer to a keep-alive ping (default 20).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive_timeout_secs: Option<f64>,

    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,

    /// Require client certificates signed by this CA (PEM); needs TLS.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_client_ca: Option<PathBuf>,

    /// Serve Prometheus metrics on this address at /metrics (off unless
    /// given), e.g. 127.0.0.1:9464.
    #[arg(long, env = "PARTNERMATCH_METRICS_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Server to drive; must be a loopback address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub target: SocketAddr,

    /// HTTP/2 connections (1–64).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,

    /// Concurrent callers per connection (1–256).
    #[arg(long, default_value_t = 16)]
    pub streams: usize,

    /// Measured seconds per RPC (at most 300).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,

    /// Unmeasured warm-up seconds before each measurement (at most 60).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,

    /// Different seekers, spread evenly over the registry.
    #[arg(long, default_value_t = 1000)]
    pub seekers: usize,

    /// Partners per Match (1–100).
    #[arg(long, default_value_t = 10)]
    pub limit: u32,

    /// A bearer token sent with every call: a reader's for Match, a
    /// writer's with --writes.
    #[arg(long, env = "PARTNERMATCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Then time UpsertSchool from --writers concurrent writers (each write
    /// renames an open school, every other one changes its size too: use a
    /// throwaway server), and Match again while they write.
    #[arg(long)]
    pub writes: bool,

    /// Concurrent writers for --writes and --churn (1–64), each on its own
    /// connection.
    #[arg(long, default_value_t = 8)]
    pub writers: usize,

    /// Instead of Match: create and delete this many schools (copies of
    /// the first listed, each deleted again) from --writers writers, and
    /// report the rate and, with --metrics, the server's resident memory
    /// before, right after and once it settles. Needs a writer token for
    /// creating and an admin token for deleting (one admin token does
    /// both), or a --no-auth server.
    #[arg(long, value_name = "CYCLES")]
    pub churn: Option<u64>,

    /// The server's metrics address (its --metrics-listen), for --churn to
    /// read its resident memory.
    #[arg(long, value_name = "ADDRESS")]
    pub metrics: Option<SocketAddr>,
}

/// Parses a flag's value into a value of a closed set by the set's own rule
/// (any case, `-` or space for `_`, aliases), and lists its names in
/// `--help` and in errors: the command line has no tables of its own.
pub fn closed_set<T: ClosedSet>() -> ClosedSetParser<T> {
    ClosedSetParser(PhantomData)
}

#[derive(Debug)]
pub struct ClosedSetParser<T>(PhantomData<T>);

impl<T> Clone for ClosedSetParser<T> {
    fn clone(&self) -> Self {
        ClosedSetParser(PhantomData)
    }
}

impl<T: ClosedSet> TypedValueParser for ClosedSetParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let text = value.to_string_lossy();
        T::parse(&text).ok_or_else(|| {
            let mut error = clap::Error::new(ErrorKind::InvalidValue).with_cmd(cmd);
            if let Some(arg) = arg {
                error.insert(
                    ContextKind::InvalidArg,
                    ContextValue::String(arg.to_string()),
                );
            }
            error.insert(
                ContextKind::InvalidValue,
                ContextValue::String(text.into_owned()),
            );
            error.insert(
                ContextKind::ValidValue,
                ContextValue::Strings(T::VALUES.iter().map(|v| v.name().to_owned()).collect()),
            );
            error
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(T::VALUES.iter().map(|value| {
            PossibleValue::new(value.name()).aliases(value.aliases().iter().copied())
        })))
    }
}

/// Which schools seek partners (broker, evaluate): ids, or open schools
/// matching every filter given.
#[derive(Debug, clap::Args)]
pub struct SeekerArgs {
    /// Seekers by id, comma-separated (or use the filter flags).
    #[arg(long, value_delimiter = ',')]
    pub seekers: Vec<String>,

    /// Seekers: open schools in this consortium.
    #[arg(long)]
    pub consortium: Option<String>,

    /// Seekers: open schools in this local authority.
    #[arg(long)]
    pub local_authority: Option<String>,

    /// Seekers: open schools at these stages, comma-separated.
    #[arg(long, value_parser = closed_set::<Stage>(), value_delimiter = ',')]
    pub stages: Vec<Stage>,

    /// Seekers: open schools of this phase.
    #[arg(long, value_parser = closed_set::<Phase>())]
    pub phase: Option<Phase>,
}

/// What partners may be and how they are scored (broker, evaluate): the
/// Match request's constraints.
#[derive(Debug, clap::Args)]
pub struct ConstraintArgs {
    /// Which phases partners may be in.
    #[arg(long, value_parser = closed_set::<PhaseRelation>(), default_value = "same_phase")]
    pub phase_relation: PhaseRelation,

    /// Pairs no farther apart than this, in km.
    #[arg(long)]
    pub max_distance_km: Option<f64>,

    /// Partners in the seeker's consortium only.
    #[arg(long)]
    pub same_consortium: bool,

    /// Partners in the seeker's local authority only.
    #[arg(long)]
    pub same_local_authority: bool,

    /// Partners in the seeker's language group only.
    #[arg(long)]
    pub same_language_group: bool,

    /// Which trusts partners may be in: any, same_trust (the seeker's own,
    /// which it must have) or other_trusts (outside the seeker's).
    #[arg(long, value_parser = closed_set::<TrustRelation>(), default_value = "any")]
    pub trust_relation: TrustRelation,

    /// Partners in the seeker's diocese only (the seeker must have one).
    #[arg(long)]
    pub same_diocese: bool,

    /// A factor's weight instead of its default, as FACTOR=WEIGHT (e.g.
    /// `language=0.2`); repeat for more factors. Factors: stage, proximity,
    /// focus, context, track_record, phase, language, size, load.
    #[arg(long = "weight", value_name = "FACTOR=WEIGHT", value_parser = parse_weight)]
    pub weights: Vec<(Factor, f64)>,

    /// Distance at which proximity falls to 1/e, km (default 40).
    #[arg(long)]
    pub proximity_scale_km: Option<f64>,
}

fn parse_weight(text: &str) -> Result<(Factor, f64), String> {
    let (factor, weight) = text
        .split_once('=')
        .ok_or_else(|| format!("expected FACTOR=WEIGHT, got {text:?}"))?;
    let factor: Factor = factor.trim().parse().map_err(|error| format!("{error}"))?;
    let weight: f64 = weight
        .trim()
        .parse()
        .map_err(|_| format!("the weight of {factor} must be a number, got {weight:?}"))?;
    Ok((factor, weight))
}

#[derive(Debug, clap::Args)]
pub struct BrokerArgs {
    #[command(flatten)]
    pub data: DataArgs,

    #[command(flatten)]
    pub seekers: SeekerArgs,

    /// Whether seekers receive, give or share support.
    #[arg(long, value_parser = closed_set::<MatchMode>(), default_value = "support")]
    pub mode: MatchMode,

    #[command(flatten)]
    pub constraints: ConstraintArgs,

    /// Give every pair's reasons (in JSON).
    #[arg(long)]
    pub explain: bool,

    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub data: DataArgs,

    /// Seekers: without --seekers or --stages, the open red and amber
    /// schools (of the phase and area the other filters give).
    #[command(flatten)]
    pub seekers: SeekerArgs,

    #[command(flatten)]
    pub constraints: ConstraintArgs,

    /// Partners per seeker, 1–100 (Broker always gives one).
    #[arg(long, default_value_t = evaluation::defaults::PARTNERS)]
    pub partners: usize,

    /// A Welsh-medium partner this near (km) counts as within reach when
    /// measuring language fit.
    #[arg(long, default_value_t = evaluation::defaults::REACH_KM)]
    pub reach_km: f64,

    /// Give schools with no strengths and no needs recorded synthetic ones
    /// (drawn by phase, stage and medium from this seed), to measure focus
    /// on real places whose focus areas are not published. The areas are
    /// made up, so this runs on `--db :memory:` only.
    #[arg(long, value_name = "SEED")]
    pub simulate_focus: Option<u64>,

    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// What a file to import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportKind {
    /// England's register of schools: the Get Information About Schools
    /// establishment CSV ("edubasealldata…csv"). Merges into stored
    /// schools: their evaluations, stage, strengths, needs and capacity are
    /// kept.
    Gias,
    /// The project's own CSV (README "CSV format"): replaces stored schools of
    /// the same id.
    Schools,
    /// Free school meals by school from StatsWales, in its long CSV
    /// format: sets the % eligible of schools already stored.
    StatswalesFsm,
    /// Ofsted's inspection outcomes by URN (its management information on
    /// state-funded schools): report-card grades, older judgements,
    /// safeguarding and categories of concern, as evaluations of schools
    /// already stored.
    Ofsted,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// What the file is.
    #[arg(value_enum)]
    pub kind: ImportKind,

    /// The file to import.
    pub file: PathBuf,

    #[command(flatten)]
    pub store: StoreArgs,

    /// `gias`: skip establishments that are not open, rather than import
    /// them closed.
    #[arg(long)]
    pub open_only: bool,

    /// Send the file to a running server at ADDR (host:port, http://… or
    /// https://…) through ImportSchools, merged there as it would be into
    /// --db (which is then not opened); the server needs no restart and
    /// applies the file in one step.
    #[arg(long, value_name = "ADDR")]
    pub target: Option<String>,

    /// With --target: a writer or admin token (`partnermatch token new`).
    #[arg(long, env = "PARTNERMATCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// With an https:// --target: a CA certificate (PEM) to trust besides
    /// the public roots (a private CA, a self-signed server).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// `ofsted`: a TOML file renaming the columns read — `urn`, `date`, and
    /// per framework a table of areas, e.g. `[ofsted_report_card]`
    /// `achievement = "Achievement grade"` (README "Bringing in real data").
    #[arg(long, value_name = "FILE")]
    pub columns: Option<PathBuf>,
}

/// Where the registry is kept, for commands that only open it.
#[derive(Debug, clap::Args, serde::Serialize)]
pub struct StoreArgs {
    /// The database: a SQLite file (created if missing) or a
    /// `postgres://USER@HOST:PORT/DB` URL. Default `partnermatch.db`.
    #[arg(long, env = "PARTNERMATCH_DB")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct FamiliesArgs {
    #[command(flatten)]
    pub data: DataArgs,

    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}
