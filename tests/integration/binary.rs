//! The real `partnermatch` binary, as a user runs it:
//! 1. `serve` on the embedded synthetic data reports SERVING and holds 1,500
//!    schools, and stops cleanly on SIGTERM;
//! 2. `serve --data <csv>` loads the real Welsh file;
//! 3. a missing data file stops start-up with a clear error.
//!
//! Every run gets its own database in a temporary directory; `durability`
//! reuses these helpers to restart and kill servers on one database.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use partnermatch::api::pb;
use partnermatch::api::pb::school_registry_client::SchoolRegistryClient;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::common::wales_csv;

/// A running `partnermatch serve`, killed on drop.
pub(crate) struct RunningBinary {
    pub(crate) child: Child,
    pub(crate) address: String,
    pub(crate) stderr: std::sync::mpsc::Receiver<String>,
    /// The lines read while waiting for "listening on".
    pub(crate) startup_log: Vec<String>,
    /// The temporary directory of the database, when the run made one.
    _dir: Option<TempDir>,
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_partnermatch"))
}

/// Starts `partnermatch serve --listen 127.0.0.1:0 <args>` on a database in
/// a fresh temporary directory and waits for the "listening on" line.
fn start(args: &[&str]) -> RunningBinary {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut server = start_on(&dir.path().join("partnermatch.db"), args);
    server._dir = Some(dir);
    server
}

/// Starts `partnermatch serve --listen 127.0.0.1:0 --db <db> <args>` (with
/// `--no-auth` unless `args` give a `--token`) and waits for the "listening
/// on" line.
pub(crate) fn start_on(db: &Path, args: &[&str]) -> RunningBinary {
    start_command(binary(), db, args)
}

/// [`start_on`] with the limit on open files set to `files` (soft and
/// hard, through the shell's `ulimit`).
pub(crate) fn start_with_open_files(files: u32, args: &[&str]) -> RunningBinary {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut command = Command::new("bash");
    command.args([
        "-c",
        &format!("ulimit -Sn {files} && ulimit -Hn {files} && exec \"$0\" \"$@\""),
        env!("CARGO_BIN_EXE_partnermatch"),
    ]);
    let mut server = start_command(command, &dir.path().join("partnermatch.db"), args);
    server._dir = Some(dir);
    server
}

fn start_command(mut command: Command, db: &Path, args: &[&str]) -> RunningBinary {
    let auth: &[&str] = if args.contains(&"--token") {
        &[]
    } else {
        &["--no-auth"]
    };
    let child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(auth)
        .args(args)
        .env("PARTNERMATCH_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn partnermatch");
    let (sender, lines) = std::sync::mpsc::channel();
    // Owned from here on, so the process is killed and reaped even if the
    // wait below fails.
    let mut server = RunningBinary {
        child,
        address: String::new(),
        stderr: lines,
        startup_log: Vec::new(),
        _dir: None,
    };
    let stderr = server.child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = server
            .stderr
            .recv_timeout(remaining)
            .expect("server printed 'listening on' in time");
        if let Some(rest) = line.split("listening on ").nth(1) {
            // Text logs end the address with a space, JSON logs with a quote.
            server.address = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | ':'))
                .collect();
            server.startup_log.push(line);
            return server;
        }
        server.startup_log.push(line);
    }
}

/// Sends SIGTERM and waits (asynchronously: the test's clients must be able
/// to answer the server's GOAWAY) for a successful exit.
pub(crate) async fn stop(server: &mut RunningBinary) {
    let pid = server.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "exit status {exit}");
}

async fn health(address: &str) -> i32 {
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .expect("connect");
    let mut client = HealthClient::new(channel);
    client
        .check(tonic_health::pb::HealthCheckRequest {
            service: "partnermatch.v1.PartnerMatcher".into(),
        })
        .await
        .expect("health check")
        .into_inner()
        .status
}

pub(crate) async fn total_schools(address: &str) -> u32 {
    let mut client = SchoolRegistryClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    client
        .list_schools(pb::ListSchoolsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .total_size
}

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
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--mode must be support, lead or peer"));
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
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
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
    let mut matcher = partnermatch::api::pb::partner_matcher_client::PartnerMatcherClient::connect(
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
        String::from_utf8_lossy(&refused.stderr).contains("\"max_inflight\" is not an option"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // serve reads it too.
    std::fs::write(&file, "no_auth = true\nschools = 30\n").unwrap();
    let config = file.to_str().unwrap().to_owned();
    let server = start_on(&dir.path().join("c.db"), &["--config", &config]);
    assert_eq!(total_schools(&server.address).await, 30);
}

/// CPU seconds a process has used (user and system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) are plain.
    let after = stat.rsplit(')').next().unwrap();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // Clock ticks per second: 100 on Linux.
    ticks / 100.0
}

/// Peak resident memory of a process in MB (VmHWM), from /proc.
fn peak_megabytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
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
    let mut raw = crate::wire::RawConnection::open(address).await;
    let request = crate::wire::grpc_request("/partnermatch.v1.SchoolRegistry/ImportSchools")
        .body(())
        .unwrap();
    let (_response, mut stream) = raw.start(request).await;
    let school = crate::common::school_proto(&crate::common::school("abandoned-1"));
    stream
        .send_data(
            crate::wire::framed(&pb::ImportSchoolsRequest {
                school: Some(school),
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
        let mut bad = crate::common::school_proto(&crate::common::school("flood"));
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
