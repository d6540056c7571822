//! Several replicas — real `partnermatch serve` processes — over one
//! PostgreSQL database:
//! 1. a write on one is read on the others within a second, and a client
//!    reads its writes on any replica by asking for the registry version
//!    the write answered with;
//! 2. conflicting writes on different replicas: exactly one wins;
//! 3. a replica killed with SIGKILL mid-write loses no acknowledged write;
//! 4. PostgreSQL restarted under load: replicas report NOT_SERVING, then
//!    recover and catch up with nothing acknowledged lost.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use partnermatch::MIN_VERSION_HEADER;
use partnermatch::pb;
use partnermatch::pb::partnership_registry_client::PartnershipRegistryClient;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::support::fixtures::{SchoolExt, school, school_proto};
use crate::support::postgres::fresh_database;
use crate::support::process::{
    RunningBinary, at_least, health, registry, start_on, total_schools, version_of,
};
use crate::support::status::assert_status;
use crate::support::wire::http_get;

async fn partnerships(address: &str) -> PartnershipRegistryClient<Channel> {
    PartnershipRegistryClient::connect(format!("http://{address}"))
        .await
        .expect("connect")
}

fn new_school(id: &str, name: &str) -> pb::School {
    let mut school = school(id).at(2.0, 2.0);
    school.name = name.to_owned();
    school_proto(&school)
}

/// `replicas` replicas of one new database, the first seeding it with
/// `schools` synthetic schools and the others starting once it has.
fn replicas(count: usize, schools: usize, args: &[&str]) -> (String, Vec<RunningBinary>) {
    let url = fresh_database();
    let replicas = start_replicas(&url, count, schools, args);
    (url, replicas)
}

fn start_replicas(url: &str, count: usize, schools: usize, args: &[&str]) -> Vec<RunningBinary> {
    let schools = schools.to_string();
    let mut args_with_data = vec!["--schools", schools.as_str()];
    args_with_data.extend_from_slice(args);
    (0..count)
        .map(|_| start_on(Path::new(url), &args_with_data))
        .collect()
}

/// Waits until `address` reports `wanted` health, for at most `limit`;
/// returns how long that took.
async fn await_health(address: &str, wanted: ServingStatus, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if health(address).await == wanted as i32 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{address} did not report {wanted:?} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test starts one"]
async fn a_write_on_one_replica_is_read_on_the_others_within_a_second() {
    let (_url, replicas) = replicas(3, 200, &[]);
    let addresses: Vec<String> = replicas.iter().map(|r| r.address.clone()).collect();
    for address in &addresses {
        assert_eq!(total_schools(address).await, 200);
        assert_eq!(health(address).await, ServingStatus::Serving as i32);
    }
    let mut clients = Vec::new();
    for address in &addresses {
        clients.push(registry(address).await);
    }
    let mut slowest = Duration::ZERO;
    for n in 0..30 {
        let (writer, readers) = (n % 3, [(n + 1) % 3, (n + 2) % 3]);
        let id = format!("replicated-{n:02}");
        let written = clients[writer]
            .upsert_school(pb::UpsertSchoolRequest {
                school: Some(new_school(&id, &format!("Written on replica {writer}"))),
            })
            .await
            .unwrap();
        let acknowledged = Instant::now();
        let version = version_of(written.metadata());
        for reader in readers {
            loop {
                match clients[reader]
                    .get_school(pb::GetSchoolRequest { id: id.clone() })
                    .await
                {
                    Ok(read) => {
                        assert_eq!(read.get_ref().name, format!("Written on replica {writer}"));
                        assert!(version_of(read.metadata()) >= version);
                        break;
                    }
                    Err(status) => assert_eq!(status.code(), Code::NotFound, "{status:?}"),
                }
                assert!(
                    acknowledged.elapsed() < Duration::from_secs(1),
                    "write {n} on replica {writer} not read on replica {reader} within 1 s"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        slowest = slowest.max(acknowledged.elapsed());
    }
    eprintln!("slowest propagation to both other replicas: {slowest:?}");

    // Read your writes: asking for the version a write answered with waits
    // for it, on any replica.
    for (writer, reader) in [(0, 1), (2, 0)] {
        let id = format!("read-your-write-{writer}");
        let written = clients[writer]
            .upsert_school(pb::UpsertSchoolRequest {
                school: Some(new_school(&id, "Read at once")),
            })
            .await
            .unwrap();
        let version = version_of(written.metadata()).to_string();
        let read = clients[reader]
            .get_school(at_least(pb::GetSchoolRequest { id: id.clone() }, &version))
            .await
            .expect("the replica waits for the version asked for");
        assert_eq!(read.get_ref().name, "Read at once");
    }
    // A version no replica holds: UNAVAILABLE at the deadline.
    let far = (version_of(
        clients[0]
            .get_school(pb::GetSchoolRequest {
                id: "replicated-00".into(),
            })
            .await
            .unwrap()
            .metadata(),
    ) + 1000)
        .to_string();
    let mut request = at_least(
        pb::GetSchoolRequest {
            id: "replicated-00".into(),
        },
        &far,
    );
    request.set_timeout(Duration::from_millis(400));
    let started = Instant::now();
    let refused = clients[1].get_school(request).await.unwrap_err();
    assert_status(&refused, Code::Unavailable, "not yet the");
    assert!(started.elapsed() >= Duration::from_millis(300));
    let refused = clients[1]
        .get_school(at_least(
            pb::GetSchoolRequest {
                id: "replicated-00".into(),
            },
            "soon",
        ))
        .await
        .unwrap_err();
    assert_status(&refused, Code::InvalidArgument, MIN_VERSION_HEADER);
}

/// A supporter with one support place and two partnerships that want it,
/// each activated on a different replica at the same moment: one wins,
/// the other is FAILED_PRECONDITION; and a partnership moved on by one
/// replica is ABORTED on another at its old version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test starts one"]
async fn conflicting_writes_on_two_replicas_one_wins() {
    let (_url, replicas) = replicas(2, 50, &[]);
    let (first, second) = (&replicas[0].address, &replicas[1].address);
    let mut supporter = school("conflict-supporter").at(1.0, 1.0);
    supporter.capacity = Some(1);
    let schools = [
        supporter,
        school("conflict-a").at(1.5, 1.0),
        school("conflict-b").at(1.0, 1.5),
    ];
    let mut writer = registry(first).await;
    for school in &schools {
        writer
            .upsert_school(pb::UpsertSchoolRequest {
                school: Some(school_proto(school)),
            })
            .await
            .unwrap();
    }
    let propose = |supported: &str| pb::ProposePartnershipRequest {
        kind: pb::PartnershipKind::Support as i32,
        members: [
            (supported, pb::MemberRole::Supported),
            ("conflict-supporter", pb::MemberRole::Supporter),
        ]
        .into_iter()
        .map(|(id, role)| pb::PartnershipMember {
            school_id: id.into(),
            role: role as i32,
        })
        .collect(),
        identified_need: "Reading in key stage 2".into(),
        ..Default::default()
    };
    let moved = |partnership: &pb::Partnership, status: pb::PartnershipStatus| {
        pb::UpdatePartnershipRequest {
            id: partnership.id.clone(),
            version: partnership.version,
            status: status as i32,
            ..Default::default()
        }
    };
    let (mut on_first, mut on_second) = (partnerships(first).await, partnerships(second).await);
    // Proposed on each replica at once, the second not having followed the
    // first's schools yet perhaps: both are numbered apart.
    let (with_a, with_b) = tokio::join!(
        on_first.propose_partnership(propose("conflict-a")),
        on_second.propose_partnership(propose("conflict-b")),
    );
    let (with_a, with_b) = (with_a.unwrap().into_inner(), with_b.unwrap().into_inner());
    assert_ne!(with_a.id, with_b.id);
    let with_a = on_first
        .update_partnership(moved(&with_a, pb::PartnershipStatus::Agreed))
        .await
        .unwrap()
        .into_inner();
    let with_b = on_second
        .update_partnership(moved(&with_b, pb::PartnershipStatus::Agreed))
        .await
        .unwrap()
        .into_inner();

    let (by_first, by_second) = tokio::join!(
        on_first.update_partnership(moved(&with_a, pb::PartnershipStatus::Active)),
        on_second.update_partnership(moved(&with_b, pb::PartnershipStatus::Active)),
    );
    let outcomes = [by_first, by_second];
    let won: Vec<&pb::Partnership> = outcomes
        .iter()
        .filter_map(|outcome| outcome.as_ref().ok().map(|r| r.get_ref()))
        .collect();
    assert_eq!(won.len(), 1, "{outcomes:?}");
    let lost = outcomes
        .iter()
        .find_map(|outcome| outcome.as_ref().err())
        .unwrap();
    assert_status(lost, Code::FailedPrecondition, "no free capacity");

    // The winner, at the version it had before it moved on, from the
    // replica that did not move it.
    let (winner_before, other_replica) = if won[0].id == with_a.id {
        (&with_a, &mut on_second)
    } else {
        (&with_b, &mut on_first)
    };
    let stale = other_replica
        .update_partnership(moved(winner_before, pb::PartnershipStatus::Ended))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");

    // Both replicas agree on what became of them.
    for address in [first, second] {
        let listed = partnerships(address)
            .await
            .list_partnerships(pb::ListPartnershipsRequest {
                school_id: "conflict-supporter".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .partnerships;
        let active = listed
            .iter()
            .filter(|p| p.status == pb::PartnershipStatus::Active as i32)
            .count();
        assert_eq!((listed.len(), active), (2, 1), "on {address}");
    }
}

/// Writers stream upserts into one replica, which is killed with SIGKILL
/// mid-write; every write it acknowledged is on the other replica, and on
/// the killed one once restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test starts one"]
async fn sigkill_of_a_replica_mid_write_loses_no_acknowledged_write() {
    let (url, mut replicas) = replicas(2, 100, &[]);
    let victim = replicas[0].address.clone();
    let survivor = replicas[1].address.clone();
    let acknowledged: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let mut writers = Vec::new();
    for writer in 0..3 {
        let (victim, acknowledged) = (victim.clone(), Arc::clone(&acknowledged));
        writers.push(tokio::spawn(async move {
            let mut client = registry(&victim).await;
            for n in 0.. {
                let id = format!("kill-{writer}-{n:04}");
                let request = pb::UpsertSchoolRequest {
                    school: Some(new_school(&id, "acknowledged")),
                };
                match client.upsert_school(request).await {
                    Ok(reply) => {
                        let version = version_of(reply.metadata());
                        acknowledged.lock().unwrap().insert(id, version);
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 150 {
        assert!(Instant::now() < deadline, "writes were too slow");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    replicas[0].child.kill().expect("SIGKILL");
    replicas[0].child.wait().unwrap();
    for writer in writers {
        tokio::time::timeout(Duration::from_secs(30), writer)
            .await
            .expect("writers stop once the replica is gone")
            .unwrap();
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    let newest = acknowledged.values().max().copied().unwrap().to_string();

    let restarted = start_on(Path::new(&url), &[]);
    for address in [&survivor, &restarted.address] {
        let mut client = registry(address).await;
        for id in acknowledged.keys() {
            let read = client
                .get_school(at_least(pb::GetSchoolRequest { id: id.clone() }, &newest))
                .await
                .unwrap_or_else(|status| panic!("acknowledged {id} lost on {address}: {status}"));
            assert_eq!(read.get_ref().name, "acknowledged");
        }
    }
    // Both hold the same registry (a write cut off may or may not have
    // committed, but both replicas agree on which).
    let (left, right) = (
        total_schools(&survivor).await,
        total_schools(&restarted.address).await,
    );
    assert_eq!(left, right);
    assert!(left as usize >= 100 + acknowledged.len());
}

/// A PostgreSQL cluster of the test's own (so stopping it stops no other
/// test's), removed on drop.
struct OwnCluster {
    dir: tempfile::TempDir,
}

impl OwnCluster {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-cluster")
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("cluster")
    }

    /// Starts it (made the first time); returns its server's URL.
    fn start(&self) -> String {
        let output = Command::new(OwnCluster::script())
            .arg("start")
            .arg(self.data())
            .output()
            .expect("run scripts/pg-cluster");
        assert!(
            output.status.success(),
            "scripts/pg-cluster start: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn stop(&self) {
        let status = Command::new(OwnCluster::script())
            .arg("stop")
            .arg(self.data())
            .status()
            .expect("run scripts/pg-cluster");
        assert!(status.success());
    }

    fn new() -> OwnCluster {
        let dir = tempfile::tempdir().expect("temporary directory");
        // As root the cluster runs as the postgres user, which must reach it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        OwnCluster { dir }
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new(OwnCluster::script())
            .arg("remove")
            .arg(self.data())
            .status();
    }
}

/// What a writer was told, by id: acknowledged writes and their versions.
type Acknowledged = Arc<Mutex<HashMap<String, u64>>>;

/// PostgreSQL stopped and started again while both replicas take writes
/// and reads: they report NOT_SERVING within --max-lag-secs; the one
/// without --serve-stale refuses reads (UNAVAILABLE), the other answers
/// them; writes fail UNAVAILABLE, changing nothing; once PostgreSQL is back
/// both serve again, and hold every acknowledged write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test starts one"]
async fn postgresql_restarted_under_load_replicas_stop_serving_then_catch_up() {
    let cluster = OwnCluster::new();
    let server = cluster.start();
    let url = std::thread::spawn(move || {
        partnermatch_store::create_database(&server, "replicas_restart").expect("a database")
    })
    .join()
    .unwrap();
    let strict = start_on(
        Path::new(&url),
        &[
            "--schools",
            "100",
            "--max-lag-secs",
            "1",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let metrics_address = strict
        .startup_log
        .iter()
        .find_map(|line| line.split("metrics on http://").nth(1))
        .and_then(|rest| rest.split('/').next())
        .expect("the metrics address is logged")
        .to_owned();
    let metric = |name: &'static str| {
        let address = metrics_address.clone();
        async move {
            let text = http_get(address.as_str(), "/metrics").await;
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                .unwrap_or_else(|| panic!("no {name} in\n{text}"))
                .parse::<f64>()
                .unwrap()
        }
    };
    assert_eq!(metric("partnermatch_replication_current").await, 1.0);
    let stale = start_on(
        Path::new(&url),
        &["--schools", "100", "--max-lag-secs", "1", "--serve-stale"],
    );
    let addresses = [strict.address.clone(), stale.address.clone()];
    let acknowledged: Acknowledged = Arc::default();
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut load = Vec::new();
    for (writer, address) in addresses.iter().enumerate() {
        let (address, acknowledged, running) = (
            address.clone(),
            Arc::clone(&acknowledged),
            Arc::clone(&running),
        );
        load.push(tokio::spawn(async move {
            let mut client = registry(&address).await;
            let mut refused = 0;
            for n in 0.. {
                if !running.load(std::sync::atomic::Ordering::Relaxed) {
                    return refused;
                }
                let id = format!("restart-{writer}-{n:05}");
                let mut request = tonic::Request::new(pb::UpsertSchoolRequest {
                    school: Some(new_school(&id, "acknowledged")),
                });
                request.set_timeout(Duration::from_secs(5));
                match client.upsert_school(request).await {
                    Ok(reply) => {
                        let version = version_of(reply.metadata());
                        acknowledged.lock().unwrap().insert(id, version);
                    }
                    Err(status) => {
                        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            refused
        }));
    }
    let wait_for_writes = |count: usize| {
        let acknowledged = Arc::clone(&acknowledged);
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while acknowledged.lock().unwrap().len() < count {
                assert!(Instant::now() < deadline, "writes were too slow");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_for_writes(50).await;

    cluster.stop();
    for address in &addresses {
        let took = await_health(address, ServingStatus::NotServing, Duration::from_secs(10)).await;
        eprintln!("{address} NOT_SERVING {took:?} after PostgreSQL stopped");
    }
    let read = |address: &str| {
        let address = address.to_owned();
        async move {
            registry(&address)
                .await
                .get_school(pb::GetSchoolRequest {
                    id: "restart-0-00000".into(),
                })
                .await
        }
    };
    let refused = read(&addresses[0]).await.unwrap_err();
    assert_status(&refused, Code::Unavailable, "cannot reach its database");
    read(&addresses[1])
        .await
        .expect("--serve-stale answers reads from the snapshot");
    let during = acknowledged.lock().unwrap().len();
    assert_eq!(metric("partnermatch_replication_current").await, 0.0);
    assert!(metric("partnermatch_replication_lag_seconds").await > 0.0);

    let _ = cluster.start();
    for address in &addresses {
        let took = await_health(address, ServingStatus::Serving, Duration::from_secs(30)).await;
        eprintln!("{address} SERVING {took:?} after PostgreSQL started");
    }
    wait_for_writes(during + 50).await;
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut refused_writes = 0;
    for writer in load {
        refused_writes += writer.await.unwrap();
    }
    assert!(refused_writes > 0, "some writes met the outage");

    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    let newest = acknowledged.values().max().copied().unwrap().to_string();
    for address in &addresses {
        let mut client = registry(address).await;
        for id in acknowledged.keys() {
            client
                .get_school(at_least(pb::GetSchoolRequest { id: id.clone() }, &newest))
                .await
                .unwrap_or_else(|status| panic!("acknowledged {id} lost on {address}: {status}"));
        }
    }
    assert_eq!(
        total_schools(&addresses[0]).await,
        total_schools(&addresses[1]).await
    );
    // Caught up: the registry holds the database's version.
    assert_eq!(metric("partnermatch_replication_current").await, 1.0);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (held, database) = (
            metric("partnermatch_registry_version").await,
            metric("partnermatch_replication_database_version").await,
        );
        if held == database && held >= newest.parse::<f64>().unwrap() {
            break;
        }
        assert!(Instant::now() < deadline, "{held} is not {database}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
