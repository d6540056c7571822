//! What each command does, on its configuration.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use partnermatch::{
    Follower, Metrics, Replication, ReplicationSettings, ServeOptions, TlsSettings, Tokens,
};
use partnermatch_core::dataset::{self, SyntheticConfig, SyntheticFocus};
use partnermatch_core::domain::{MatchMode, School, Stage};
use partnermatch_core::engine::{
    BrokerQuery, Constraints, Engine, EngineConfig, Persistence, Records, ScoringConfig,
    SeekerFilter, SeekerSelection, broker_limits,
};
use partnermatch_core::evaluation::{self, EvaluationQuery};
use partnermatch_store::{PostgresStore, SqliteStore};

use super::args::{
    BenchArgs, BrokerArgs, ConstraintArgs, EvaluateArgs, EvidenceData, FamiliesArgs, FocusData,
    SeekerArgs,
};
use super::config::Config;
use super::loadgen::{self, LoadConfig};
use super::report;

/// A positive number of seconds from configuration key `key`.
fn positive_secs(key: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .with_context(|| format!("{key} must be a positive number of seconds, got {value}"))
}

pub(super) fn bench(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(cycles) = args.churn {
        let config = super::churn::ChurnConfig {
            target: args.target,
            token: args.token,
            cycles,
            writers: args.writers,
            metrics: args.metrics,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        println!("{}", runtime.block_on(super::churn::run(config))?);
        return Ok(());
    }
    if args.metrics.is_some() {
        bail!("--metrics goes with --churn");
    }
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
        token: args.token,
        writes: args.writes.then_some(loadgen::WriteLoad {
            writers: args.writers,
        }),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(loadgen::run(config))?;
    println!("{report}");
    Ok(())
}

pub(super) fn serve(config: &Config) -> anyhow::Result<()> {
    let args = config;
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
    let engine = Arc::new(open_engine(config)?);
    let (replication, _follower) = follow_database(config, &engine)?;
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
        if let Some(replication) = &replication {
            metrics.follow(Arc::clone(replication));
        }
        if let Some(metrics_address) = args.metrics_listen {
            let metrics_listener = tokio::net::TcpListener::bind(metrics_address)
                .await
                .with_context(|| format!("cannot listen on {metrics_address} for metrics"))?;
            let bound = metrics_listener.local_addr()?;
            tokio::spawn(partnermatch::serve_metrics(
                metrics_listener,
                Arc::clone(&engine),
                Arc::clone(&metrics),
                positive_secs("handshake-timeout-secs", args.handshake_timeout_secs)?,
                positive_secs("idle-timeout-secs", args.idle_timeout_secs)?,
            ));
            tracing::info!(
                max_connections = partnermatch::METRICS_MAX_CONNECTIONS,
                "metrics on http://{bound}/metrics"
            );
        }
        let max_connections = args.max_connections.map_or_else(
            || partnermatch::default_max_connections(open_files),
            |max| max as usize,
        );
        tracing::info!(
            open_files,
            max_connections,
            "connections: limit on open files raised to its hard limit"
        );
        // Read and let go: a snapshot held here would be kept alive for as
        // long as the server runs, whole, after every later write.
        let (schools, families) = {
            let snapshot = engine.snapshot();
            (snapshot.len(), snapshot.family_count())
        };
        tracing::info!(
            schools,
            families,
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
            max_import_bytes: args.max_import_bytes,
            max_import_bytes_total: args.max_import_bytes_total,
            max_streams_per_connection: args.max_streams_per_connection,
            max_calls_per_connection: args.max_calls_per_connection.max(1),
            max_streams_per_address: args.max_streams_per_address,
            stream_lifetime: positive_secs("stream-lifetime-secs", args.stream_lifetime_secs)?,
            replication,
        };
        partnermatch::serve(engine, listener, shutdown_signal(), options).await
    })
}

/// With a PostgreSQL `--db`, which other replicas may write to: starts
/// following its change log (stopped when the follower is dropped).
fn follow_database(
    config: &Config,
    engine: &Arc<Engine>,
) -> anyhow::Result<(Option<Arc<Replication>>, Option<Follower>)> {
    let db = config.db.to_string_lossy();
    if !partnermatch_store::is_postgres_url(&db) {
        return Ok((None, None));
    }
    let settings = ReplicationSettings {
        max_lag: positive_secs("max-lag-secs", config.max_lag_secs)?,
        serve_stale: config.serve_stale,
    };
    let replication = Arc::new(Replication::new(settings, engine.version()));
    let log = PostgresStore::connect(&db)?;
    let follower = partnermatch::follow(Arc::clone(engine), log, Arc::clone(&replication))
        .context("cannot start the thread that follows the database")?;
    tracing::info!(
        version = engine.version(),
        max_lag_ms = settings.max_lag.as_millis() as u64,
        serve_stale = settings.serve_stale,
        "following the database's change log"
    );
    Ok((Some(replication), Some(follower)))
}

/// Opens the database, then seeds it or imports into it as `--data` says.
pub(super) fn open_engine(args: &Config) -> anyhow::Result<Engine> {
    open_engine_with(args, |_| {})
}

/// [`open_engine`], with `prepare` given the schools to seed or import
/// before they are written.
fn open_engine_with(
    args: &Config,
    prepare: impl FnOnce(&mut Vec<School>),
) -> anyhow::Result<Engine> {
    // A bad CSV stops start-up before any database file is touched.
    let csv_schools = match args.data.as_str() {
        "synthetic" => None,
        _ => Some(read_csv(args)?),
    };
    let engine = open_database(args)?;
    let stored = engine.snapshot().len();
    let Some(mut schools) = csv_schools else {
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
        let mut schools = dataset::generate(config);
        if args.synthetic_evidence == EvidenceData::ReportCards {
            dataset::add_report_cards(&mut schools, args.seed, dataset::ReportCardMix::REALISTIC);
        }
        prepare(&mut schools);
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
    prepare(&mut schools);
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

/// Opens the database and the engine over it, adding no schools: a
/// PostgreSQL database when `--db` is a `postgres://` URL, else a SQLite
/// file.
pub(super) fn open_database(args: &Config) -> anyhow::Result<Engine> {
    let config = EngineConfig {
        families: args.families(),
        evidence: args.evidence()?,
        ..EngineConfig::default()
    };
    let db = args.db.to_string_lossy();
    let (store, records): (Box<dyn Persistence>, Records) =
        if partnermatch_store::is_postgres_url(&db) {
            let (store, records) = PostgresStore::open(&db)?;
            (Box::new(store), records)
        } else {
            let (store, records) = SqliteStore::open(&args.db)?;
            (Box::new(store), records)
        };
    let name = database_name(args);
    tracing::info!(
        db = %name,
        schools = records.schools.len(),
        partnerships = records.partnerships.len(),
        "opened database"
    );
    Engine::open(config, store, records)
        .with_context(|| format!("database {name} holds an invalid record"))
}

/// `--db` as messages show it: a PostgreSQL URL without its password.
pub(super) fn database_name(args: &Config) -> String {
    partnermatch_store::redacted(&args.db.to_string_lossy())
}

/// A spinner with a message on the terminal (hidden elsewhere).
pub(super) fn spinner(message: String) -> indicatif::ProgressBar {
    let spinner = indicatif::ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}

fn read_csv(args: &Config) -> anyhow::Result<Vec<School>> {
    let path = PathBuf::from(&args.data);
    let import = dataset::read_csv_path(&path)
        .with_context(|| format!("reading schools from {}", path.display()))?;
    for rejection in import.rejections() {
        tracing::warn!(file = %path.display(), "row rejected: {rejection}");
    }
    let unlisted = import.rejected() - import.rejections().len() as u64;
    if unlisted > 0 {
        tracing::warn!(file = %path.display(), "{unlisted} more rows rejected");
    }
    tracing::info!(
        file = %path.display(),
        rows = import.records(),
        loaded = import.schools().len(),
        rejected = import.rejected(),
        "read schools from CSV"
    );
    if import.schools().is_empty() {
        bail!(
            "{} has no loadable schools ({} rows, all rejected)",
            path.display(),
            import.records()
        );
    }
    Ok(import.into_schools())
}

/// The constraints the flags give, checked.
fn constraints(
    args: &ConstraintArgs,
    mode: MatchMode,
    scoring: &ScoringConfig,
) -> anyhow::Result<Constraints> {
    let mut constraints = Constraints {
        phase_relation: args.phase_relation,
        max_distance_km: args.max_distance_km,
        same_consortium: args.same_consortium,
        same_local_authority: args.same_local_authority,
        same_language_group: args.same_language_group,
        trust_relation: args.trust_relation,
        same_diocese: args.same_diocese,
        proximity_scale_km: args
            .proximity_scale_km
            .unwrap_or(scoring.proximity_scale_km),
        ..Constraints::new(mode, scoring)
    };
    for &(factor, weight) in &args.weights {
        constraints.weights[factor] = weight;
    }
    let problems = constraints.validate();
    if !problems.is_empty() {
        bail!("{problems}");
    }
    Ok(constraints)
}

/// The seekers the flags name; `None` when they name none.
fn seekers(args: SeekerArgs) -> anyhow::Result<Option<SeekerSelection>> {
    let filtered = args.consortium.is_some()
        || args.local_authority.is_some()
        || !args.stages.is_empty()
        || args.phase.is_some();
    Ok(match (args.seekers.is_empty(), filtered) {
        (false, true) => bail!("give --seekers or filter flags, not both"),
        (true, false) => None,
        (false, false) => Some(SeekerSelection::Ids(args.seekers)),
        (true, true) => Some(SeekerSelection::Filter(SeekerFilter {
            consortium: args.consortium.unwrap_or_default(),
            local_authority: args.local_authority.unwrap_or_default(),
            stages: args.stages,
            phase: args.phase,
        })),
    })
}

/// A progress bar on the terminal (hidden elsewhere) counting `unit`.
fn progress_bar(message: &'static str, unit: &str) -> anyhow::Result<indicatif::ProgressBar> {
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{msg}} {{wide_bar}} {{pos}}/{{len}} {unit} ({{eta}})"
        ))
        .context("progress bar template")?,
    );
    bar.set_message(message);
    Ok(bar)
}

pub(super) fn broker(args: BrokerArgs, config: &Config) -> anyhow::Result<()> {
    let engine = open_engine(config)?;
    let constraints = constraints(&args.constraints, args.mode, &engine.config().scoring)?;
    let Some(seekers) = seekers(args.seekers)? else {
        bail!(
            "give --seekers or at least one of --consortium, --local-authority, --stages, --phase"
        )
    };
    let query = BrokerQuery {
        seekers,
        constraints,
        explain: args.explain,
        initial_candidates: broker_limits::INITIAL_CANDIDATES,
    };
    let bar = progress_bar("searching partners", "seekers")?;
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

pub(super) fn evaluate(args: EvaluateArgs, config: &Config) -> anyhow::Result<()> {
    if args.simulate_focus.is_some() && config.db.as_os_str() != ":memory:" {
        bail!("--simulate-focus makes up strengths and needs, so it runs on --db :memory: only");
    }
    let evidence = config.evidence()?;
    let engine = open_engine_with(config, |schools| {
        if let Some(seed) = args.simulate_focus {
            dataset::fill_missing_focus(schools, seed, &evidence.rules());
        }
    })?;
    let mut query = EvaluationQuery::new(&engine);
    query.constraints = constraints(
        &args.constraints,
        MatchMode::Support,
        &engine.config().scoring,
    )?;
    // Red and amber seekers unless ids or stages are given.
    match seekers(args.seekers)? {
        Some(SeekerSelection::Filter(mut filter)) => {
            if filter.stages.is_empty() {
                filter.stages = vec![Stage::Red, Stage::Amber];
            }
            query.seekers = SeekerSelection::Filter(filter);
        }
        Some(selection) => query.seekers = selection,
        None => {}
    }
    query.partners = args.partners;
    query.reach_km = args.reach_km;
    let bar = progress_bar("placing partners", "seekers")?;
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let evaluation = evaluation::evaluate(&engine, &query, &progress)?;
    if evaluation.seekers == 0 {
        bail!(
            "no open school is a seeker here; if the stages come from old evidence (the Welsh categories of 2019), count it with --evidence-max-age-years 10"
        );
    }
    bar.finish_and_clear();
    report::write_evaluation(&mut std::io::stdout().lock(), &evaluation, args.format)?;
    Ok(())
}

pub(super) fn families(args: FamiliesArgs, config: &Config) -> anyhow::Result<()> {
    let engine = open_engine(config)?;
    let report = engine.families(None)?;
    report::write_families(&mut std::io::stdout().lock(), &report, args.format)?;
    Ok(())
}

/// Resident memory of this process in MB, where the OS tells it (Linux).
fn resident_megabytes() -> Option<u64> {
    partnermatch::resident_bytes().map(|bytes| bytes / (1024 * 1024))
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
