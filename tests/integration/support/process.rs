//! The real `partnermatch` binary as a process: started on a database of
//! its own, its log read line by line, stopped with SIGTERM (or killed on
//! drop), and what /proc says about it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use partnermatch::pb;
use partnermatch::pb::school_registry_client::SchoolRegistryClient;
use tonic_health::pb::health_client::HealthClient;

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
pub(crate) fn start(args: &[&str]) -> RunningBinary {
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

pub(crate) async fn health(address: &str) -> i32 {
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

pub(crate) async fn registry(address: &str) -> SchoolRegistryClient<tonic::transport::Channel> {
    SchoolRegistryClient::connect(format!("http://{address}"))
        .await
        .expect("connect")
}

/// The registry version an answer carries.
pub(crate) fn version_of(metadata: &tonic::metadata::MetadataMap) -> u64 {
    metadata
        .get(partnermatch::VERSION_HEADER)
        .expect("every answer carries its registry version")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// `message` asking for at least registry version `version`.
pub(crate) fn at_least<T>(message: T, version: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert(partnermatch::MIN_VERSION_HEADER, version.parse().unwrap());
    request
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

/// The school `id` as the server at `address` (without auth) serves it.
pub(crate) async fn stored_school(address: &str, id: &str) -> pb::School {
    stored_school_as(address, id, None).await
}

/// [`stored_school`], asking with `token` when given.
pub(crate) async fn stored_school_as(address: &str, id: &str, token: Option<&str>) -> pb::School {
    let mut client = SchoolRegistryClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    let request = pb::GetSchoolRequest { id: id.into() };
    let request = match token {
        Some(token) => crate::support::fixtures::with_token(request, token),
        None => tonic::Request::new(request),
    };
    client.get_school(request).await.unwrap().into_inner()
}

/// CPU seconds a process has used (user and system), from /proc.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) are plain.
    let after = stat.rsplit(')').next().unwrap();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // Clock ticks per second: 100 on Linux.
    ticks / 100.0
}

/// Peak resident memory of a process in MB (VmHWM), from /proc.
pub(crate) fn peak_megabytes(pid: u32) -> u64 {
    status_megabytes(pid, "VmHWM:")
}

/// Resident memory of a process in MB now (VmRSS), from /proc.
pub(crate) fn resident_megabytes(pid: u32) -> u64 {
    status_megabytes(pid, "VmRSS:")
}

/// A size `field` of a process's /proc status, in MB.
fn status_megabytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}
