//! England's scale: a register-sized GIAS file (the real header, Windows-1252,
//! 50,000 establishments, about half of them open schools) imported with
//! the real binary into a new database, then again (nothing changes), then
//! into a running server (`--target`), and in-process Match latency on the
//! imported schools — plain, and within or outside the seeker's trust or
//! diocese.
//!
//!     cargo bench --bench import                # 50,000 rows
//!     cargo bench --bench import -- 100000      # another size
//!
//! Under `cargo test` it runs 2,000 rows once, as a smoke test.

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use partnermatch_core::dataset::register_sample;
use partnermatch_core::domain::{AffiliationKind, MatchMode, StoredSchool, TrustRelation};
use partnermatch_core::engine::{Constraints, Engine, EngineConfig, MatchQuery};
use partnermatch_store::SqliteStore;

const SEEKERS: usize = 512;

/// Runs `partnermatch import gias FILE --db DB`, returning its wall time
/// and the summary line it printed.
fn import(file: &Path, db: &Path, extra: &[&str]) -> (Duration, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_partnermatch"));
    command.args(["--log", "warn", "import", "gias"]).arg(file);
    command.arg("--db").arg(db).args(extra);
    run_import(command)
}

/// Runs `partnermatch import gias FILE --target ADDR` against a server
/// started for it on a new database.
fn import_into_server(file: &Path, db: &Path) -> (Duration, String) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_partnermatch"))
        .args([
            "--log",
            "info",
            "serve",
            "--no-auth",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--db")
        .arg(db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start partnermatch serve");
    let stderr = server.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let address: String = loop {
        let line = lines
            .next()
            .expect("the server says where it listens")
            .expect("readable log");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | ':'))
                .collect();
        }
    };
    // Keep reading the log, so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let mut command = Command::new(env!("CARGO_BIN_EXE_partnermatch"));
    command.args(["--log", "warn", "import", "gias"]).arg(file);
    command.args(["--target", &address]);
    let result = run_import(command);
    server.kill().expect("stop the server");
    server.wait().expect("reap the server");
    result
}

fn run_import(mut command: Command) -> (Duration, String) {
    let started = Instant::now();
    let output = command.output().expect("run partnermatch");
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    (elapsed, summary)
}

fn percentile(samples: &mut [Duration], q: f64) -> f64 {
    samples.sort_unstable();
    let index = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[index].as_secs_f64() * 1e6
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benchmarking = args.iter().any(|a| a == "--bench");
    let rows = match (benchmarking, args.iter().find_map(|a| a.parse().ok())) {
        (false, _) => 2_000,
        (true, Some(rows)) => rows,
        (true, None) => 50_000,
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("edubasealldata.csv");
    std::fs::write(&file, register_sample(rows, 2015)).expect("write the register");
    let megabytes = std::fs::metadata(&file).map_or(0, |m| m.len()) as f64 / 1e6;
    println!("register: {rows} rows, {megabytes:.1} MB");

    let db = dir.path().join("england.db");
    let (first, summary) = import(&file, &db, &[]);
    println!(
        "import into a new database: {:.2} s — {summary}",
        first.as_secs_f64()
    );
    let (again, summary) = import(&file, &db, &[]);
    println!(
        "the same file again: {:.2} s — {summary}",
        again.as_secs_f64()
    );
    let open_db = dir.path().join("england-open.db");
    let (open_only, summary) = import(&file, &open_db, &["--open-only"]);
    println!(
        "--open-only into a new database: {:.2} s — {summary}",
        open_only.as_secs_f64()
    );

    let started = Instant::now();
    let (store, records) = SqliteStore::open(&db).expect("the imported database");
    let engine = Engine::open(EngineConfig::default(), Box::new(store), records).expect("valid");
    println!(
        "open the database and build the index: {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let snapshot = engine.snapshot();
    let open: Vec<&StoredSchool> = snapshot
        .schools()
        .iter()
        .map(|s| s.as_ref())
        .filter(|s| s.school.open)
        .collect();
    let in_body = |kind| move |s: &&StoredSchool| s.school.affiliations.get(kind).is_some();
    println!("| request | open schools | seekers | p50 µs | p99 µs |");
    println!("|---|---:|---:|---:|---:|");
    let rounds = if benchmarking { 8 } else { 1 };
    for mode in [MatchMode::Support, MatchMode::Lead, MatchMode::Peer] {
        time_matches(&engine, mode.name(), &open, open.len(), rounds, |c| {
            c.mode = mode;
        });
    }
    let in_trusts: Vec<&StoredSchool> = open
        .iter()
        .copied()
        .filter(in_body(AffiliationKind::Trust))
        .collect();
    let in_dioceses: Vec<&StoredSchool> = open
        .iter()
        .copied()
        .filter(in_body(AffiliationKind::Diocese))
        .collect();
    for (label, seekers, relation, same_diocese) in [
        (
            "support, same trust",
            &in_trusts,
            TrustRelation::SameTrust,
            false,
        ),
        (
            "support, other trusts",
            &in_trusts,
            TrustRelation::OtherTrusts,
            false,
        ),
        (
            "support, same diocese",
            &in_dioceses,
            TrustRelation::Any,
            true,
        ),
    ] {
        time_matches(&engine, label, seekers, open.len(), rounds, |c| {
            c.trust_relation = relation;
            c.same_diocese = same_diocese;
        });
    }

    let served = dir.path().join("served.db");
    let (remote, summary) = import_into_server(&file, &served);
    println!(
        "into a running server (--target, a new database): {:.2} s — {summary}",
        remote.as_secs_f64()
    );
}

/// Times Match for up to [`SEEKERS`] of `seekers` (spread over them), each
/// asked `rounds` times with the constraints `adjust` makes from SUPPORT's,
/// and prints a row of the table.
fn time_matches(
    engine: &Engine,
    label: &str,
    seekers: &[&StoredSchool],
    open: usize,
    rounds: usize,
    adjust: impl Fn(&mut Constraints),
) {
    let step = (seekers.len() / SEEKERS).max(1);
    let queries: Vec<MatchQuery> = seekers
        .iter()
        .step_by(step)
        .map(|s| {
            let mut query = MatchQuery::new(
                s.school.id.clone(),
                MatchMode::Support,
                &engine.config().scoring,
            );
            adjust(&mut query.constraints);
            query
        })
        .filter(|query| engine.match_partners(query, |_| ()).is_ok())
        .take(SEEKERS)
        .collect();
    let mut samples = Vec::with_capacity(queries.len() * rounds);
    for _ in 0..rounds {
        for query in &queries {
            let started = Instant::now();
            let outcome = black_box(engine.match_partners(query, |o| o.candidates.len()));
            samples.push(started.elapsed());
            assert!(outcome.is_ok(), "seekers are chosen so they match");
        }
    }
    println!(
        "| {label} | {open} | {} | {:.1} | {:.1} |",
        queries.len(),
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.99)
    );
}
