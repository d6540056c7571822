//! `partnermatch import KIND FILE`: reads the whole file first (a bad file
//! touches nothing), says which rows it rejected and why, then applies the
//! rest in one step — into a database file (`--db`), or into a running
//! server through ImportSchools (`--target`), merged the same way either
//! side (README "Bringing in real data").

use std::path::Path;

use anyhow::{Context, bail};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use partnermatch::pb;
use partnermatch::pb::school_registry_client::SchoolRegistryClient;
use partnermatch::{evaluations_record_to_proto, school_record_to_proto};
use partnermatch_core::dataset::{self, ImportMerge, NOT_STORED_HINT, StoredChange, StoredRow};
use partnermatch_core::domain::{School, SchoolId, latest_evaluation_date, printable};
use partnermatch_core::engine::UpsertCounts;

use super::args::{ImportArgs, ImportKind};
use super::commands::{open_database, spinner};
use super::config::Config;
use super::loadgen::with_token;

/// A file, read: what to apply and what was left out.
struct ReadFile {
    /// Rows in the file.
    rows: u64,
    merge: ImportMerge,
    /// Schools (REPLACE, REGISTER), each with its line.
    schools: Vec<(u64, School)>,
    /// Changes to stored schools (EVALUATIONS, FSM_PERCENT), each with its
    /// line.
    changes: Vec<StoredRow>,
    rejected: u64,
    /// Rows left out on purpose, and why.
    skipped: Vec<(&'static str, u64)>,
}

/// What applying a file did.
struct Applied {
    /// "the database" or "the server".
    destination: &'static str,
    counts: UpsertCounts,
    /// Lines of changes whose school is not stored, with the school.
    not_stored: Vec<(u64, SchoolId)>,
    /// Rows the server refused that the file reading accepted (a school
    /// the server's rules reject), by line.
    refused: Vec<(u64, String)>,
}

pub(super) fn import(args: ImportArgs, config: &Config) -> anyhow::Result<()> {
    if args.columns.is_some() && args.kind != ImportKind::Ofsted {
        bail!("--columns applies to `ofsted` only");
    }
    if args.open_only && args.kind != ImportKind::Gias {
        if args.kind == ImportKind::Schools {
            bail!("--open-only applies to `gias` only: a schools CSV says open in its own column");
        }
        bail!("--open-only applies to `gias` only");
    }
    if args.target.is_none() && config.db.as_os_str() == ":memory:" {
        bail!("import writes into a database file; --db :memory: would keep nothing");
    }
    if args.target.is_none() && (args.token.is_some() || args.ca_cert.is_some()) {
        bail!("--token and --ca-cert go with --target (a running server)");
    }
    if args.target.is_some() && args.store.db.is_some() {
        // PARTNERMATCH_DB may be set for other commands: say so, go on.
        eprintln!("--db (or PARTNERMATCH_DB) is not used with --target: the server holds its own");
    }
    let path = args.file.as_path();
    let reading = spinner(format!("reading {}", path.display()));
    let mut file = read(&args, config)?;
    reading.finish_and_clear();
    let applied = match &args.target {
        None => {
            let writing = spinner(format!(
                "writing into {}",
                super::commands::database_name(config)
            ));
            let applied = write_database(config, &mut file)?;
            writing.finish_and_clear();
            applied
        }
        Some(target) => {
            let sending = spinner(format!("sending to {target}"));
            let applied = send(&args, target, &file)?;
            sending.finish_and_clear();
            applied
        }
    };
    report(path, &file, &applied);
    Ok(())
}

/// Reads the file of `args.kind`, printing each rejected row on stderr.
fn read(args: &ImportArgs, config: &Config) -> anyhow::Result<ReadFile> {
    let path = args.file.as_path();
    // Evaluations from the future are refused by line here, as the server
    // refuses them by message (with --target it refuses them too).
    let latest = latest_evaluation_date(config.evidence()?.rules().as_of);
    let stored = |mut import: dataset::StoredImport, merge: ImportMerge| {
        import.refuse_future_evaluations(latest);
        print_rejections(path, &import.rejections.listed, import.rejections.count);
        ReadFile {
            rows: import.rows,
            merge,
            schools: Vec::new(),
            changes: import.changes,
            rejected: import.rejections.count,
            skipped: Vec::new(),
        }
    };
    let (rows, merge, batch, skipped) = match args.kind {
        ImportKind::Ofsted => {
            let columns = match &args.columns {
                None => dataset::OfstedColumns::default(),
                Some(file) => ofsted_columns(file)?,
            };
            let import = dataset::read_ofsted_path(path, &columns)
                .with_context(|| format!("reading inspection outcomes from {}", path.display()))?;
            return Ok(stored(import, ImportMerge::Evaluations));
        }
        ImportKind::StatswalesFsm => {
            let import = dataset::read_statswales_fsm_path(path)
                .with_context(|| format!("reading free school meals from {}", path.display()))?;
            return Ok(stored(import, ImportMerge::FsmPercent));
        }
        ImportKind::Gias => {
            let options = dataset::GiasOptions {
                open_only: args.open_only,
            };
            let import = dataset::read_gias_path(path, options)
                .with_context(|| format!("reading the register {}", path.display()))?;
            let skipped = vec![
                ("not open (--open-only)", import.skipped_not_open),
                (
                    "not schools the engine matches (colleges, children's centres, …)",
                    import.skipped_not_schools,
                ),
            ];
            (import.rows, ImportMerge::Register, import.batch, skipped)
        }
        ImportKind::Schools => {
            let batch = dataset::read_csv_path(path)
                .with_context(|| format!("reading schools from {}", path.display()))?;
            (batch.records(), ImportMerge::Replace, batch, Vec::new())
        }
    };
    let mut batch = batch;
    batch.refuse_future_evaluations(latest);
    batch.sort_rejections();
    print_rejections(path, batch.rejections(), batch.rejected());
    let rejected = batch.rejected();
    let schools = batch.into_positioned_schools();
    Ok(ReadFile {
        rows,
        merge,
        schools,
        changes: Vec::new(),
        rejected,
        skipped,
    })
}

fn print_rejections(path: &Path, listed: &[dataset::Rejection], count: u64) {
    for rejection in listed {
        eprintln!("{}", printable(&format!("{}: {rejection}", path.display())));
    }
    let unlisted = count.saturating_sub(listed.len() as u64);
    if unlisted > 0 {
        eprintln!("{}: {unlisted} more rows rejected", path.display());
    }
}

/// Applies the file to the database, in one step (taking its schools; the
/// report needs only their count, which it has already).
fn write_database(config: &Config, file: &mut ReadFile) -> anyhow::Result<Applied> {
    let engine = open_database(config)?;
    let mut schools = || {
        std::mem::take(&mut file.schools)
            .into_iter()
            .map(|(_, school)| school)
            .collect()
    };
    let written = match file.merge {
        ImportMerge::Replace => engine.upsert_batch(schools()).map(|c| (c, Vec::new())),
        ImportMerge::Register => engine
            .merge_batch(schools(), dataset::merge_register)
            .map(|c| (c, Vec::new())),
        ImportMerge::Evaluations | ImportMerge::FsmPercent => engine
            .update_stored(
                file.changes
                    .iter()
                    .map(|row| (row.school.clone(), row.change.clone()))
                    .collect(),
                |school, change| change.apply(school),
            )
            .map(|updates| (updates.counts, updates.missing)),
    };
    let (counts, missing) = written
        .with_context(|| format!("writing into {}", super::commands::database_name(config)))?;
    Ok(Applied {
        destination: "the database",
        counts,
        not_stored: missing
            .into_iter()
            .map(|index| (file.changes[index].line, file.changes[index].school.clone()))
            .collect(),
        refused: Vec::new(),
    })
}

/// Streams the file to the server at `target` through ImportSchools,
/// with the merge of its kind; the server applies it in one step.
fn send(args: &ImportArgs, target: &str, file: &ReadFile) -> anyhow::Result<Applied> {
    // Each message's line in the file, by message number (1-based).
    let mut lines: Vec<u64> = Vec::new();
    let merge = match file.merge {
        ImportMerge::Replace => pb::ImportMerge::Replace,
        ImportMerge::Register => pb::ImportMerge::Register,
        ImportMerge::Evaluations => pb::ImportMerge::Evaluations,
        ImportMerge::FsmPercent => pb::ImportMerge::FsmPercent,
    } as i32;
    let mut messages: Vec<pb::ImportSchoolsRequest> = Vec::new();
    for (line, school) in &file.schools {
        lines.push(*line);
        messages.push(pb::ImportSchoolsRequest {
            school: Some(school_record_to_proto(school)),
            merge,
        });
    }
    for row in &file.changes {
        lines.push(row.line);
        let mut school = pb::School {
            id: row.school.to_string(),
            ..pb::School::default()
        };
        match &row.change {
            StoredChange::Evaluations(evaluations) => {
                school.evaluations = evaluations_record_to_proto(evaluations);
            }
            StoredChange::FsmPercent(percent) => school.fsm_percent = *percent,
        }
        messages.push(pb::ImportSchoolsRequest {
            school: Some(school),
            merge,
        });
    }
    if messages.is_empty() {
        bail!(
            "{}: no rows to send (every row was rejected)",
            args.file.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let response = runtime.block_on(async {
        let channel = connect(target, args.ca_cert.as_deref()).await?;
        let mut client =
            SchoolRegistryClient::new(channel).max_decoding_message_size(64 * 1024 * 1024);
        let request = with_token(tokio_stream::iter(messages), args.token.as_deref())
            .map_err(|status| anyhow::anyhow!("--token: {}", status.message()))?;
        let response = client.import_schools(request).await.map_err(|status| {
            anyhow::anyhow!(
                "{target} refused the import ({:?}): {}",
                status.code(),
                status.message()
            )
        })?;
        anyhow::Ok(response.into_inner())
    })?;
    let line_of = |message: u32| {
        lines
            .get((message as usize).wrapping_sub(1))
            .copied()
            .unwrap_or(0)
    };
    let mut not_stored = Vec::new();
    let mut refused = Vec::new();
    for error in &response.errors {
        let line = line_of(error.index);
        match SchoolId::parse(&error.school_id) {
            Ok(id) if error.message.ends_with(NOT_STORED_HINT) => {
                not_stored.push((line, id));
            }
            _ => refused.push((line, format!("{} ({})", error.message, error.school_id))),
        }
    }
    Ok(Applied {
        destination: "the server",
        counts: UpsertCounts {
            created: response.created,
            updated: response.updated,
            unchanged: response.unchanged,
        },
        not_stored,
        refused,
    })
}

/// A channel to `target`: `host:port` or `http://…` in the clear,
/// `https://…` over TLS (the public roots, and `ca_cert` if given).
async fn connect(target: &str, ca_cert: Option<&Path>) -> anyhow::Result<Channel> {
    let uri = if target.contains("://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    };
    let mut endpoint = Endpoint::from_shared(uri.clone())
        .with_context(|| format!("--target {target:?} is not an address (host:port or a URL)"))?;
    if uri.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().with_webpki_roots();
        if let Some(file) = ca_cert {
            let pem = std::fs::read(file)
                .with_context(|| format!("cannot read the CA certificate {}", file.display()))?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        endpoint = endpoint.tls_config(tls)?;
    } else if ca_cert.is_some() {
        bail!("--ca-cert needs an https:// --target");
    }
    endpoint
        .connect()
        .await
        .with_context(|| format!("cannot reach the server at {target}"))
}

/// The summary line (and the rows the database or server did not take).
fn report(path: &Path, file: &ReadFile, applied: &Applied) {
    let path = path.display();
    for (line, id) in &applied.not_stored {
        eprintln!(
            "{}",
            printable(&format!(
                "{path}: line {line} (school {id}): not in {}; import the school list first",
                applied.destination
            ))
        );
    }
    for (line, why) in &applied.refused {
        eprintln!(
            "{}",
            printable(&format!("{path}: line {line}: refused: {why}"))
        );
    }
    let counts = applied.counts;
    let rejected = file.rejected + applied.refused.len() as u64;
    if file.merge.changes_stored() {
        let schools: std::collections::HashSet<&SchoolId> =
            file.changes.iter().map(|row| &row.school).collect();
        println!(
            "{path}: {} rows, {} schools; updated {}, unchanged {}, not in {} {}, rejected {rejected}",
            file.rows,
            schools.len(),
            counts.updated,
            counts.unchanged,
            applied.destination,
            applied.not_stored.len(),
        );
    } else {
        println!(
            "{path}: {} rows; created {}, updated {}, unchanged {}, rejected {rejected}",
            file.rows, counts.created, counts.updated, counts.unchanged,
        );
    }
    for (why, count) in &file.skipped {
        if *count > 0 {
            println!("skipped {count}: {why}");
        }
    }
}

/// `--columns FILE` for `ofsted`: TOML with `urn` and `date` at the top and
/// a table per framework naming each area's column, e.g.
/// `[ofsted_report_card] achievement = "Achievement grade"`.
fn ofsted_columns(file: &Path) -> anyhow::Result<dataset::OfstedColumns> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the column file {}", file.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", file.display()))?;
    let mut renames: Vec<(String, String)> = Vec::new();
    for (key, value) in &table {
        match value {
            toml::Value::String(column) => renames.push((key.clone(), column.clone())),
            toml::Value::Table(areas) => {
                for (area, column) in areas {
                    let column = column.as_str().with_context(|| {
                        format!(
                            "{}: {key}.{area} must be a column name (a string)",
                            file.display()
                        )
                    })?;
                    renames.push((format!("{key}.{area}"), column.to_owned()));
                }
            }
            _ => bail!("{}: {key} must be a column name or a table", file.display()),
        }
    }
    dataset::OfstedColumns::with_renames(renames.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|error| anyhow::anyhow!("{}: {error}", file.display()))
}
