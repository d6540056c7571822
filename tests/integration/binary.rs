//! The real `partnermatch` binary, as a user runs it: `serve` on the
//! embedded data and on the Welsh file, start-up errors, the `broker`,
//! `families`, `token` and `config` commands, logs, and how the process
//! behaves when it runs out of file descriptors or is flooded.

use std::time::Duration;

use partnermatch::pb;
use partnermatch::pb::school_registry_client::SchoolRegistryClient;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::support::fixtures::wales_csv;
use crate::support::process::{
    binary, cpu_seconds, health, peak_megabytes, start, start_on, start_with_open_files, stop,
    total_schools,
};

#[tokio::test]
async fn serve_on_embedded_data_then_stop_on_sigterm() {
    let mut server = start(&[]);
    assert_eq!(health(&server.address).await, ServingStatus::Serving as i32);
    assert_eq!(total_schools(&server.address).await, 1500);

    stop(&mut server).await;
    let log: Vec<String> = server.stderr.try_iter().collect();
    assert!(
        log.iter().any(|line| line.contains("received SIGTERM")),
        "{log:#?}"
    );
}

#[tokio::test]
async fn serve_loads_the_welsh_csv() {
    let csv = wales_csv();
    let server = start(&["--data", csv.to_str().unwrap()]);
    assert_eq!(total_schools(&server.address).await, 1473);
    assert_eq!(health(&server.address).await, ServingStatus::Serving as i32);
}

#[test]
fn a_missing_data_file_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("partnermatch.db");
    let output = binary()
        .args(["serve", "--no-auth", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .args(["--data", "/no/such/schools.csv"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read /no/such/schools.csv"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!db.exists(), "a bad CSV stops start-up before the database");
}

#[test]
fn broker_and_families_commands_print_csv_and_json() {
    let broker = binary()
        .args([
            "--log",
            "warn",
            "broker",
            "--db",
            ":memory:",
            "--consortium",
            "GwE",
            "--stages",
            "red,amber",
            "--max-distance-km",
            "40",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(
        broker.status.success(),
        "{}",
        String::from_utf8_lossy(&broker.stderr)
    );
    let mut reader = csv::Reader::from_reader(broker.stdout.as_slice());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header[..3], ["seeker_id", "seeker_name", "partner_id"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.len() > 20, "{} rows", rows.len());
    let mut partners = std::collections::HashMap::new();
    for row in &rows {
        if row[2].is_empty() {
            assert!(!row[8].is_empty(), "an unassigned seeker has its reason");
        } else {
            assert!(row[5].parse::<f64>().unwrap() <= 40.0);
            *partners.entry(row[2].to_owned()).or_insert(0) += 1;
        }
    }
    // No supporter gets more pairs than a green school's three places.
    assert!(partners.values().all(|count| *count <= 3), "{partners:?}");

    let families = binary()
        .args([
            "--log", "warn", "families", "--db", ":memory:", "--format", "json",
        ])
        .output()
        .unwrap();
    assert!(families.status.success());
    let json: serde_json::Value = serde_json::from_slice(&families.stdout).unwrap();
    assert_eq!(json["target_size"], 11);
    let members: usize = json["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["member_ids"].as_array().unwrap().len())
        .sum();
    assert_eq!(members, 1500);

    let bad = binary()
        .args([
            "broker",
            "--db",
            ":memory:",
            "--mode",
            "sideways",
            "--seekers",
            "x",
        ])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("invalid value 'sideways' for '--mode <MODE>'")
            && stderr.contains("[possible values: support, lead, peer]"),
        "{stderr}"
    );
}

#[tokio::test]
async fn tokens_made_by_the_cli_admit_their_role_and_auth_is_never_off_silently() {
    let made = binary()
        .args(["token", "new", "--role", "reader"])
        .output()
        .unwrap();
    assert!(made.status.success());
    let printed = String::from_utf8(made.stdout).unwrap();
    let token = printed
        .lines()
        .find_map(|line| line.strip_prefix("token: "))
        .expect("token line")
        .to_owned();
    let line = printed
        .lines()
        .find_map(|line| line.strip_prefix("serve --token "))
        .expect("configuration line")
        .to_owned();
    assert!(!line.contains(&token), "only the hash is configured");

    let dir = tempfile::tempdir().unwrap();
    let server = start_on(&dir.path().join("auth.db"), &["--token", &line]);
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.address))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut registry = SchoolRegistryClient::new(channel.clone());
    let status = registry
        .list_schools(pb::ListSchoolsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let mut request = tonic::Request::new(pb::ListSchoolsRequest::default());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let listed = registry.list_schools(request).await.unwrap().into_inner();
    assert_eq!(listed.total_size, 1500);
    let mut request = tonic::Request::new(pb::DeleteSchoolRequest {
        id: "6602018".into(),
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let status = registry.delete_school(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    // Health stays open.
    assert_eq!(health(&server.address).await, ServingStatus::Serving as i32);

    // Neither tokens nor --no-auth: a clear start-up error.
    let refused = binary()
        .args(["serve", "--listen", "127.0.0.1:0", "--db", ":memory:"])
        .env("RUST_BACKTRACE", "0")
        .env_remove("PARTNERMATCH_TOKENS")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("no tokens configured"), "{stderr}");
    // --no-auth is said out loud.
    let open = start_on(&dir.path().join("open.db"), &["--schools", "20"]);
    assert!(
        open.startup_log
            .iter()
            .any(|line| line.contains("authentication is off")),
        "{:#?}",
        open.startup_log
    );
}

#[tokio::test]
async fn json_logs_carry_each_calls_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_on(
        &dir.path().join("logs.db"),
        &["--log-format", "json", "--log", "debug"],
    );
    let mut matcher = partnermatch::pb::partner_matcher_client::PartnerMatcherClient::connect(
        format!("http://{}", server.address),
    )
    .await
    .unwrap();
    let mut request = tonic::Request::new(pb::MatchRequest {
        school_id: "6602018".into(),
        mode: pb::MatchMode::Support as i32,
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("x-request-id", "trace-me-42".parse().unwrap());
    matcher.r#match(request).await.unwrap();
    drop(matcher);
    stop(&mut server).await;
    let lines: Vec<String> = server.stderr.try_iter().collect();
    let tagged: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|value| value["span"]["request_id"] == "trace-me-42")
        .collect();
    assert!(!tagged.is_empty(), "{lines:#?}");
    assert_eq!(
        tagged[0]["span"]["method"],
        "/partnermatch.v1.PartnerMatcher/Match"
    );
    assert_eq!(tagged[0]["fields"]["message"], "matched");
}

#[tokio::test]
async fn a_config_file_sits_under_the_environment_and_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("partnermatch.toml");
    let hash = "a".repeat(64);
    std::fs::write(
        &file,
        format!(
            "max_in_flight = 99\nrequest_timeout_secs = 12.5\nschools = 40\ntokens = [\"admin:{hash}\"]\n"
        ),
    )
    .unwrap();
    let printed = binary()
        .args(["config", "print", "--config"])
        .arg(&file)
        .args(["--max-in-flight", "7"])
        .env("PARTNERMATCH_LISTEN", "127.0.0.1:7001")
        .env_remove("PARTNERMATCH_TOKENS")
        .output()
        .unwrap();
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let text = String::from_utf8(printed.stdout).unwrap();
    for line in [
        "max_in_flight = 7",           // the flag beats the file
        "listen = \"127.0.0.1:7001\"", // the environment beats the default
        "request_timeout_secs = 12.5", // the file beats the default
        "schools = 40",
        "tokens = [\"admin:<sha256 hidden>\"]",
        "# metrics_listen is not set",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(!text.contains(&hash), "token hashes are hidden");

    // A key the command does not have is refused by name.
    std::fs::write(&file, "max_inflight = 3\n").unwrap();
    let refused = binary()
        .args(["config", "print", "--config"])
        .arg(&file)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("unknown field `max_inflight`"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // serve reads it too.
    std::fs::write(&file, "no_auth = true\nschools = 30\n").unwrap();
    let config = file.to_str().unwrap().to_owned();
    let server = start_on(&dir.path().join("c.db"), &["--config", &config]);
    assert_eq!(total_schools(&server.address).await, 30);
}

/// With its file descriptors used up, the server neither spins nor stays
/// silent: accept errors are logged and retried with a pause, and clients
/// are served again once descriptors are free. At start-up it raises its
/// limit on open files as far as allowed and derives its connection limit
/// from it.
#[tokio::test]
async fn running_out_of_file_descriptors_backs_off_and_recovers() {
    let server = start_with_open_files(200, &["--max-connections", "1000"]);
    let startup = server.startup_log.join("\n");
    assert!(startup.contains("open_files=200"), "{startup}");
    assert!(startup.contains("max_connections=1000"), "{startup}");
    let derived = start_with_open_files(200, &[]);
    let startup = derived.startup_log.join("\n");
    assert!(startup.contains("max_connections=136"), "{startup}");
    drop(derived);

    // Hold more connections than the server has descriptors for.
    let mut held = Vec::new();
    for _ in 0..260 {
        match tokio::net::TcpStream::connect(&server.address).await {
            Ok(stream) => held.push(stream),
            Err(_) => break,
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.child.id();
    let before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_seconds(pid) - before;
    assert!(
        used < 0.5,
        "the server used {used:.2} s of CPU in 2 s while out of descriptors"
    );
    let log: Vec<String> = server.stderr.try_iter().collect();
    assert!(
        log.iter()
            .any(|line| line.contains("accepting a connection failed; backing off")),
        "{log:#?}"
    );
    // Descriptors free again: served.
    drop(held);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(health(&server.address).await, ServingStatus::Serving as i32);
}

/// An import the client resets is logged as abandoned, and a flood of bad
/// entries does not grow the server's memory.
#[tokio::test]
async fn abandoned_imports_are_logged_and_bad_entries_cost_no_memory() {
    let mut server = start(&[]);
    let address: std::net::SocketAddr = server.address.parse().unwrap();
    let mut raw = crate::support::wire::RawConnection::open(address).await;
    let request =
        crate::support::wire::grpc_request("/partnermatch.v1.SchoolRegistry/ImportSchools")
            .body(())
            .unwrap();
    let (_response, mut stream) = raw.start(request).await;
    let school =
        crate::support::fixtures::school_proto(&crate::support::fixtures::school("abandoned-1"));
    stream
        .send_data(
            crate::support::wire::framed(&pb::ImportSchoolsRequest {
                school: Some(school),
                ..Default::default()
            }),
            false,
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.send_reset(h2::Reason::CANCEL);

    let mut registry = SchoolRegistryClient::connect(format!("http://{}", server.address))
        .await
        .unwrap();
    for _ in 0..3 {
        let mut bad =
            crate::support::fixtures::school_proto(&crate::support::fixtures::school("flood"));
        bad.needs = vec![0; 4_000_000];
        let status = registry
            .upsert_school(pb::UpsertSchoolRequest { school: Some(bad) })
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }
    let peak = peak_megabytes(server.child.id());
    assert!(peak < 300, "peak resident memory {peak} MB");
    assert_eq!(total_schools(&server.address).await, 1500);

    stop(&mut server).await;
    let log: Vec<String> = server.stderr.try_iter().collect();
    assert!(
        log.iter()
            .any(|line| line.contains("import abandoned") && line.contains("nothing was applied")),
        "{log:#?}"
    );
}

/// A CSV that cannot be imported as a whole stops start-up saying why,
/// with the line where it can: a header without rows, a column twice.
#[test]
fn a_csv_wrong_as_a_whole_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    for (content, expected) in [
        (
            "school_number,name,phase,latitude,longitude\n",
            "the file has a header (line 1) but no rows of schools",
        ),
        (
            "school_number,name,phase,Name,latitude,longitude\n1,a,primary,b,51.5,-3.2\n",
            "line 1: the header has a name column twice (columns 2 and 4)",
        ),
        ("", "the file is empty"),
    ] {
        let csv = dir.path().join("schools.csv");
        std::fs::write(&csv, content).unwrap();
        let output = binary()
            .args([
                "serve",
                "--no-auth",
                "--listen",
                "127.0.0.1:0",
                "--db",
                ":memory:",
            ])
            .arg("--data")
            .arg(&csv)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{expected:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
