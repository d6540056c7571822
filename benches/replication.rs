//! Propagation between replicas over PostgreSQL, in process: two engines
//! over one new database on the server PARTNERMATCH_TEST_POSTGRES names,
//! the second following the change log as a replica does
//! (`partnermatch::follow`: woken by NOTIFY, then one read of the log). For
//! writes on the first — renames, new numbers of pupils, schools created,
//! one after another — the time from each write's acknowledgement to the
//! second holding its registry version: p50 / p99 / slowest. Then a burst
//! of writes made back to back, and the time until the follower holds the
//! last of them.
//!
//!     source scripts/postgres && cargo bench --bench replication         # 30,000 schools
//!     source scripts/postgres && cargo bench --bench replication -- 10000
//!
//! Under `cargo test` it runs 1,000 schools and a few writes once. Without
//! PARTNERMATCH_TEST_POSTGRES it says so and measures nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use partnermatch::{Replication, ReplicationSettings};
use partnermatch_core::dataset::{SyntheticConfig, generate};
use partnermatch_core::domain::SchoolId;
use partnermatch_core::engine::{Engine, EngineConfig};
use partnermatch_store::PostgresStore;

/// A replica: an engine over the database, following its change log.
fn replica(url: &str) -> (Arc<Engine>, partnermatch::Follower) {
    let (store, records) = PostgresStore::open(url).expect("open the database");
    let engine =
        Arc::new(Engine::open(EngineConfig::default(), Box::new(store), records).expect("engine"));
    let settings = ReplicationSettings {
        max_lag: Duration::from_secs(5),
        serve_stale: false,
    };
    let replication = Arc::new(Replication::new(settings, engine.version()));
    let follower = partnermatch::follow(
        Arc::clone(&engine),
        PostgresStore::connect(url).expect("connect"),
        replication,
    )
    .expect("follower thread");
    (engine, follower)
}

/// Waits until `engine` holds `version`; how long that took.
fn until_held(engine: &Engine, version: u64) -> Duration {
    let started = Instant::now();
    while engine.version() < version {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "version {version} never arrived"
        );
        std::thread::sleep(Duration::from_micros(50));
    }
    started.elapsed()
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort_unstable();
    let at = |q: f64| {
        let index = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index].as_secs_f64() * 1e3
    };
    format!(
        "{:.2} / {:.2} / {:.2}",
        at(0.5),
        at(0.99),
        samples.last().unwrap().as_secs_f64() * 1e3
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benchmarking = args.iter().any(|a| a == "--bench");
    let (schools, writes) = match (benchmarking, args.iter().find_map(|a| a.parse().ok())) {
        (false, _) => (1_000, 5),
        (true, Some(schools)) => (schools, 300),
        (true, None) => (30_000, 300),
    };
    let Ok(server) = std::env::var("PARTNERMATCH_TEST_POSTGRES") else {
        println!(
            "no PostgreSQL: PARTNERMATCH_TEST_POSTGRES names none (`source scripts/postgres` starts one)"
        );
        return;
    };
    let name = format!("bench_replication_{}", std::process::id());
    let url = partnermatch_store::create_database(&server, &name).expect("a new database");
    let population = generate(SyntheticConfig {
        schools,
        ..Default::default()
    });
    let (writer, _writer_follows) = replica(&url);
    writer.upsert_batch(population.clone()).expect("seed");
    let (reader, _reader_follows) = replica(&url);
    assert_eq!(reader.version(), writer.version());

    println!(
        "{schools} schools: from a write acknowledged on one replica to another holding it, p50 / p99 / slowest ms"
    );
    println!("| write | replicated |");
    println!("|---|---:|");
    let kinds: [(&str, &dyn Fn(usize)); 3] = [
        ("UpsertSchool, rename", &|i| {
            let mut school = population[i % population.len()].clone();
            school.name = format!("Renamed {i}");
            writer.upsert(school).expect("rename");
        }),
        ("UpsertSchool, pupils", &|i| {
            let mut school = population[(i * 7) % population.len()].clone();
            school.pupils = Some(50 + i as u32);
            writer.upsert(school).expect("pupils");
        }),
        ("UpsertSchool, new", &|i| {
            let mut school = population[(i * 13) % population.len()].clone();
            school.id = SchoolId::parse(&format!("replicated-{i:05}")).unwrap();
            writer.upsert(school).expect("create");
        }),
    ];
    for (kind, write) in kinds {
        let delays: Vec<Duration> = (0..writes)
            .map(|i| {
                write(i);
                until_held(&reader, writer.version())
            })
            .collect();
        println!("| {kind} | {} |", percentiles(delays));
    }

    // A burst: writes back to back, then the wait for the last.
    let started = Instant::now();
    for i in 0..writes {
        let mut school = population[(i * 11) % population.len()].clone();
        school.name = format!("Burst {i}");
        writer.upsert(school).expect("burst");
    }
    let written = started.elapsed();
    let behind = until_held(&reader, writer.version());
    println!(
        "\n{writes} renames back to back took {:.0} ms on the writer; the follower held the last {:.2} ms after it was acknowledged",
        written.as_secs_f64() * 1e3,
        behind.as_secs_f64() * 1e3
    );
}
