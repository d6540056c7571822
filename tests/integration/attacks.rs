//! The second independent attack, replayed through the real binary: each
//! test is one of its findings, with the attack's own figures as its
//! scenario where a test can afford them — token-less streams that locked
//! newcomers out, calls waiting for a registry version that held every
//! slot, idle connections to the metrics port that took every file
//! descriptor, import streams that held unbounded memory, create/delete
//! churn that never gave memory back, evaluations from the future,
//! secrets printed in the clear, terminal escapes from imported files and
//! invisible text.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use partnermatch::pb::partner_matcher_client::PartnerMatcherClient;
use partnermatch::pb::school_registry_client::SchoolRegistryClient;
use partnermatch::{Role, new_token, pb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::fixtures::{school, school_proto, with_token};
use crate::support::process::{
    RunningBinary, binary, health, resident_megabytes, start, start_with_open_files,
};
use crate::support::status::{assert_invalid_field, assert_status};
use crate::support::wire::{RawConnection, answer, framed, grpc_request};

const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
const IMPORT: &str = "/partnermatch.v1.SchoolRegistry/ImportSchools";

fn address(server: &RunningBinary) -> SocketAddr {
    server.address.parse().expect("a socket address")
}

/// A connection of its own to the server.
async fn channel(server: &RunningBinary) -> Channel {
    Channel::from_shared(format!("http://{}", server.address))
        .unwrap()
        .connect()
        .await
        .expect("connect")
}

fn match_request(school_id: &str) -> pb::MatchRequest {
    pb::MatchRequest {
        school_id: school_id.into(),
        mode: pb::MatchMode::Peer as i32,
        limit: 3,
        ..Default::default()
    }
}

/// The id of one school the server holds.
async fn some_school(server: &RunningBinary, token: Option<&str>) -> String {
    let mut registry = SchoolRegistryClient::new(channel(server).await);
    let request = pb::ListSchoolsRequest {
        page_size: 1,
        ..Default::default()
    };
    let request = match token {
        Some(token) => with_token(request, token),
        None => tonic::Request::new(request),
    };
    let listed = registry.list_schools(request).await.unwrap().into_inner();
    listed.schools[0].id.clone()
}

/// Finding 1: token-less health Watch streams, and requests that never
/// send their body, held every connection at --max-connections 40 and
/// every newcomer was closed (0 of 5 health checks answered, an
/// authorised Match UNAVAILABLE). Now such connections make room for
/// newcomers, one address holds a bounded number of streams, and each
/// stream ends, OK, after its lifetime.
#[tokio::test]
async fn token_less_streams_never_lock_newcomers_out() {
    let (reader, reader_line) = new_token(Role::Reader);
    let server = start(&[
        "--token",
        &reader_line,
        "--max-connections",
        "40",
        "--max-streams-per-address",
        "40",
        "--stream-lifetime-secs",
        "4",
    ]);
    let seeker = some_school(&server, Some(&reader)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // 40 connections, each holding one Watch stream, no token.
    let mut watchers = Vec::new();
    let started = Instant::now();
    for _ in 0..40 {
        let mut client = HealthClient::new(channel(&server).await);
        let mut stream = client
            .watch(HealthCheckRequest::default())
            .await
            .expect("a Watch needs no token")
            .into_inner();
        let first = stream.message().await.unwrap().unwrap();
        assert_eq!(first.status, ServingStatus::Serving as i32);
        watchers.push((client, stream));
    }
    // The address's 41st stream is refused, on a connection it holds.
    let refused = watchers[0]
        .0
        .watch(HealthCheckRequest::default())
        .await
        .unwrap_err();
    assert_status(
        &refused,
        Code::ResourceExhausted,
        "--max-streams-per-address",
    );

    // Newcomers are served: each takes the place of a Watch-only
    // connection.
    for _ in 0..5 {
        assert_eq!(health(&server.address).await, ServingStatus::Serving as i32);
    }
    let mut matcher = PartnerMatcherClient::new(channel(&server).await);
    matcher
        .r#match(with_token(match_request(&seeker), &reader))
        .await
        .expect("an authorised Match is served");

    // Watch streams end with status OK after their lifetime; the client
    // watches again.
    let (_, mut stream) = watchers.pop().unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the stream ended within its lifetime");
    assert!(matches!(ended, Ok(None)), "ended OK: {ended:?}");
    assert!(started.elapsed() >= Duration::from_secs(3));
    drop(watchers);

    // 40 connections, each with a health check whose body never comes.
    let mut waiting = Vec::new();
    for _ in 0..40 {
        let mut raw = RawConnection::open(address(&server)).await;
        let call = raw
            .start(grpc_request(HEALTH_CHECK).body(()).unwrap())
            .await;
        waiting.push((raw, call));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..5 {
        assert_eq!(health(&server.address).await, ServingStatus::Serving as i32);
    }
    matcher = PartnerMatcherClient::new(channel(&server).await);
    matcher
        .r#match(with_token(match_request(&seeker), &reader))
        .await
        .expect("served beside 40 body-less calls");
}

/// `count` calls on `channels` asking for registry version `wanted`, each
/// spawned and left waiting; their answers come back on the handles.
fn waiting_calls(
    channels: &[Channel],
    token: &str,
    wanted: &str,
    count: usize,
) -> Vec<tokio::task::JoinHandle<Result<(), tonic::Status>>> {
    (0..count)
        .map(|n| {
            let mut registry = SchoolRegistryClient::new(channels[n % channels.len()].clone());
            let mut request = with_token(pb::ListSchoolsRequest::default(), token);
            request
                .metadata_mut()
                .insert(partnermatch::MIN_VERSION_HEADER, wanted.parse().unwrap());
            request.set_timeout(Duration::from_secs(20));
            tokio::spawn(async move { registry.list_schools(request).await.map(drop) })
        })
        .collect()
}

/// Finding 3: a call waiting for `partnermatch-min-version` held an
/// admission slot, so a reader and a writer each holding their share of
/// waits left a third token's Match RESOURCE_EXHAUSTED. Now waits hold no
/// slot and have bounded shares of their own; a version beyond any the
/// replica can reach is refused at once, and so are repeated headers.
#[tokio::test]
async fn waits_for_a_registry_version_leave_every_slot_free() {
    let (reader, reader_line) = new_token(Role::Reader);
    let (writer, writer_line) = new_token(Role::Writer);
    let (third, third_line) = new_token(Role::Reader);
    let server = start(&[
        "--token",
        &reader_line,
        "--token",
        &writer_line,
        "--token",
        &third_line,
    ]);
    let seeker = some_school(&server, Some(&third)).await;
    let mut registry = SchoolRegistryClient::new(channel(&server).await);
    let answered = registry
        .list_schools(with_token(pb::ListSchoolsRequest::default(), &third))
        .await
        .unwrap();
    let version = crate::support::process::version_of(answered.metadata());
    let ahead = (version + 5_000).to_string();

    // Each token waits 128 times (its share, half of 256), spread over
    // connections within their own limit of calls.
    let mut connections = Vec::new();
    for _ in 0..8 {
        connections.push(channel(&server).await);
    }
    let mut waits = waiting_calls(&connections[..4], &reader, &ahead, 128);
    waits.extend(waiting_calls(&connections[4..], &writer, &ahead, 128));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(waits.iter().all(|wait| !wait.is_finished()), "all waiting");

    // Every admission slot is free for the third token.
    let mut matcher = PartnerMatcherClient::new(channel(&server).await);
    matcher
        .r#match(with_token(match_request(&seeker), &third))
        .await
        .expect("a third token's Match is served beside 256 waits");
    // The reader's 129th wait is over its share of waits.
    let over = waiting_calls(&connections[..1], &reader, &ahead, 1)
        .pop()
        .unwrap()
        .await
        .unwrap()
        .unwrap_err();
    assert_status(
        &over,
        Code::ResourceExhausted,
        "waiting for a registry version",
    );
    // The Bearer scheme in any case (RFC 9110 §11.1).
    let mut lower = tonic::Request::new(match_request(&seeker));
    lower
        .metadata_mut()
        .insert("authorization", format!("bearer {third}").parse().unwrap());
    matcher.r#match(lower).await.expect("bearer in lower case");

    // Versions no call could reach are refused at once.
    for wanted in ["999999999", &u64::MAX.to_string()] {
        let started = Instant::now();
        let refused = waiting_calls(&connections[..1], &third, wanted, 1)
            .pop()
            .unwrap()
            .await
            .unwrap()
            .unwrap_err();
        assert_status(&refused, Code::OutOfRange, "more than 10000 beyond");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    // A header that takes one value, given twice.
    let mut twice = with_token(match_request(&seeker), &third);
    for value in ["1", "2"] {
        twice
            .metadata_mut()
            .append(partnermatch::MIN_VERSION_HEADER, value.parse().unwrap());
    }
    let refused = matcher.r#match(twice).await.unwrap_err();
    assert_status(&refused, Code::InvalidArgument, "given 2 times");
    for wait in waits {
        wait.abort();
    }
}

/// Where the metrics port of a server started with `--metrics-listen
/// 127.0.0.1:0` listens, from its start-up log.
fn metrics_address(server: &RunningBinary) -> SocketAddr {
    let log = server.startup_log.join("\n");
    let (_, rest) = log.split_once("metrics on http://").expect(&log);
    rest.split('/').next().unwrap().parse().unwrap()
}

/// The number of file descriptors process `pid` holds.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Finding 4: with an open-files limit of 200, 317 idle connections to
/// /metrics took every descriptor and the gRPC port failed 7 of 7 health
/// checks. Now the metrics port holds at most 16 connections (the idle
/// longest closed for a newcomer), wants its request headers within the
/// handshake timeout, and closes idle connections.
#[tokio::test]
async fn the_metrics_port_cannot_take_the_servers_file_descriptors() {
    let server = start_with_open_files(
        200,
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--handshake-timeout-secs",
            "1",
        ],
    );
    let metrics = metrics_address(&server);
    let mut idle = Vec::new();
    for _ in 0..317 {
        if let Ok(stream) = TcpStream::connect(metrics).await {
            idle.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = open_files(server.child.id());
    assert!(held < 100, "the server holds {held} descriptors");
    for _ in 0..7 {
        assert_eq!(health(&server.address).await, ServingStatus::Serving as i32);
    }
    let text = crate::support::wire::http_get(metrics, "/metrics").await;
    assert!(text.contains("process_resident_memory_bytes"), "{text}");

    // Headers that never finish: closed after the handshake timeout.
    let mut slow = TcpStream::connect(metrics).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buffer))
        .await
        .expect("closed within the handshake timeout");
    assert!(read.map_or(true, |n| n == 0 || buffer[..n].starts_with(b"HTTP/1.1 408")));
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A school message of about 16 KB, as large as the attack's: 64
/// evaluations with 200-character sources, a 200-character name.
fn large_school(n: usize) -> pb::ImportSchoolsRequest {
    let mut school = school_proto(&school(&format!("big{n:06}")));
    school.name = format!("{n:06} {}", "x".repeat(193));
    school.evaluations = (0..64)
        .map(|day| pb::Evaluation {
            framework: pb::EvaluationFramework::Local as i32,
            area: pb::EvaluationArea::Overall as i32,
            judgement: pb::Judgement::Good as i32,
            date: jiff::civil::date(2000, 1, 1)
                .checked_add(jiff::Span::new().days(day))
                .unwrap()
                .to_string(),
            source: "s".repeat(200),
            ..Default::default()
        })
        .collect();
    pb::ImportSchoolsRequest {
        school: Some(school),
        ..Default::default()
    }
}

/// Waits up to `within` for process `pid`'s resident memory to come down
/// to `megabytes`, and returns it.
async fn settles_to(pid: u32, megabytes: u64, within: Duration) -> u64 {
    let started = Instant::now();
    loop {
        let now = resident_megabytes(pid);
        if now <= megabytes || started.elapsed() > within {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Finding 5: an import stream held every message until its end — 60,000
/// maximum-size schools took +974 MB, still held after the cancel. Now a
/// stream may hold --max-import-bytes and all streams
/// --max-import-bytes-total; beyond, RESOURCE_EXHAUSTED and nothing
/// applied, and the memory is given back.
#[tokio::test]
async fn import_streams_hold_at_most_their_byte_budget() {
    let per_stream = 32 << 20;
    let total = 48 << 20;
    let server = start(&[
        "--max-import-bytes",
        &per_stream.to_string(),
        "--max-import-bytes-total",
        &total.to_string(),
    ]);
    let pid = server.child.id();
    let before = resident_megabytes(pid);
    let schools_before = crate::support::process::total_schools(&server.address).await;

    // One stream of up to 10,000 schools of 16 KB (160 MB): refused past
    // its 32 MiB.
    let mut registry =
        SchoolRegistryClient::new(channel(&server).await).max_decoding_message_size(8 << 20);
    let messages = tokio_stream::iter((0..10_000).map(large_school));
    let refused = registry.import_schools(messages).await.unwrap_err();
    assert_status(&refused, Code::ResourceExhausted, "--max-import-bytes");
    let peak = crate::support::process::peak_megabytes(pid);
    assert!(
        peak < before + 120,
        "peak {peak} MB against {before} MB before: more than the budget held"
    );
    assert_eq!(
        crate::support::process::total_schools(&server.address).await,
        schools_before,
        "nothing applied"
    );
    // What the stream held is given back.
    let settled = settles_to(pid, before + 30, Duration::from_secs(30)).await;
    assert!(
        settled <= before + 30,
        "{settled} MB after, {before} MB before"
    );

    // Two streams, each within its budget, together past the total: the
    // second is refused.
    let counted = prost::Message::encoded_len(&large_school(0))
        + std::mem::size_of::<partnermatch_core::domain::School>();
    let within = per_stream * 9 / 10 / counted;
    let mut raw = RawConnection::open(address(&server)).await;
    let (_held, mut first) = raw.start(grpc_request(IMPORT).body(()).unwrap()).await;
    for n in 0..within {
        first.send_data(framed(&large_school(n)), false).unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut second = RawConnection::open(address(&server)).await;
    let (response, mut stream) = second.start(grpc_request(IMPORT).body(()).unwrap()).await;
    for n in 0..within {
        if stream.send_data(framed(&large_school(n)), false).is_err() {
            break;
        }
    }
    let status = answer(response).await.grpc();
    assert_status(&status, Code::ResourceExhausted, "--max-import-bytes-total");
    drop((first, raw));
}

/// `cycles` creates and deletes, from `writers` connections at once.
async fn churn(server: &RunningBinary, cycles: usize, writers: usize, round: usize) {
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let mut registry = SchoolRegistryClient::new(channel(server).await);
        tasks.push(tokio::spawn(async move {
            for n in (writer..cycles).step_by(writers) {
                let id = format!("churn-{round}-{n:06}");
                let mut school = school_proto(&school(&id));
                school.name = format!("Churned school {n}");
                registry
                    .upsert_school(pb::UpsertSchoolRequest {
                        school: Some(school),
                    })
                    .await
                    .expect("created");
                registry
                    .delete_school(pb::DeleteSchoolRequest { id })
                    .await
                    .expect("deleted");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// A gauge's value in the metrics text.
fn gauge(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Finding 2: at 30,000 schools held constant, create/delete churn took
/// RSS from 101 to 581 MB and kept it (about 2.8 KB a cycle). Now a
/// created school takes a place a deleted one left, so the snapshot holds
/// as many places after the churn as before, and memory comes back to
/// within a quarter of what it was.
#[tokio::test]
async fn create_delete_churn_returns_to_a_steady_state() {
    let server = crate::support::process::start_on(
        std::path::Path::new(":memory:"),
        &["--schools", "30000", "--metrics-listen", "127.0.0.1:0"],
    );
    let metrics = metrics_address(&server);
    let pid = server.child.id();
    // Warm up, so the allocator's and runtime's own first growth is in
    // "before".
    churn(&server, 500, 4, 0).await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let text = crate::support::wire::http_get(metrics, "/metrics").await;
    let places = gauge(&text, "partnermatch_snapshot_places");
    let before = resident_megabytes(pid);
    churn(&server, 4_000, 4, 1).await;
    let text = crate::support::wire::http_get(metrics, "/metrics").await;
    assert_eq!(gauge(&text, "partnermatch_schools"), 30_000);
    assert_eq!(
        gauge(&text, "partnermatch_snapshot_places"),
        places,
        "created schools took the places deleted ones left"
    );
    let bound = before + before / 4;
    let after = settles_to(pid, bound, Duration::from_secs(30)).await;
    assert!(
        after <= bound,
        "{after} MB after 4,000 create+delete cycles, {before} MB before"
    );
}

/// A school with one evaluation per `(judgement, date)`, as a client sends
/// it.
fn judged(id: &str, evaluations: &[(pb::Judgement, &str)]) -> pb::School {
    let mut school = school_proto(&school(id));
    school.evaluations = evaluations
        .iter()
        .map(|(judgement, date)| pb::Evaluation {
            framework: pb::EvaluationFramework::OfstedLegacy as i32,
            area: pb::EvaluationArea::Overall as i32,
            judgement: *judgement as i32,
            date: (*date).into(),
            ..Default::default()
        })
        .collect();
    school
}

/// Finding 6: an evaluation dated 2199-12-31 was accepted and counted as
/// the latest evidence for ever (it turned an urgent-improvement judgement
/// green); two of one framework, area and date were both accepted through
/// the API while `import ofsted` replaced one with the other. Now both
/// are refused, by field through the API and by line in a file.
#[tokio::test]
async fn evaluations_from_the_future_or_given_twice_are_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("evidence.db");
    let schools = dir.path().join("schools.csv");
    std::fs::write(
        &schools,
        "school_number,name,phase,latitude,longitude\n100001,Ysgol Un,primary,52,-3.5\n100002,Ysgol Dau,primary,52.1,-3.5\n",
    )
    .unwrap();
    let imported = binary()
        .args(["import", "schools"])
        .arg(&schools)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");
    let outcomes = dir.path().join("outcomes.csv");
    std::fs::write(
        &outcomes,
        "URN,Inspection start date,Overall effectiveness\n\
         100001,14/05/2025,4\n\
         100001,31/12/2199,1\n\
         100002,2025-05-14,3\n\
         100002,14/05/2025,1\n",
    )
    .unwrap();
    let output = binary()
        .args(["import", "ofsted"])
        .arg(&outcomes)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("2199-12-31 is in the future"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 5") && stderr.contains("repeats line 4"),
        "{stderr}"
    );

    let server = crate::support::process::start_on(&db, &[]);
    let stored = crate::support::process::stored_school(&server.address, "100001").await;
    let dates: Vec<&str> = stored.evaluations.iter().map(|e| e.date.as_str()).collect();
    assert_eq!(dates, ["2025-05-14"], "the urgent judgement stands alone");

    let mut registry = SchoolRegistryClient::new(channel(&server).await);
    let upsert = |school| pb::UpsertSchoolRequest {
        school: Some(school),
    };
    let future = registry
        .upsert_school(upsert(judged(
            "100003",
            &[(pb::Judgement::Outstanding, "2199-12-31")],
        )))
        .await
        .unwrap_err();
    assert_invalid_field(&future, "school.evaluations[0].date");
    let twice = registry
        .upsert_school(upsert(judged(
            "100003",
            &[
                (pb::Judgement::Inadequate, "2025-05-14"),
                (pb::Judgement::Outstanding, "2025-05-14"),
            ],
        )))
        .await
        .unwrap_err();
    assert_invalid_field(&twice, "school.evaluations[1]");
}

/// `partnermatch serve --token TOKEN_LINE` on a database in memory, run to
/// its end (it is expected to refuse the token).
fn serve_with_token(line: &str) -> std::process::Output {
    binary()
        .args(["serve", "--listen", "127.0.0.1:0", "--db", ":memory:"])
        .args(["--token", line])
        .output()
        .unwrap()
}

/// Finding 7: `config print` and start-up logs and errors showed database
/// passwords (`user:PASSWORD@` and `?password=`), and `serve --token
/// pm_…` echoed the token. Now neither is ever printed.
#[test]
fn passwords_and_tokens_are_never_printed() {
    let secret = "Pa55wordNobodySees";
    let token = partnermatch::new_token(Role::Admin).0;
    let shown = |output: std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    let urls = [
        format!("postgres://pm:{secret}@127.0.0.1:1/pm"),
        format!("postgres://pm@127.0.0.1:1/pm?sslmode=disable&PASSWORD={secret}"),
    ];
    for url in &urls {
        let printed = shown(
            binary()
                .args(["config", "print", "--db", url])
                .output()
                .unwrap(),
        );
        assert!(
            !printed.contains(secret) && printed.contains("***"),
            "{printed}"
        );
        let printed = shown(
            binary()
                .args(["config", "print"])
                .env("PARTNERMATCH_DB", url)
                .output()
                .unwrap(),
        );
        assert!(!printed.contains(secret), "{printed}");
        for command in [
            vec!["serve", "--no-auth", "--listen", "127.0.0.1:0", "--db", url],
            vec!["families", "--db", url],
        ] {
            let output = binary().args(&command).output().unwrap();
            assert!(!output.status.success());
            let printed = shown(output);
            assert!(
                !printed.contains(secret) && printed.contains("***"),
                "{command:?}: {printed}"
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schools.csv");
    std::fs::write(
        &file,
        "school_number,name,phase,latitude,longitude\n1,A,primary,52,-3\n",
    )
    .unwrap();
    let printed = shown(
        binary()
            .args(["import", "schools"])
            .arg(&file)
            .args(["--db", &urls[1]])
            .output()
            .unwrap(),
    );
    assert!(!printed.contains(secret), "{printed}");

    for given in [token.clone(), format!("admin:{token}")] {
        let output = serve_with_token(&given);
        assert!(!output.status.success());
        let printed = shown(output);
        assert!(!printed.contains(&token[3..]), "{printed}");
        assert!(printed.contains("looks like a token itself"), "{printed}");
    }
}

/// Finding 8: a rejected id was printed raw, so an imported file could
/// retitle and clear the terminal. Now everything printed from a file or
/// an answer is escaped, with --db and with --target alike.
#[tokio::test]
async fn imported_files_cannot_drive_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("e.csv");
    std::fs::write(
        &file,
        "school_number,name,phase,latitude,longitude\nAB\u{1b}]0;PWNED\u{7}\u{1b}[2J,x,primary,52,-3.5\nok1,Ysgol \u{202e}gnp,primary,52,-3.5\n",
    )
    .unwrap();
    let server = start(&[]);
    let destinations = [
        vec![
            "--db".to_owned(),
            dir.path().join("e.db").display().to_string(),
        ],
        vec!["--target".to_owned(), server.address.clone()],
    ];
    for destination in destinations {
        let output = binary()
            .args(["import", "schools"])
            .arg(&file)
            .args(&destination)
            .output()
            .unwrap();
        let printed = [output.stdout, output.stderr].concat();
        for byte in [0x1b_u8, 0x07] {
            assert!(
                !printed.contains(&byte),
                "{destination:?}: raw {byte:#x} in {}",
                String::from_utf8_lossy(&printed)
            );
        }
        let text = String::from_utf8_lossy(&printed);
        assert!(
            text.contains("AB\\u{1b}]0;PWNED\\u{7}"),
            "{destination:?}: {text}"
        );
        assert!(!text.contains('\u{202e}'), "{destination:?}: {text}");
    }
}

/// Finding 9: invisible characters were accepted in names — a left-to-
/// right mark, a line separator, tag characters, a name of zero-width
/// spaces only. Now each is refused with the field named.
#[tokio::test]
async fn invisible_text_is_refused_with_the_field_named() {
    let server = start(&[]);
    let mut registry = SchoolRegistryClient::new(channel(&server).await);
    for name in [
        "Ysgol\u{200e} Un",
        "Ysgol\u{2028}Un",
        "Ysgol Un\u{e0041}",
        "\u{200b}\u{200b}\u{200b}",
    ] {
        let mut school = school_proto(&school("invisible"));
        school.name = name.into();
        let refused = registry
            .upsert_school(pb::UpsertSchoolRequest {
                school: Some(school),
            })
            .await
            .unwrap_err();
        assert_invalid_field(&refused, "school.name");
    }
    let output = serve_with_token(&format!("admin:{}", "ab".repeat(20)));
    let printed = String::from_utf8_lossy(&output.stderr);
    assert!(printed.contains("the hash of an admin token"), "{printed}");
}
