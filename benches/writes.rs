//! Single writes at scale, in process: UpsertSchool (a rename, which
//! changes nothing matching reads; and a new number of pupils, which does),
//! UpsertSchool creating a school (twelve times as many as the other writes,
//! one after another, every other one with an id after the others', the
//! rest with ids among them; the slowest is shown too), UpdatePartnership
//! (an edit of the plan, at the version read) and DeleteSchool (of the
//! schools it created, the slowest shown too), each timed on its own
//! from the call to the published snapshot, on the synthetic population
//! in memory, in a SQLite file (synced before it returns) and, when
//! PARTNERMATCH_TEST_POSTGRES names a server, in a new PostgreSQL database
//! on it (committed before it returns), with Match p50 / p99 idle for
//! comparison.
//!
//!     cargo bench --bench writes             # 30,000 schools
//!     cargo bench --bench writes -- 10000    # another size
//!
//! Under `cargo test` it runs 1,000 schools and a few writes once.

use std::time::{Duration, Instant};

use partnermatch_core::dataset::{SyntheticConfig, generate};
use partnermatch_core::domain::{Member, MemberRole, PartnershipKind, SchoolId};
use partnermatch_core::engine::{
    Engine, EngineConfig, InMemory, MatchQuery, PartnershipChanges, PartnershipUpdate, Persistence,
    Proposal, Records,
};
use partnermatch_store::{PostgresStore, SqliteStore};

/// Opens a store: its persistence and the records it holds.
type OpenStore<'a> = dyn Fn() -> (Box<dyn Persistence>, Records) + 'a;

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| {
        let index = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index].as_secs_f64() * 1e3
    };
    (at(0.5), at(0.99))
}

fn samples(times: usize, mut write: impl FnMut(usize)) -> Vec<Duration> {
    (0..times)
        .map(|i| {
            let started = Instant::now();
            write(i);
            started.elapsed()
        })
        .collect()
}

fn time(times: usize, write: impl FnMut(usize)) -> (f64, f64) {
    percentiles(samples(times, write))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benchmarking = args.iter().any(|a| a == "--bench");
    let (schools, writes) = match (benchmarking, args.iter().find_map(|a| a.parse().ok())) {
        (false, _) => (1_000, 3),
        (true, Some(schools)) => (schools, 200),
        (true, None) => (30_000, 200),
    };
    // Schools created, then deleted, one at a time: more than a snapshot
    // once held before it was built whole (256 created, a sixteenth of
    // 30,000 vacant), so the slowest shows.
    let creates = 12 * writes;
    let population = generate(SyntheticConfig {
        schools,
        ..Default::default()
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    println!(
        "{schools} schools, {writes} writes of each kind ({creates} creates and deletes): p50 / p99 ms (and the slowest create and delete)"
    );
    println!(
        "| store | UpsertSchool, rename | UpsertSchool, pupils | UpsertSchool, new | UpdatePartnership | DeleteSchool | Match SUPPORT (µs) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    // PostgreSQL when a server is given (scripts/postgres starts one): a
    // new database on it.
    let postgres_url = std::env::var("PARTNERMATCH_TEST_POSTGRES")
        .ok()
        .map(|server| {
            let name = format!("bench_writes_{}", std::process::id());
            partnermatch_store::create_database(&server, &name).expect("a new database")
        });
    let mut stores: Vec<(&str, Box<OpenStore<'_>>)> = vec![
        (
            "memory",
            Box::new(|| (Box::new(InMemory), Records::default())),
        ),
        (
            "SQLite file",
            Box::new(|| {
                let (store, records) =
                    SqliteStore::open(&dir.path().join("writes.db")).expect("a new database");
                (Box::new(store), records)
            }),
        ),
    ];
    match &postgres_url {
        Some(url) => stores.push((
            "PostgreSQL",
            Box::new(move || {
                let (store, records) = PostgresStore::open(url).expect("a new database");
                (Box::new(store), records)
            }),
        )),
        None => println!(
            "(no PostgreSQL row: PARTNERMATCH_TEST_POSTGRES names none; `source scripts/postgres` starts one)"
        ),
    }
    for (name, open) in stores {
        let (store, records) = open();
        let engine = Engine::open(EngineConfig::default(), store, records).expect("valid");
        // Written as one import, so a file holds every school.
        engine
            .upsert_batch(population.clone())
            .expect("the population");
        let ids: Vec<SchoolId> = population.iter().map(|s| s.id.clone()).collect();

        let upsert = time(writes, |i| {
            let mut school = population[i * 97 % population.len()].clone();
            school.name = format!("{} (renamed {i})", school.name);
            engine.upsert(school).expect("a valid school");
        });

        let resize = time(writes, |i| {
            let mut school = population[i * 89 % population.len()].clone();
            school.pupils = Some(school.pupils.unwrap_or(100) + 1 + i as u32);
            engine.upsert(school).expect("a valid school");
        });

        let proposed = engine
            .propose_partnership(Proposal {
                id: None,
                kind: PartnershipKind::Peer,
                members: vec![
                    Member {
                        school_id: ids[1].clone(),
                        role: MemberRole::Member,
                    },
                    Member {
                        school_id: ids[2].clone(),
                        role: MemberRole::Member,
                    },
                ],
                focus: Default::default(),
                plan: Default::default(),
            })
            .expect("a valid proposal");
        let mut version = proposed.version;
        let update = time(writes, |i| {
            let updated = engine
                .update_partnership(PartnershipUpdate {
                    id: proposed.id.clone(),
                    version,
                    changes: PartnershipChanges {
                        action_plan: Some(format!("step {i}")),
                        ..Default::default()
                    },
                })
                .expect("at the version read");
            version = updated.version;
        });

        let extra: Vec<_> = population
            .iter()
            .cycle()
            .take(creates)
            .enumerate()
            .map(|(i, school)| {
                let mut school = school.clone();
                let id = if i % 2 == 0 {
                    format!("z-new-{i:05}")
                } else {
                    format!("{}-new", ids[i * 131 % ids.len()])
                };
                school.id = SchoolId::parse(&id).expect("an id");
                school
            })
            .collect();
        // Half the new ids sort after the synthetic ones, as new school
        // numbers of one authority do; half among them.
        let create = samples(creates, |i| {
            engine.upsert(extra[i].clone()).expect("a valid school");
        });
        let slowest_create = create.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1e3);
        let create = percentiles(create);
        let delete = samples(creates, |i| {
            engine.delete(extra[i].id.as_str()).expect("stored");
        });
        let slowest_delete = delete.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1e3);
        let delete = percentiles(delete);

        let scoring = &engine.config().scoring;
        let queries: Vec<MatchQuery> = ids
            .iter()
            .step_by((ids.len() / 256).max(1))
            .map(|id| {
                MatchQuery::new(
                    id.clone(),
                    partnermatch_core::domain::MatchMode::Support,
                    scoring,
                )
            })
            .filter(|q| engine.match_partners(q, |_| ()).is_ok())
            .collect();
        let matches: Vec<Duration> = queries
            .iter()
            .map(|q| {
                let started = Instant::now();
                let _ = std::hint::black_box(engine.match_partners(q, |o| o.candidates.len()));
                started.elapsed()
            })
            .collect();
        let (match_p50, match_p99) = percentiles(matches);
        println!(
            "| {name} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} ({:.0}) | {:.1} / {:.1} | {:.1} / {:.1} ({:.0}) | {:.1} / {:.1} |",
            upsert.0,
            upsert.1,
            resize.0,
            resize.1,
            create.0,
            create.1,
            slowest_create,
            update.0,
            update.1,
            delete.0,
            delete.1,
            slowest_delete,
            match_p50 * 1e3,
            match_p99 * 1e3
        );
    }
}
