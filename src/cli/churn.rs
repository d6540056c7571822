//! `partnermatch bench --churn CYCLES`: creates and deletes schools on a
//! running server, `CYCLES` times from `--writers` connections, and — with
//! `--metrics` — reads the server's resident memory from its metrics port
//! before, right after and once it has settled, so memory under churn is
//! measured on the real server. Loopback only, like the rest of `bench`;
//! every school it creates it deletes again.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use partnermatch::pb;
use partnermatch::pb::school_registry_client::SchoolRegistryClient;

use super::loadgen::{limits, with_token};

/// Most cycles one run makes.
pub const MAX_CYCLES: u64 = 10_000_000;

/// How long to wait for the server's memory to settle after the churn.
const SETTLE: Duration = Duration::from_secs(40);

#[derive(Debug, Clone)]
pub struct ChurnConfig {
    pub target: SocketAddr,
    pub token: Option<String>,
    pub cycles: u64,
    pub writers: usize,
    /// The server's metrics address, for its resident memory.
    pub metrics: Option<SocketAddr>,
}

/// What a churn run measured.
#[derive(Debug)]
pub struct ChurnReport {
    config: ChurnConfig,
    elapsed: Duration,
    /// Latency of a whole cycle (create, then delete), in microseconds.
    latency: Histogram<u64>,
    /// Resident memory in bytes: before, right after, settled.
    memory: Option<[u64; 3]>,
}

impl fmt::Display for ChurnReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.config;
        let seconds = self.elapsed.as_secs_f64();
        writeln!(
            f,
            "churn: {} create+delete cycles from {} writers in {seconds:.1} s: {:.0} cycles/s, a cycle p50 {:.2} ms, p99 {:.2} ms",
            config.cycles,
            config.writers,
            config.cycles as f64 / seconds,
            self.latency.value_at_quantile(0.5) as f64 / 1e3,
            self.latency.value_at_quantile(0.99) as f64 / 1e3,
        )?;
        match self.memory {
            Some([before, after, settled]) => {
                let mb = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
                write!(
                    f,
                    "server resident memory: before {:.0} MB, right after {:.0} MB, settled {:.0} MB ({:+.0}% of before)",
                    mb(before),
                    mb(after),
                    mb(settled),
                    (settled as f64 / before as f64 - 1.0) * 100.0
                )
            }
            None => write!(f, "server memory not read (give --metrics ADDRESS)"),
        }
    }
}

/// The server's `process_resident_memory_bytes`, from its metrics port.
async fn resident_bytes(metrics: SocketAddr) -> anyhow::Result<u64> {
    let mut stream = tokio::net::TcpStream::connect(metrics)
        .await
        .with_context(|| format!("cannot reach the metrics port {metrics}"))?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    text.lines()
        .find_map(|line| line.strip_prefix("process_resident_memory_bytes "))
        .and_then(|value| value.trim().parse().ok())
        .with_context(|| format!("{metrics}/metrics gives no process_resident_memory_bytes"))
}

/// The server's resident memory once it stops falling (three readings a
/// second apart without a new low), or after [`SETTLE`].
async fn settled_bytes(metrics: SocketAddr) -> anyhow::Result<u64> {
    let started = Instant::now();
    let mut lowest = resident_bytes(metrics).await?;
    let mut steady = 0;
    while steady < 3 && started.elapsed() < SETTLE {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = resident_bytes(metrics).await?;
        if now < lowest {
            lowest = now;
            steady = 0;
        } else {
            steady += 1;
        }
    }
    Ok(lowest)
}

/// A school like the first the server lists, to create copies of.
async fn template(uri: &str, token: Option<&str>) -> anyhow::Result<pb::School> {
    let mut registry = SchoolRegistryClient::connect(uri.to_owned())
        .await
        .with_context(|| format!("cannot connect to {uri}"))?;
    let request = pb::ListSchoolsRequest {
        page_size: 1,
        ..Default::default()
    };
    let listed = registry
        .list_schools(with_token(request, token)?)
        .await
        .context("listing a school to copy")?
        .into_inner();
    let Some(mut school) = listed.schools.into_iter().next() else {
        bail!("the server holds no school to copy");
    };
    // A copy in a family of its own choosing (computed), no partnerships.
    school.family_id = String::new();
    Ok(school)
}

pub async fn run(config: ChurnConfig) -> anyhow::Result<ChurnReport> {
    ensure!(
        config.target.ip().is_loopback(),
        "bench drives loopback servers only; {} is not a loopback address",
        config.target
    );
    ensure!(
        (1..=MAX_CYCLES).contains(&config.cycles),
        "--churn must be 1–{MAX_CYCLES}"
    );
    ensure!(
        (1..=limits::MAX_CONNECTIONS).contains(&config.writers),
        "--writers must be 1–{}",
        limits::MAX_CONNECTIONS
    );
    let uri = format!("http://{}", config.target);
    let template = template(&uri, config.token.as_deref()).await?;
    let before = match config.metrics {
        Some(metrics) => Some(resident_bytes(metrics).await?),
        None => None,
    };
    let started = Instant::now();
    let mut writers = Vec::new();
    for writer in 0..config.writers {
        let mut registry = SchoolRegistryClient::connect(uri.clone())
            .await
            .with_context(|| format!("cannot connect to {uri}"))?;
        let (template, token) = (template.clone(), config.token.clone());
        let (cycles, step) = (config.cycles, config.writers as u64);
        writers.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                .expect("valid histogram bounds");
            let mut n = writer as u64;
            while n < cycles {
                let id = format!("bench-churn-{n:08}");
                let mut school = template.clone();
                school.id = id.clone();
                school.name = format!("Churned school {n}");
                let sent = Instant::now();
                let request = pb::UpsertSchoolRequest {
                    school: Some(school),
                };
                registry
                    .upsert_school(with_token(request, token.as_deref())?)
                    .await
                    .with_context(|| format!("creating {id}"))?;
                let request = pb::DeleteSchoolRequest { id: id.clone() };
                registry
                    .delete_school(with_token(request, token.as_deref())?)
                    .await
                    .with_context(|| format!("deleting {id}"))?;
                let micros = sent.elapsed().as_micros() as u64;
                let _ = latency.record(micros.clamp(1, 60_000_000));
                n += step;
            }
            anyhow::Ok(latency)
        }));
    }
    let mut latency =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
    for writer in writers {
        latency.add(writer.await.context("a writer panicked")??)?;
    }
    let elapsed = started.elapsed();
    let memory = match (config.metrics, before) {
        (Some(metrics), Some(before)) => {
            let after = resident_bytes(metrics).await?;
            Some([before, after, settled_bytes(metrics).await?])
        }
        _ => None,
    };
    Ok(ChurnReport {
        config,
        elapsed,
        latency,
        memory,
    })
}
