//! `partnermatch bench`: a load generator for a running server on loopback.
//!
//! It opens `connections` HTTP/2 connections with `streams` concurrent
//! callers each, and for a fixed time sends `Match` requests (over many
//! seekers), then, in the same run and with the same shape, the health
//! `Check` RPC as a no-op baseline, so the ratio of the two rates is measured
//! side by side on the same machine and moment. With `--writes` it then
//! times `UpsertSchool` from `--writers` concurrent writers (each write
//! renames a school, so every one changes the registry, and every other
//! one changes its size, which the index takes in), and Match again
//! while those writers run (the mixed load), so Match under writes is
//! compared with Match idle in the same run. Bounded in count and time, and
//! refused for anything but a loopback address.
//!
//! Like h2load, the generator does not parse response bodies: it checks each
//! call's gRPC status and counts the bytes. The server and the generator
//! share the machine's cores, so a client busy decoding protobuf would
//! lower the very rate it measures, and lower it more for the larger Match
//! responses than for the no-op.

use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use hdrhistogram::Histogram;
use prost::bytes::Buf;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;

use partnermatch::pb;
use partnermatch::pb::school_registry_client::SchoolRegistryClient;

/// Upper bounds that keep a run from turning into a flood.
pub mod limits {
    use std::time::Duration;

    pub const MAX_CONNECTIONS: usize = 64;
    pub const MAX_STREAMS: usize = 256;
    pub const MAX_DURATION: Duration = Duration::from_secs(300);
    pub const MAX_WARMUP: Duration = Duration::from_secs(60);
    pub const MAX_SEEKERS: usize = 100_000;
}

/// Latencies are recorded in microseconds up to a minute.
const MAX_LATENCY_MICROS: u64 = 60_000_000;

#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// A loopback address of a running server.
    pub target: SocketAddr,
    /// HTTP/2 connections.
    pub connections: usize,
    /// Concurrent callers per connection.
    pub streams: usize,
    /// Measured time per RPC.
    pub duration: Duration,
    /// Unmeasured time before each measurement.
    pub warmup: Duration,
    /// How many different schools seek partners, spread over the registry.
    pub seekers: usize,
    /// Partners per Match.
    pub limit: u32,
    /// A bearer token sent with every call (a writer's for `writes`).
    pub token: Option<String>,
    /// Also time writes, alone and beside Match.
    pub writes: Option<WriteLoad>,
}

/// The write phases of a run.
#[derive(Debug, Clone, Copy)]
pub struct WriteLoad {
    /// Concurrent writers, each on its own connection.
    pub writers: usize,
}

impl LoadConfig {
    fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            self.target.ip().is_loopback(),
            "bench drives loopback servers only; {} is not a loopback address",
            self.target
        );
        ensure!(
            (1..=limits::MAX_CONNECTIONS).contains(&self.connections),
            "--connections must be 1–{}",
            limits::MAX_CONNECTIONS
        );
        ensure!(
            (1..=limits::MAX_STREAMS).contains(&self.streams),
            "--streams must be 1–{}",
            limits::MAX_STREAMS
        );
        ensure!(
            !self.duration.is_zero() && self.duration <= limits::MAX_DURATION,
            "--duration must be above 0 and at most {} s",
            limits::MAX_DURATION.as_secs()
        );
        ensure!(
            self.warmup <= limits::MAX_WARMUP,
            "--warmup must be at most {} s",
            limits::MAX_WARMUP.as_secs()
        );
        ensure!(
            (1..=limits::MAX_SEEKERS).contains(&self.seekers),
            "--seekers must be 1–{}",
            limits::MAX_SEEKERS
        );
        ensure!((1..=100).contains(&self.limit), "--limit must be 1–100");
        if let Some(writes) = self.writes {
            ensure!(
                (1..=limits::MAX_CONNECTIONS).contains(&writes.writers),
                "--writers must be 1–{}",
                limits::MAX_CONNECTIONS
            );
        }
        Ok(())
    }
}

/// What one RPC did during its measured time.
#[derive(Debug)]
pub struct PhaseReport {
    pub rpc: &'static str,
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latency of successful calls, in microseconds.
    pub latency: Histogram<u64>,
    /// Total size of the successful calls' response messages.
    pub response_bytes: u64,
}

impl PhaseReport {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn p50_micros(&self) -> u64 {
        self.latency.value_at_quantile(0.50)
    }

    pub fn p99_micros(&self) -> u64 {
        self.latency.value_at_quantile(0.99)
    }

    /// Mean response message size in bytes.
    pub fn mean_response_bytes(&self) -> u64 {
        self.response_bytes.checked_div(self.requests).unwrap_or(0)
    }
}

/// The Match phase and the no-op baseline of one run, and the write
/// phases when asked for.
#[derive(Debug)]
pub struct LoadReport {
    pub config: LoadConfig,
    pub schools: u32,
    pub matches: PhaseReport,
    pub noop: PhaseReport,
    pub writes: Option<WriteReport>,
}

/// Writes alone, then Match and writes at once.
#[derive(Debug)]
pub struct WriteReport {
    pub writes: PhaseReport,
    pub mixed_matches: PhaseReport,
    pub mixed_writes: PhaseReport,
}

impl LoadReport {
    /// Match requests per second as a share of no-op requests per second.
    pub fn ratio(&self) -> f64 {
        self.matches.rate() / self.noop.rate()
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "target {} ({} schools): {} connections × {} streams, {} s each after {} s warm-up, {} seekers, limit {}",
            c.target,
            self.schools,
            c.connections,
            c.streams,
            c.duration.as_secs_f64(),
            c.warmup.as_secs_f64(),
            c.seekers,
            c.limit
        )?;
        writeln!(
            f,
            "{:<22} {:>10} {:>7} {:>11} {:>9} {:>9} {:>10}",
            "rpc", "requests", "errors", "req/s", "p50 µs", "p99 µs", "resp bytes"
        )?;
        let mut phases = vec![&self.matches, &self.noop];
        if let Some(writes) = &self.writes {
            phases.extend([&writes.writes, &writes.mixed_matches, &writes.mixed_writes]);
        }
        for phase in phases {
            writeln!(
                f,
                "{:<22} {:>10} {:>7} {:>11.0} {:>9} {:>9} {:>10}",
                phase.rpc,
                phase.requests,
                phase.errors,
                phase.rate(),
                phase.p50_micros(),
                phase.p99_micros(),
                phase.mean_response_bytes()
            )?;
        }
        write!(f, "Match ÷ no-op: {:.2}", self.ratio())?;
        if let Some(writes) = &self.writes {
            let p99 = |phase: &PhaseReport| phase.p99_micros().max(1) as f64;
            write!(
                f,
                "\nMatch p99 under writes ÷ idle: {:.2}; writes under reads ÷ alone: {:.2}",
                p99(&writes.mixed_matches) / p99(&self.matches),
                writes.mixed_writes.rate() / writes.writes.rate().max(f64::MIN_POSITIVE)
            )?;
        }
        Ok(())
    }
}

/// Runs both phases against the server at `config.target`.
pub async fn run(config: LoadConfig) -> anyhow::Result<LoadReport> {
    config.validate()?;
    let uri = format!("http://{}", config.target);
    let token: Option<Arc<str>> = config.token.as_deref().map(Arc::from);
    let (open, schools) = open_schools(&uri, token.clone()).await?;
    let step = (open.len() / config.seekers).max(1);
    let seekers: Arc<Vec<String>> = Arc::new(
        open.iter()
            .step_by(step)
            .take(config.seekers)
            .map(|s| s.id.clone())
            .collect(),
    );
    let readers = Shape::of(&config);
    let match_call = {
        let (seekers, token, limit) = (Arc::clone(&seekers), token.clone(), config.limit);
        move |channel, call: usize| {
            let request = pb::MatchRequest {
                school_id: seekers[call % seekers.len()].clone(),
                mode: pb::MatchMode::Support as i32,
                limit,
                ..Default::default()
            };
            unary_skipping_response(channel, MATCH_PATH, request, token.clone())
        }
    };
    let matches = phase(&config, readers, &uri, "Match", match_call.clone()).await?;
    let noop = {
        let token = token.clone();
        phase(
            &config,
            readers,
            &uri,
            "grpc.health.v1/Check",
            move |channel, _| {
                let request = HealthCheckRequest {
                    service: String::new(),
                };
                unary_skipping_response(channel, HEALTH_CHECK_PATH, request, token.clone())
            },
        )
        .await?
    };
    let writes = match config.writes {
        None => None,
        Some(load) => {
            let writers = Shape {
                connections: load.writers,
                streams: 1,
            };
            let targets = Arc::new(open);
            let write_call = move |channel, call: usize| {
                // A new name each time, so every write changes a school;
                // every other write a new size too, which matching reads
                // (the index takes it in, and a size band crossed re-cuts
                // a family group).
                let mut school = targets[call % targets.len()].clone();
                school.name = format!("{} ·{}", school.name, call % 97);
                if call % 2 == 1 {
                    school.pupils = school.pupils.map(|pupils| pupils + 1 + (call % 5) as u32);
                }
                let request = pb::UpsertSchoolRequest {
                    school: Some(school),
                };
                unary_skipping_response(channel, UPSERT_PATH, request, token.clone())
            };
            let writes = phase(&config, writers, &uri, "UpsertSchool", write_call.clone()).await?;
            let (mixed_matches, mixed_writes) = tokio::join!(
                phase(&config, readers, &uri, "Match (with writes)", match_call),
                phase(
                    &config,
                    writers,
                    &uri,
                    "UpsertSchool (with Match)",
                    write_call
                ),
            );
            Some(WriteReport {
                writes,
                mixed_matches: mixed_matches?,
                mixed_writes: mixed_writes?,
            })
        }
    };
    Ok(LoadReport {
        config,
        schools,
        matches,
        noop,
        writes,
    })
}

/// How many callers a phase runs: `streams` on each of `connections`.
#[derive(Debug, Clone, Copy)]
struct Shape {
    connections: usize,
    streams: usize,
}

impl Shape {
    fn of(config: &LoadConfig) -> Shape {
        Shape {
            connections: config.connections,
            streams: config.streams,
        }
    }
}

const MATCH_PATH: &str = "/partnermatch.v1.PartnerMatcher/Match";
const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
const UPSERT_PATH: &str = "/partnermatch.v1.SchoolRegistry/UpsertSchool";

/// Calls a unary RPC and returns the size of the response body, which is
/// not decoded.
async fn unary_skipping_response<Req>(
    channel: Channel,
    path: &'static str,
    request: Req,
    token: Option<Arc<str>>,
) -> Result<usize, tonic::Status>
where
    Req: prost::Message + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("connection not ready: {e}")))?;
    let response = grpc
        .unary(
            with_token(request, token.as_deref())?,
            PathAndQuery::from_static(path),
            SkipResponseCodec(PhantomData),
        )
        .await?;
    Ok(response.into_inner())
}

/// Encodes requests with prost; reads a response body as its byte count.
struct SkipResponseCodec<Req>(PhantomData<Req>);

impl<Req: prost::Message + Send + 'static> Codec for SkipResponseCodec<Req> {
    type Encode = Req;
    type Decode = usize;
    type Encoder = ProstRequestEncoder<Req>;
    type Decoder = ByteCounter;

    fn encoder(&mut self) -> Self::Encoder {
        ProstRequestEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        ByteCounter
    }
}

struct ProstRequestEncoder<Req>(PhantomData<Req>);

impl<Req: prost::Message> Encoder for ProstRequestEncoder<Req> {
    type Item = Req;
    type Error = tonic::Status;

    fn encode(&mut self, item: Req, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(format!("encoding the request: {e}")))
    }
}

struct ByteCounter;

impl Decoder for ByteCounter {
    type Item = usize;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<usize>, tonic::Status> {
        let bytes = src.remaining();
        src.advance(bytes);
        Ok(Some(bytes))
    }
}

/// `request` with `authorization: Bearer <token>` when there is a token
/// (every command that calls a server sends it so).
pub(super) fn with_token<T>(
    request: T,
    token: Option<&str>,
) -> Result<tonic::Request<T>, tonic::Status> {
    let mut request = tonic::Request::new(request);
    if let Some(token) = token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| tonic::Status::invalid_argument("the token cannot be sent as a header"))?;
        request.metadata_mut().insert("authorization", value);
    }
    Ok(request)
}

/// The open schools in id order (seekers, and the records writers
/// change), and the registry's size.
async fn open_schools(
    uri: &str,
    token: Option<Arc<str>>,
) -> anyhow::Result<(Vec<pb::School>, u32)> {
    let channel = connect(uri).await?;
    let mut registry = SchoolRegistryClient::new(channel).max_decoding_message_size(64 << 20);
    let mut schools = Vec::new();
    let mut page_token = String::new();
    let total = loop {
        let request = pb::ListSchoolsRequest {
            page_size: 1000,
            page_token,
            ..Default::default()
        };
        let page = registry
            .list_schools(with_token(request, token.as_deref())?)
            .await
            .context("listing schools to pick seekers")?
            .into_inner();
        schools.extend(page.schools.into_iter().filter(|s| s.open != Some(false)));
        if page.next_page_token.is_empty() {
            break page.total_size;
        }
        page_token = page.next_page_token;
    };
    if schools.is_empty() {
        bail!("the server holds no open schools to match");
    }
    Ok((schools, total))
}

async fn connect(uri: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(uri.to_owned())?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {uri}"))
}

/// Runs one RPC from every caller for warm-up plus duration, measuring only
/// calls that start after the warm-up. `make_call` gets a channel and a call
/// number that differs between callers and calls, to spread the seekers.
async fn phase<F, Fut>(
    config: &LoadConfig,
    shape: Shape,
    uri: &str,
    rpc: &'static str,
    make_call: F,
) -> anyhow::Result<PhaseReport>
where
    F: Fn(Channel, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<usize, tonic::Status>> + Send + 'static,
{
    let make_call = Arc::new(make_call);
    let started = Instant::now();
    let measure_from = started + config.warmup;
    let stop_at = measure_from + config.duration;
    let mut callers = Vec::new();
    for connection in 0..shape.connections {
        // One Channel per connection: each has its own HTTP/2 connection.
        let channel = connect(uri).await?;
        for stream in 0..shape.streams {
            let channel = channel.clone();
            let make_call = Arc::clone(&make_call);
            let caller = connection * shape.streams + stream;
            callers.push(tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_MICROS, 3)
                    .expect("valid histogram bounds");
                let mut requests = 0u64;
                let mut errors = 0u64;
                let mut response_bytes = 0u64;
                for call in (caller * 7919).. {
                    let sent = Instant::now();
                    if sent >= stop_at {
                        break;
                    }
                    let outcome = make_call(channel.clone(), call).await;
                    if sent < measure_from {
                        continue;
                    }
                    match outcome {
                        Ok(bytes) => {
                            requests += 1;
                            response_bytes += bytes as u64;
                            let micros = sent.elapsed().as_micros() as u64;
                            let _ = latency.record(micros.clamp(1, MAX_LATENCY_MICROS));
                        }
                        Err(_) => errors += 1,
                    }
                }
                (latency, requests, errors, response_bytes)
            }));
        }
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_MICROS, 3)
        .expect("valid histogram bounds");
    let (mut requests, mut errors, mut response_bytes) = (0, 0, 0);
    for caller in callers {
        let (caller_latency, caller_requests, caller_errors, caller_bytes) =
            caller.await.context("a load caller panicked")?;
        response_bytes += caller_bytes;
        latency
            .add(caller_latency)
            .context("merging latency histograms")?;
        requests += caller_requests;
        errors += caller_errors;
    }
    Ok(PhaseReport {
        rpc,
        requests,
        errors,
        elapsed: config.duration,
        latency,
        response_bytes,
    })
}
