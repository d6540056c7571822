//! Heap allocations per Match request, counted by a global allocator that
//! wraps the system's: the engine's search alone, and the whole request as
//! the server handles it (the request converted from protobuf, the search,
//! the answer converted and encoded), with and without `explain`, for 512
//! seekers per mode on the synthetic population.
//!
//!     cargo bench --bench allocations             # 30,000 schools
//!     cargo bench --bench allocations -- 10000    # another size
//!
//! Under `cargo test` it runs 1,000 schools once, as a smoke test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Allocations and bytes of `run`, averaged over `times` calls.
fn count(times: usize, mut run: impl FnMut(usize)) -> (f64, f64) {
    let (allocations, bytes) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    for call in 0..times {
        run(call);
    }
    let per = |now: u64, before: u64| (now - before) as f64 / times as f64;
    (
        per(ALLOCATIONS.load(Ordering::Relaxed), allocations),
        per(BYTES.load(Ordering::Relaxed), bytes),
    )
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
            partnerships: Vec::new(),
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
    println!("{schools} schools, {SEEKERS} seekers per mode: allocations (bytes) per request");
    println!("| mode | engine search | whole request | whole request, explain |");
    println!("|---|---:|---:|---:|");
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
        let engine_only = count(n, |i| {
            let found = engine.match_partners(&queries[i], |o| o.candidates.len());
            std::hint::black_box(found.expect("matches"));
        });
        let whole = |explain: bool| {
            count(n, |i| {
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
        let (plain, explained) = (whole(false), whole(true));
        println!(
            "| {} | {:.1} ({:.0} B) | {:.1} ({:.0} B) | {:.1} ({:.0} B) |",
            mode.name(),
            engine_only.0,
            engine_only.1,
            plain.0,
            plain.1,
            explained.0,
            explained.1
        );
    }
}
