//! Brokerage at consortium scale: the 2,000 schools most in need (every red
//! and amber school, then yellow ones, by id) against the 8,000 other
//! schools of a 10,000-school synthetic population,
//! SUPPORT mode, default weights. Prints the time of each run and the
//! optimal and greedy totals, so the gain and the cost are read together.
//!
//!     cargo bench --bench broker                  # 2,000 × 8,000, 5 runs
//!     cargo bench --bench broker -- 500 2000      # seekers, population
//!
//! Then families of schools for a 25,000-school population (the whole
//! computation: group, order by challenge, cut), five times.
//!
//! Under `cargo test` it runs small instances once, as a smoke test.

use std::time::Instant;

use partnermatch_core::dataset::{DEFAULT_SEED, SyntheticConfig, generate};
use partnermatch_core::domain::{MatchMode, Stage};
use partnermatch_core::engine::{
    BrokerQuery, Constraints, Engine, EngineConfig, SeekerSelection, broker_limits,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benchmarking = args.iter().any(|a| a == "--bench");
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let (seekers, population, runs) = match (benchmarking, numbers.as_slice()) {
        (true, [seekers, population, ..]) => (*seekers, *population, 5),
        (true, _) => (2_000, 10_000, 5),
        (false, _) => (100, 1_000, 1),
    };
    let schools = generate(SyntheticConfig {
        schools: population,
        seed: DEFAULT_SEED,
        ..Default::default()
    });
    let mut neediest: Vec<(i32, String)> = schools
        .iter()
        .filter(|s| s.stage.is_some_and(|stage| stage != Stage::Green))
        .map(|s| (s.stage.map_or(0, Stage::level), s.id.to_string()))
        .collect();
    neediest.sort();
    neediest.truncate(seekers);
    assert_eq!(neediest.len(), seekers, "enough schools below green");
    let ids: Vec<String> = neediest.into_iter().map(|(_, id)| id).collect();
    let engine = Engine::with_schools(EngineConfig::default(), schools).expect("valid");
    let query = BrokerQuery {
        seekers: SeekerSelection::Ids(ids),
        constraints: Constraints::new(MatchMode::Support, &engine.config().scoring),
        explain: false,
        initial_candidates: broker_limits::INITIAL_CANDIDATES,
    };
    println!(
        "brokerage: {seekers} seekers × {} other schools, SUPPORT, default weights",
        population - seekers
    );
    let mut times = Vec::new();
    for run in 1..=runs {
        let started = Instant::now();
        let line = engine
            .broker(&query, |outcome| {
                let elapsed = started.elapsed();
                format!(
                    "run {run}: {:.0} ms | optimal {:.2} over {} pairs (max load {}) | greedy {:.2} over {} pairs (max load {}) | gain {:+.2}% | {} candidate pairs, {} rounds",
                    elapsed.as_secs_f64() * 1e3,
                    outcome.optimal.total_score,
                    outcome.optimal.pairs,
                    outcome.optimal.max_supporter_load,
                    outcome.greedy.total_score,
                    outcome.greedy.pairs,
                    outcome.greedy.max_supporter_load,
                    100.0 * (outcome.optimal.total_score / outcome.greedy.total_score - 1.0),
                    outcome.candidate_pairs,
                    outcome.rounds,
                )
            })
            .expect("brokerage runs");
        times.push(started.elapsed().as_secs_f64());
        println!("{line}");
    }
    times.sort_by(f64::total_cmp);
    println!("median {:.0} ms", times[times.len() / 2] * 1e3);

    let population = if benchmarking { 25_000 } else { 2_000 };
    let engine = Engine::with_schools(
        EngineConfig::default(),
        generate(SyntheticConfig {
            schools: population,
            seed: DEFAULT_SEED,
            ..Default::default()
        }),
    )
    .expect("valid");
    let mut times = Vec::new();
    for run in 1..=runs {
        let started = Instant::now();
        let report = engine.families(None).expect("default sizes");
        let elapsed = started.elapsed().as_secs_f64();
        times.push(elapsed);
        let members: usize = report.families.iter().map(|f| f.members.len()).sum();
        println!(
            "families run {run}: {:.1} ms | {population} schools | {} families, mean size {:.1}",
            elapsed * 1e3,
            report.families.len(),
            members as f64 / report.families.len() as f64
        );
    }
    times.sort_by(f64::total_cmp);
    println!("families median {:.1} ms", times[times.len() / 2] * 1e3);
}
