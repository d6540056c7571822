//! `partnermatch bench`: drives a real server for a bounded time, reports
//! Match and the no-op baseline from the same run, and refuses anything but
//! loopback.

use std::time::Duration;

use partnermatch::dataset::{SyntheticConfig, generate};
use partnermatch::loadgen::{LoadConfig, run};

use crate::common::TestServer;

fn config(target: std::net::SocketAddr) -> LoadConfig {
    LoadConfig {
        target,
        connections: 2,
        streams: 2,
        duration: Duration::from_millis(400),
        warmup: Duration::from_millis(100),
        seekers: 50,
        limit: 5,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_reports_match_and_noop_from_one_run() {
    let server = TestServer::start(generate(SyntheticConfig {
        schools: 300,
        seed: 3,
        ..Default::default()
    }))
    .await;
    let report = run(config(server.address)).await.expect("bench runs");
    assert_eq!(report.schools, 300);
    for phase in [&report.matches, &report.noop] {
        assert!(phase.requests > 0, "{} made requests", phase.rpc);
        assert_eq!(phase.errors, 0, "{} had errors", phase.rpc);
        assert!(phase.p50_micros() <= phase.p99_micros());
    }
    assert!(report.ratio() > 0.0);
    let text = report.to_string();
    assert!(
        text.contains("Match ") && text.contains("grpc.health.v1/Check"),
        "{text}"
    );
    assert!(text.contains("Match ÷ no-op: "), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn bench_refuses_other_hosts_and_unbounded_runs() {
    let remote = config("192.0.2.10:50051".parse().unwrap());
    let error = run(remote).await.unwrap_err().to_string();
    assert!(error.contains("loopback"), "{error}");

    let mut long = config("127.0.0.1:1".parse().unwrap());
    long.duration = Duration::from_secs(301);
    let error = run(long).await.unwrap_err().to_string();
    assert!(error.contains("--duration"), "{error}");

    let mut wide = config("127.0.0.1:1".parse().unwrap());
    wide.streams = 1000;
    let error = run(wide).await.unwrap_err().to_string();
    assert!(error.contains("--streams"), "{error}");
}
