//! England's scale: a register-sized GIAS file (the real header, Windows-1252,
//! 50,000 establishments, about half of them open schools) imported with
//! the real binary into a new database, then again (nothing changes), and
//! in-process Match latency on the imported schools.
//!
//!     cargo bench --bench import                # 50,000 rows
//!     cargo bench --bench import -- 100000      # another size
//!
//! Under `cargo test` it runs 2,000 rows once, as a smoke test.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use partnermatch_core::dataset::register_sample;
use partnermatch_core::domain::MatchMode;
use partnermatch_core::engine::{Engine, EngineConfig, MatchQuery};
use partnermatch_store::SqliteStore;

const SEEKERS: usize = 512;

/// Runs `partnermatch import gias FILE --db DB`, returning its wall time
/// and the summary line it printed.
fn import(file: &Path, db: &Path, extra: &[&str]) -> (Duration, String) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_partnermatch"))
        .args(["--log", "warn", "import", "gias"])
        .arg(file)
        .arg("--db")
        .arg(db)
        .args(extra)
        .output()
        .expect("run partnermatch");
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
    let open: Vec<_> = snapshot
        .schools()
        .iter()
        .filter(|s| s.school.open)
        .collect();
    println!("| mode | open schools | p50 µs | p99 µs |");
    println!("|---|---:|---:|---:|");
    for mode in [MatchMode::Support, MatchMode::Lead, MatchMode::Peer] {
        let step = (open.len() / SEEKERS).max(1);
        let queries: Vec<MatchQuery> = open
            .iter()
            .step_by(step)
            .map(|s| MatchQuery::new(s.school.id.clone(), mode, &engine.config().scoring))
            .filter(|query| engine.match_partners(query, |_| ()).is_ok())
            .take(SEEKERS)
            .collect();
        let rounds = if benchmarking { 8 } else { 1 };
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
            "| {} | {} | {:.1} | {:.1} |",
            mode.name(),
            open.len(),
            percentile(&mut samples, 0.5),
            percentile(&mut samples, 0.99)
        );
    }
}
