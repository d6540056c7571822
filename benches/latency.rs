//! Latency percentiles of in-process Match: every call timed on its own, so
//! p50 and p99 come from the distribution (criterion reports central
//! estimates only). For each population size it builds the synthetic
//! registries asked for, then runs the fast path and the brute-force oracle
//! over the same seekers, in rounds that alternate between the populations,
//! so the ratios between paths and between populations are measured side by
//! side.
//!
//!     cargo bench --bench latency                 # 1k, 10k, 30k, 100k
//!     cargo bench --bench latency -- 30000        # chosen sizes
//!     cargo bench --bench latency -- 30000 every-area
//!                       # also schools that have every strength and need
//!     cargo bench --bench latency -- 30000 report-cards
//!                       # also every school with current report cards
//!
//! Under `cargo test` it runs one small size once, as a smoke test.

use std::hint::black_box;
use std::time::{Duration, Instant};

use partnermatch_core::dataset::{
    DEFAULT_SEED, ReportCardMix, SyntheticConfig, SyntheticFocus, add_report_cards, generate,
};
use partnermatch_core::domain::MatchMode;
use partnermatch_core::engine::{
    Engine, EngineConfig, EvidenceConfig, MatchOutcome, MatchQuery, Result, SearchStats,
};

const DEFAULT_SIZES: [usize; 4] = [1_000, 10_000, 30_000, 100_000];
const SEEKERS: usize = 512;

/// Percentiles of a set of durations, in microseconds.
struct Percentiles {
    p50: f64,
    p99: f64,
    calls: usize,
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    let at = |q: f64| {
        let index = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index].as_secs_f64() * 1e6
    };
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        calls: samples.len(),
    }
}

/// Times one pass over the queries, adding each call's time to `samples`.
fn time_pass(
    queries: &[MatchQuery],
    samples: &mut Vec<Duration>,
    run: impl Fn(&MatchQuery) -> Result<usize>,
) {
    for query in queries {
        let started = Instant::now();
        let outcome = black_box(run(query));
        samples.push(started.elapsed());
        assert!(
            outcome.is_ok(),
            "seekers are chosen so that they can be matched"
        );
    }
}

/// One population of a run: its data, its engine and what building it took.
struct Population {
    data_name: &'static str,
    engine: Engine,
    build_ms: f64,
}

fn build_population(size: usize, focus: SyntheticFocus, report_cards: bool) -> Population {
    let mut schools = generate(SyntheticConfig {
        schools: size,
        seed: DEFAULT_SEED,
        focus,
    });
    if report_cards {
        add_report_cards(&mut schools, DEFAULT_SEED, ReportCardMix::ALL_CURRENT);
    }
    let data_name = match (focus, report_cards) {
        (_, true) => "report cards",
        (SyntheticFocus::Realistic, false) => "default",
        (SyntheticFocus::EveryArea, false) => "every area",
    };
    // Evidence judged at one fixed date, so runs compare.
    let config = EngineConfig {
        evidence: EvidenceConfig {
            as_of: Some(jiff::civil::date(2026, 11, 29)),
            ..EvidenceConfig::default()
        },
        ..EngineConfig::default()
    };
    let started = Instant::now();
    let engine = Engine::with_schools(config, schools).expect("valid");
    Population {
        data_name,
        engine,
        build_ms: started.elapsed().as_secs_f64() * 1e3,
    }
}

/// Up to [`SEEKERS`] seekers spread over the population that can be
/// matched in `mode`.
fn seekers(engine: &Engine, mode: MatchMode) -> Vec<MatchQuery> {
    let snapshot = engine.snapshot();
    let step = (snapshot.len() / SEEKERS).max(1);
    snapshot
        .schools()
        .iter()
        .step_by(step)
        .map(|s| MatchQuery::new(s.school.id.clone(), mode, &engine.config().scoring))
        .filter(|query| engine.match_partners(query, |_| ()).is_ok())
        .take(SEEKERS)
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benchmarking = args.iter().any(|a| a == "--bench");
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = match (benchmarking, sizes.is_empty()) {
        (false, _) => vec![1_000],
        (true, true) => DEFAULT_SIZES.to_vec(),
        (true, false) => sizes,
    };
    let mut data = vec![(SyntheticFocus::Realistic, false)];
    if !benchmarking || args.iter().any(|a| a == "every-area") {
        data.push((SyntheticFocus::EveryArea, false));
    }
    if !benchmarking || args.iter().any(|a| a == "report-cards") {
        data.push((SyntheticFocus::Realistic, true));
    }
    println!(
        "| schools | data | mode | fast p50 µs | fast p99 µs | oracle p50 µs | oracle p99 µs | speed-up (p50) | groups bounded | scored | index build ms |"
    );
    println!("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &size in &sizes {
        // The populations of one size are timed in alternating rounds, so
        // a slower spell of a shared machine falls on all of them alike and
        // their ratio holds within the run.
        let populations: Vec<Population> = data
            .iter()
            .map(|&(focus, report_cards)| build_population(size, focus, report_cards))
            .collect();
        for mode in [MatchMode::Support, MatchMode::Lead, MatchMode::Peer] {
            let queries: Vec<Vec<MatchQuery>> = populations
                .iter()
                .map(|population| seekers(&population.engine, mode))
                .collect();
            let (fast_rounds, oracle_rounds) = match (benchmarking, size) {
                (false, _) => (1, 1),
                (true, s) if s >= 100_000 => (4, 1),
                (true, _) => (8, 2),
            };
            let count = |outcome: &MatchOutcome<'_>| outcome.candidates.len();
            let mut fast = vec![Vec::new(); populations.len()];
            let mut oracle = vec![Vec::new(); populations.len()];
            // One untimed pass each first.
            for (population, queries) in populations.iter().zip(&queries) {
                time_pass(queries, &mut Vec::new(), |q| {
                    population.engine.match_partners(q, count)
                });
            }
            for round in 0..fast_rounds {
                for (i, (population, queries)) in populations.iter().zip(&queries).enumerate() {
                    let engine = &population.engine;
                    time_pass(queries, &mut fast[i], |q| engine.match_partners(q, count));
                    if round < oracle_rounds {
                        time_pass(queries, &mut oracle[i], |q| {
                            engine.match_brute_force(q, count)
                        });
                    }
                }
            }
            for (i, (population, queries)) in populations.iter().zip(&queries).enumerate() {
                let engine = &population.engine;
                let fast = percentiles(std::mem::take(&mut fast[i]));
                let oracle = percentiles(std::mem::take(&mut oracle[i]));
                let (mut bounded, mut scored) = (0u64, 0u64);
                for query in queries {
                    let (stats, considered): (SearchStats, u32) = engine
                        .match_partners(query, |outcome| (outcome.stats, outcome.considered))
                        .expect("matched above");
                    bounded += u64::from(stats.groups_bounded);
                    scored += u64::from(considered);
                }
                let n = queries.len().max(1) as u64;
                println!(
                    "| {size} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1}× | {} | {} | {:.0} |",
                    population.data_name,
                    mode.name(),
                    fast.p50,
                    fast.p99,
                    oracle.p50,
                    oracle.p99,
                    oracle.p50 / fast.p50,
                    bounded / n,
                    scored / n,
                    population.build_ms,
                );
                eprintln!(
                    "  ({} fast calls, {} oracle calls over {} seekers)",
                    fast.calls,
                    oracle.calls,
                    queries.len()
                );
            }
        }
    }
}
