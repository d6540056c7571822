//! In-process Match on synthetic populations of 1k, 10k, 30k and 100k schools:
//! the fast path (`top_k`) and the brute-force oracle side by side, so their
//! ratio comes from one run. Each iteration matches the next of 256 open
//! seekers (SUPPORT, top 10, default weights); the `within_25km` variants add
//! `max_distance_km = 25`, where the spatial index stops the search early.
//! Building the population is not timed.
//!
//!     cargo bench --bench match
//!     python3 scripts/bench_table.py      # medians as a README table

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use partnermatch_core::dataset::{DEFAULT_SEED, SyntheticConfig, generate};
use partnermatch_core::domain::MatchMode;
use partnermatch_core::engine::{Engine, EngineConfig, MatchOutcome, MatchQuery};

const SIZES: [usize; 4] = [1_000, 10_000, 30_000, 100_000];
const SEEKERS: usize = 256;

fn seekers(engine: &Engine) -> Vec<MatchQuery> {
    let snapshot = engine.snapshot();
    let schools = snapshot.schools();
    let step = (schools.len() / SEEKERS).max(1);
    schools
        .iter()
        .step_by(step)
        .filter(|s| s.school.open)
        .map(|s| {
            MatchQuery::new(
                s.school.id.clone(),
                MatchMode::Support,
                &engine.config().scoring,
            )
        })
        .take(SEEKERS)
        .collect()
}

fn bench_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("match");
    group.measurement_time(Duration::from_secs(4));
    for size in SIZES {
        let schools = generate(SyntheticConfig {
            schools: size,
            seed: DEFAULT_SEED,
            ..Default::default()
        });
        let engine = Engine::with_schools(EngineConfig::default(), schools).expect("valid");
        let queries = seekers(&engine);
        let nearby: Vec<MatchQuery> = queries
            .iter()
            .cloned()
            .map(|mut query| {
                query.constraints.max_distance_km = Some(25.0);
                query
            })
            .collect();
        for (name, fast, queries) in [
            ("top_k", true, &queries),
            ("brute_force", false, &queries),
            ("top_k_within_25km", true, &nearby),
            ("brute_force_within_25km", false, &nearby),
        ] {
            group.bench_with_input(BenchmarkId::new(name, size), queries, |b, queries| {
                let mut next = 0;
                b.iter(|| {
                    next = (next + 1) % queries.len();
                    let query = &queries[next];
                    let count = |outcome: &MatchOutcome<'_>| outcome.candidates.len();
                    let outcome = if fast {
                        engine.match_partners(query, count)
                    } else {
                        engine.match_brute_force(query, count)
                    };
                    black_box(outcome.expect("open seekers can be matched"))
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_match);
criterion_main!(benches);
