//! `partnermatch bench`, run as a user runs it: drives a real server for a
//! bounded time, reports Match and the no-op baseline from the same run,
//! and refuses anything but loopback and bounded runs.

use partnermatch_core::dataset::{SyntheticConfig, generate};
use partnermatch_core::domain::School;

use crate::support::process::binary;
use crate::support::server::TestServer;

/// Runs `partnermatch bench <args>` (off the async workers: the server
/// under test shares the runtime).
async fn bench(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || binary().arg("bench").args(args).output().unwrap())
        .await
        .unwrap()
}

/// A server on a small synthetic population.
async fn small_server() -> TestServer {
    TestServer::start(generate(SyntheticConfig {
        schools: 300,
        seed: 3,
        ..Default::default()
    }))
    .await
}

/// The requests, errors, p50 and p99 of the report's line for `rpc`.
fn phase_line(text: &str, rpc: &str) -> (u64, u64, u64, u64) {
    let line = text
        .lines()
        .find(|line| line.starts_with(rpc))
        .unwrap_or_else(|| panic!("no {rpc} line in {text}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    // rpc, requests, errors, req/s, p50, p99, response bytes.
    let number = |back: usize| -> u64 { fields[fields.len() - back].parse().unwrap() };
    (number(6), number(5), number(3), number(2))
}

fn small_run(target: &str) -> Vec<String> {
    [
        "--target",
        target,
        "--connections",
        "2",
        "--streams",
        "2",
        "--duration",
        "0.4",
        "--warmup",
        "0.1",
        "--seekers",
        "50",
        "--limit",
        "5",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_reports_match_and_noop_from_one_run() {
    let server = small_server().await;
    let output = bench(small_run(&server.target())).await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(text.contains("(300 schools)"), "{text}");
    for rpc in ["Match ", "grpc.health.v1/Check"] {
        let (requests, errors, p50, p99) = phase_line(&text, rpc);
        assert!(requests > 0 && errors == 0 && p50 <= p99, "{rpc}: {text}");
    }
    assert!(text.contains("Match ÷ no-op: "), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn bench_refuses_other_hosts_and_unbounded_runs() {
    let refused = |mut args: Vec<String>, flag: &str, value: &str| {
        let at = args.iter().position(|a| a == flag).unwrap();
        args[at + 1] = value.to_owned();
        args
    };
    for (args, expected) in [
        (
            refused(
                small_run("192.0.2.10:50051"),
                "--target",
                "192.0.2.10:50051",
            ),
            "loopback",
        ),
        (
            refused(small_run("127.0.0.1:1"), "--duration", "301"),
            "--duration",
        ),
        (
            refused(small_run("127.0.0.1:1"), "--streams", "1000"),
            "--streams",
        ),
    ] {
        let output = bench(args).await;
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{expected} in {stderr}");
    }
}

/// `bench --writes`: UpsertSchool from concurrent writers alone and beside
/// Match, each write a real change (the registry's names change, and some
/// sizes), with the Match-under-writes ratio reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_writes_times_upserts_alone_and_beside_match() {
    let server = small_server().await;
    let before = server.engine.snapshot().schools().to_vec();
    let mut args = small_run(&server.target());
    args.extend(["--writes", "--writers", "2"].map(str::to_owned));
    let output = bench(args).await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    for rpc in [
        "UpsertSchool ",
        "Match (with writes)",
        "UpsertSchool (with Match)",
    ] {
        let (requests, errors, _, _) = phase_line(&text, rpc);
        assert!(requests > 0 && errors == 0, "{rpc}: {text}");
    }
    assert!(text.contains("Match p99 under writes ÷ idle: "), "{text}");
    let after = server.engine.snapshot();
    let changed = |differs: fn(&School, &School) -> bool| {
        after
            .schools()
            .iter()
            .zip(&before)
            .filter(|(a, b)| differs(&a.school, &b.school))
            .count()
    };
    assert!(
        changed(|a, b| a.name != b.name) > 0,
        "the writes changed schools"
    );
    assert!(
        changed(|a, b| a.pupils != b.pupils) > 0,
        "some writes changed sizes"
    );
    server.stop().await;
}
