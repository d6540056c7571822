//! The server through clients that are not ours: real `grpcurl` (reflection,
//! `describe`, JSON in and out, and every grpcurl command in the README, as
//! printed) and the Python `grpcio` example client.
//!
//! The tests are `#[ignore]`d for a plain `cargo test`; `scripts/test`
//! installs the tools and runs them (`--ignored`), and there a missing tool
//! fails the test.

use std::path::Path;
use std::process::Output;

use partnermatch::pb;
use partnermatch_core::domain::{Phase, Stage};
use serde_json::Value;

use crate::support::fixtures::{candidate_ids, match_request};
use crate::support::server::TestServer;
use crate::support::tools::{grpcurl, python, run};

const MATCH_METHOD: &str = "partnermatch.v1.PartnerMatcher/Match";

/// Runs `grpcurl -plaintext [-d body] target args...` against a test server.
async fn grpcurl_call(grpcurl: &Path, target: &str, body: Option<&str>, args: &[&str]) -> Output {
    let mut all = vec!["-plaintext"];
    if let Some(body) = body {
        all.extend(["-d", body]);
    }
    all.push(target);
    all.extend(args);
    run(grpcurl, &all).await
}

#[track_caller]
fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

/// The embedded default population, which the README's examples use.
async fn default_server() -> TestServer {
    TestServer::with_default_data().await
}

fn red_primary(server: &TestServer) -> String {
    server
        .engine
        .snapshot()
        .schools()
        .iter()
        .find(|s| {
            s.school.phase == Phase::Primary && s.school.stage == Some(Stage::Red) && s.school.open
        })
        .expect("a red primary")
        .school
        .id
        .to_string()
}

/// The reference answer: SUPPORT, top 5, through the generated Rust client.
async fn top_five_by_rust_client(server: &TestServer, seeker: &str) -> pb::MatchResponse {
    let mut request = match_request(seeker, pb::MatchMode::Support);
    request.limit = 5;
    server
        .matcher()
        .await
        .r#match(request)
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
#[ignore = "needs grpcurl and Python grpcio: scripts/test installs them and runs these"]
async fn grpcurl_lists_describes_and_checks_health() {
    let grpcurl = grpcurl();
    let server = default_server().await;
    let target = server.target();

    let list = stdout_of(&grpcurl_call(&grpcurl, &target, None, &["list"]).await);
    for service in [
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "partnermatch.v1.PartnerMatcher",
        "partnermatch.v1.SchoolRegistry",
    ] {
        assert!(list.lines().any(|l| l == service), "{service} in {list}");
    }

    let describe = stdout_of(
        &grpcurl_call(
            &grpcurl,
            &target,
            None,
            &["describe", "partnermatch.v1.PartnerMatcher"],
        )
        .await,
    );
    assert!(
        describe.contains(
            "rpc Match ( .partnermatch.v1.MatchRequest ) returns ( .partnermatch.v1.MatchResponse )"
        ),
        "{describe}"
    );
    assert!(
        describe.contains("// Ranks partners for one school."),
        "comments are served: {describe}"
    );

    let describe = stdout_of(
        &grpcurl_call(
            &grpcurl,
            &target,
            None,
            &["describe", "partnermatch.v1.MatchRequest"],
        )
        .await,
    );
    assert!(
        describe.contains("// Number of partners to return, 1–100. 0 or unset means 10."),
        "{describe}"
    );

    let health =
        stdout_of(&grpcurl_call(&grpcurl, &target, None, &["grpc.health.v1.Health/Check"]).await);
    assert!(health.contains("\"status\": \"SERVING\""), "{health}");
    server.stop().await;
}

#[tokio::test]
#[ignore = "needs grpcurl and Python grpcio: scripts/test installs them and runs these"]
async fn grpcurl_match_with_json_in_and_out() {
    let grpcurl = grpcurl();
    let server = default_server().await;
    let target = server.target();
    let seeker = red_primary(&server);
    let body = format!(
        r#"{{"school_id":"{seeker}","mode":"MATCH_MODE_SUPPORT","limit":5,"explain":true}}"#
    );
    let output = stdout_of(&grpcurl_call(&grpcurl, &target, Some(&body), &[MATCH_METHOD]).await);
    let json: Value = serde_json::from_str(&output).expect("grpcurl prints JSON");
    let candidates = json["candidates"].as_array().expect("candidates");
    assert_eq!(candidates.len(), 5);

    // The same answer as the generated Rust client.
    let expected = top_five_by_rust_client(&server, &seeker).await;
    let ids: Vec<_> = candidates
        .iter()
        .map(|c| c["schoolId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, candidate_ids(&expected));

    for (i, candidate) in candidates.iter().enumerate() {
        assert_eq!(candidate["rank"], i + 1);
        assert!(candidate["distanceKm"].as_f64().unwrap() >= 0.0);
        assert!(candidate["stage"].as_str().unwrap().starts_with("STAGE_"));
        let components = candidate["components"].as_array().unwrap();
        assert_eq!(components.len(), 9);
        assert_eq!(components[0]["factor"], "FACTOR_STAGE");
        assert!(
            components
                .iter()
                .all(|c| !c["reason"].as_str().unwrap().is_empty())
        );
    }

    let output = grpcurl_call(
        &grpcurl,
        &target,
        Some(&format!(
            r#"{{"school_id":"{seeker}","mode":"MATCH_MODE_SUPPORT","limit":500}}"#
        )),
        &[MATCH_METHOD],
    )
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Code: InvalidArgument"), "{stderr}");
    assert!(
        stderr.contains("limit: must be between 1 and 100, got 500"),
        "{stderr}"
    );
    server.stop().await;
}

/// Registry versions by hand: `grpcurl -v` shows the version an answer
/// was read at; `-H partnermatch-min-version:` a version the server does
/// not hold is UNAVAILABLE at the deadline; a malformed one is
/// INVALID_ARGUMENT naming the header.
#[tokio::test]
#[ignore = "needs grpcurl and Python grpcio: scripts/test installs them and runs these"]
async fn grpcurl_shows_and_asks_for_registry_versions() {
    let grpcurl = grpcurl();
    let server = default_server().await;
    let target = server.target();
    let version = server.engine.version();
    assert!(version > 0);
    let seeker = red_primary(&server);
    let body = format!(r#"{{"id":"{seeker}"}}"#);
    let get = |header: String, flags: &'static [&'static str]| {
        let (grpcurl, target, body) = (grpcurl.clone(), target.clone(), body.clone());
        async move {
            let mut args = vec!["-plaintext", "-H", &header];
            args.extend(flags);
            args.extend([
                "-d",
                &body,
                &target,
                "partnermatch.v1.SchoolRegistry/GetSchool",
            ]);
            run(&grpcurl, &args).await
        }
    };
    let asked = format!("partnermatch-min-version: {version}");
    let output = stdout_of(&get(asked, &["-v"]).await);
    assert!(
        output.contains(&format!("partnermatch-version: {version}")),
        "{output}"
    );
    let ahead = format!("partnermatch-min-version: {}", version + 1);
    let output = get(ahead, &["-max-time", "1"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Code: Unavailable"), "{stderr}");
    assert!(
        stderr.contains(&format!("holds registry version {version}")),
        "{stderr}"
    );
    let output = get("partnermatch-min-version: latest".into(), &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Code: InvalidArgument"), "{stderr}");
    assert!(
        stderr.contains("partnermatch-min-version must be"),
        "{stderr}"
    );
    server.stop().await;
}

/// Every `grpcurl` command in the README's shell blocks, joined across `\`
/// line continuations.
fn readme_grpcurl_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let mut commands = Vec::new();
    let mut in_shell = false;
    let mut pending = String::new();
    for line in readme.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_shell =
                !in_shell && (trimmed == "```sh" || trimmed == "```bash" || trimmed == "```shell");
            continue;
        }
        if !in_shell {
            continue;
        }
        if pending.is_empty() && !trimmed.starts_with("grpcurl ") {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                pending.push_str(part);
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    commands
}

#[tokio::test]
#[ignore = "needs grpcurl and Python grpcio: scripts/test installs them and runs these"]
async fn readme_grpcurl_commands_work_as_printed() {
    let grpcurl = grpcurl();
    let commands = readme_grpcurl_commands();
    assert!(
        commands.len() >= 5,
        "README has grpcurl examples: {commands:?}"
    );
    let server = default_server().await;
    for command in &commands {
        assert!(
            command.contains("127.0.0.1:50051"),
            "README commands target the default address: {command}"
        );
        // Only the address changes: the test server listens on a free port.
        let command = command
            .replacen("grpcurl", &grpcurl.display().to_string(), 1)
            .replace("127.0.0.1:50051", &server.target());
        let output = tokio::process::Command::new("sh")
            .args(["-c", &command])
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "README command failed: {command}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.stdout.is_empty(), "no output from {command}");
    }
    server.stop().await;
}

#[tokio::test]
#[ignore = "needs grpcurl and Python grpcio: scripts/test installs them and runs these"]
async fn python_grpcio_client_prints_the_ranked_table() {
    let python = python();
    let server = default_server().await;
    let seeker = red_primary(&server);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python/match_client.py");
    let output = stdout_of(
        &run(
            &python,
            &[
                script.to_str().unwrap(),
                "--target",
                &server.target(),
                "--school",
                &seeker,
                "--limit",
                "5",
            ],
        )
        .await,
    );
    let expected = top_five_by_rust_client(&server, &seeker).await;
    let rows: Vec<(String, String)> = output
        .lines()
        .skip(2)
        .map(|line| {
            let mut fields = line.split_whitespace();
            (
                fields.next().unwrap().to_owned(),
                fields.next().unwrap().to_owned(),
            )
        })
        .collect();
    let expected_rows: Vec<(String, String)> = expected
        .candidates
        .iter()
        .map(|c| (c.rank.to_string(), c.school_id.clone()))
        .collect();
    assert_eq!(rows, expected_rows, "{output}");
    assert!(
        output.starts_with(&format!("Partners for {seeker} ")),
        "{output}"
    );

    let failed = run(
        &python,
        &[
            script.to_str().unwrap(),
            "--target",
            &server.target(),
            "--school",
            "nobody",
        ],
    )
    .await;
    assert_eq!(failed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("NOT_FOUND"));
    server.stop().await;
}

/// A stock grpcio client (default limits) sends what an attacker would:
/// thousands of bad entries get INVALID_ARGUMENT (not a header-size
/// failure), and imports it cancels or lets run out of time apply nothing.
#[tokio::test]
#[ignore = "needs grpcurl and Python grpcio: scripts/test installs them and runs these"]
async fn python_grpcio_gets_clear_refusals_and_its_abandoned_imports_apply_nothing() {
    let python = python();
    let server = default_server().await;
    let before = server.engine.snapshot().len();
    let seeker = red_primary(&server);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/hostile_client.py");
    let output = run(
        &python,
        &[
            script.to_str().unwrap(),
            "--target",
            &server.target(),
            "--seeker",
            &seeker,
        ],
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    let cases: Vec<Value> = stdout_of(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let code = |case: &str| {
        cases
            .iter()
            .find(|c| c["case"] == case)
            .unwrap_or_else(|| panic!("no {case} in {cases:?}"))["code"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for case in ["match_focus_50", "match_focus_5000", "upsert_needs_1000000"] {
        assert_eq!(code(case), "INVALID_ARGUMENT", "{case}: {cases:?}");
    }
    assert_eq!(code("import_cancelled"), "CANCELLED", "{cases:?}");
    assert_eq!(code("import_deadline"), "DEADLINE_EXCEEDED", "{cases:?}");
    // Give a wrongly applied import time to show, then check none did.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let snapshot = server.engine.snapshot();
    assert_eq!(snapshot.len(), before, "an abandoned import was applied");
    assert!(snapshot.index_of("py-cancel-00000").is_none());
    assert!(snapshot.index_of("py-late-00000").is_none());
    server.stop().await;
}
