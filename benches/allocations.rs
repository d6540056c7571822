//! Heap allocations per Match request, counted by a global allocator that
//! wraps the system's: the engine's search alone, and the whole request as
//! the server handles it (the request converted from protobuf, the search,
//! the answer converted and encoded), with and without `explain`, for 512
//! seekers per mode on the synthetic population; and the mean time of
//! each, so the cost of `explain` is reported on its own.
//!
//!     cargo bench --bench allocations             # 30,000 schools
//!     cargo bench --bench allocations -- 10000    # another size
//!
//! Under `cargo test` it runs 1,000 schools once, as a smoke test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use partnermatch::pb;
use partnermatch::{match_query_from_proto, match_response_to_proto};
use partnermatch_core::dataset::{SyntheticConfig, generate};
use partnermatch_core::domain::MatchMode;
use partnermatch_core::engine::{Engine, EngineConfig, InMemory, MatchQuery, Records};
use prost::Message;

/// Counts every allocation (and reallocation) and its bytes.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed to the system allocator unchanged; the
// counters are only read.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SEEKERS: usize = 512;

/// Rounds of each measurement, alternating between the three, so a slower
/// spell of a shared machine falls on all of them alike.
const ROUNDS: usize = 6;

/// Allocations, bytes and time of `run`, averaged over `times` calls.
#[derive(Default, Clone, Copy)]
struct Measured {
    allocations: f64,
    bytes: f64,
    micros: f64,
}

fn measure(times: usize, mut run: impl FnMut(usize)) -> Measured {
    let (allocations, bytes) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    let started = Instant::now();
    for call in 0..times {
        run(call);
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / times as f64;
    let per = |now: u64, before: u64| (now - before) as f64 / times as f64;
    Measured {
        allocations: per(ALLOCATIONS.load(Ordering::Relaxed), allocations),
        bytes: per(BYTES.load(Ordering::Relaxed), bytes),
        micros,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benchmarking = args.iter().any(|a| a == "--bench");
    let schools = match (benchmarking, args.iter().find_map(|a| a.parse().ok())) {
        (false, _) => 1_000,
        (true, Some(schools)) => schools,
        (true, None) => 30_000,
    };
    let population = generate(SyntheticConfig {
        schools,
        ..Default::default()
    });
    let engine = Engine::open(
        EngineConfig::default(),
        Box::new(InMemory),
        Records {
            schools: population,
            ..Records::default()
        },
    )
    .expect("a valid population");
    let snapshot = engine.snapshot();
    let open: Vec<String> = snapshot
        .schools()
        .iter()
        .filter(|s| s.school.open)
        .map(|s| s.school.id.to_string())
        .collect();
    let scoring = &engine.config().scoring;
    let (mut rows, mut times) = (Vec::new(), Vec::new());
    for mode in [MatchMode::Support, MatchMode::Lead, MatchMode::Peer] {
        let step = (open.len() / SEEKERS).max(1);
        let requests: Vec<pb::MatchRequest> = open
            .iter()
            .step_by(step)
            .map(|id| pb::MatchRequest {
                school_id: id.clone(),
                mode: match mode {
                    MatchMode::Support => pb::MatchMode::Support,
                    MatchMode::Lead => pb::MatchMode::Lead,
                    MatchMode::Peer => pb::MatchMode::Peer,
                } as i32,
                ..Default::default()
            })
            .filter(|request| {
                let query = match_query_from_proto(request.clone(), scoring).expect("valid");
                engine.match_partners(&query, |_| ()).is_ok()
            })
            .take(SEEKERS)
            .collect();
        let queries: Vec<MatchQuery> = requests
            .iter()
            .map(|r| match_query_from_proto(r.clone(), scoring).expect("valid"))
            .collect();
        let wire: Vec<Vec<u8>> = requests.iter().map(Message::encode_to_vec).collect();
        let n = queries.len();
        let engine_only = || {
            measure(n, |i| {
                let found = engine.match_partners(&queries[i], |o| o.candidates.len());
                std::hint::black_box(found.expect("matches"));
            })
        };
        let whole = |explain: bool| {
            measure(n, |i| {
                // As the server does it: decode, convert, search, convert,
                // encode.
                let mut request = pb::MatchRequest::decode(wire[i].as_slice()).expect("decodes");
                request.explain = explain;
                let query = match_query_from_proto(request, scoring).expect("valid");
                let response = engine
                    .match_partners(&query, |o| match_response_to_proto(o, 0))
                    .expect("matches");
                std::hint::black_box(response.encode_to_vec());
            })
        };
        // Allocations are the same every round; times are averaged.
        let rounds = if benchmarking { ROUNDS } else { 1 };
        let mut measured = [Measured::default(); 3];
        let mut micros = [0.0f64; 3];
        for _ in 0..rounds {
            measured = [engine_only(), whole(false), whole(true)];
            for (total, one) in micros.iter_mut().zip(&measured) {
                *total += one.micros / rounds as f64;
            }
        }
        let [engine_only, plain, explained] = measured;
        rows.push(format!(
            "| {} | {:.1} ({:.0} B) | {:.1} ({:.0} B) | {:.1} ({:.0} B) |",
            mode.name(),
            engine_only.allocations,
            engine_only.bytes,
            plain.allocations,
            plain.bytes,
            explained.allocations,
            explained.bytes
        ));
        times.push(format!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            mode.name(),
            micros[0],
            micros[1],
            micros[2],
            micros[2] - micros[1]
        ));
    }
    println!("{schools} schools, {SEEKERS} seekers per mode: allocations (bytes) per request");
    println!("| mode | engine search | whole request | whole request, explain |");
    println!("|---|---:|---:|---:|");
    for row in rows {
        println!("{row}");
    }
    println!();
    println!(
        "mean µs per request, {rounds} rounds alternating (in process, no transport)",
        rounds = if benchmarking { ROUNDS } else { 1 }
    );
    println!("| mode | engine search | whole request | whole request, explain | cost of explain |");
    println!("|---|---:|---:|---:|---:|");
    for row in times {
        println!("{row}");
    }
}
