//! The SchoolRegistry service: validate, convert, call the engine, convert
//! back.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tonic::{Request, Response, Status, Streaming};

use crate::domain::{SchoolId, TextKind, Violations};
use crate::engine::{Engine, Error, FamilyConfig, ListFilter};

use super::convert::{
    encode_page_token, optional_phase, optional_stage, page_request, page_scope, phase_to_proto,
    school_from_proto, school_to_proto,
};
use super::error::{OrStatus, invalid, status_from_error};
use super::metrics::Metrics;
use super::pb;
use super::pb::school_registry_server::SchoolRegistry;

/// Most messages one ImportSchools stream may carry: as many as the rows
/// of one CSV file.
pub const MAX_IMPORT_MESSAGES: u32 = crate::dataset::MAX_ROWS as u32;

/// Rejected messages an import answer describes; `rejected` counts the
/// rest, so a stream of a million bad messages gets a small answer.
pub(crate) const MAX_IMPORT_ERRORS_LISTED: usize = 1000;

/// A long import logs its progress every this many messages.
const IMPORT_PROGRESS_EVERY: u32 = 100_000;

pub struct RegistryService {
    engine: Arc<Engine>,
    metrics: Arc<Metrics>,
}

impl RegistryService {
    pub fn new(engine: Arc<Engine>, metrics: Arc<Metrics>) -> RegistryService {
        RegistryService { engine, metrics }
    }

    async fn write<T, F>(&self, write: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> Result<T, Error> + Send + 'static,
    {
        super::write_off_workers(&self.engine, write).await
    }
}

/// An import stream being read: if it is dropped or fails before it is
/// applied (client cancel or reset, deadline, dropped connection, a
/// malformed message), it says so in the log and makes sure its write is
/// never started — an import is applied whole or not at all.
#[derive(Debug)]
struct ImportInProgress {
    abandoned: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    /// Set when the failure was already logged.
    reported: bool,
    done: bool,
}

impl ImportInProgress {
    fn new(metrics: &Arc<Metrics>) -> ImportInProgress {
        ImportInProgress {
            abandoned: Arc::default(),
            metrics: Arc::clone(metrics),
            reported: false,
            done: false,
        }
    }

    fn failed(&mut self, received: u32, status: &Status) {
        if self.reported {
            return;
        }
        self.abandoned.store(true, Ordering::Release);
        self.metrics.count_abandoned_import();
        self.reported = true;
        tracing::warn!(
            received,
            code = ?status.code(),
            reason = status.message(),
            "import abandoned: nothing was applied"
        );
    }

    fn finished(&mut self) {
        self.done = true;
    }
}

impl Drop for ImportInProgress {
    fn drop(&mut self) {
        if !self.done && !self.reported {
            self.abandoned.store(true, Ordering::Release);
            self.metrics.count_abandoned_import();
            tracing::warn!(
                "import abandoned before it was applied (the client cancelled or reset the stream, its connection closed, or the deadline passed): nothing was applied"
            );
        }
    }
}

/// A request stream's failure as the client should read it: bytes that are
/// not well-formed gRPC messages are the client's fault (tonic reports
/// them as INTERNAL).
fn malformed_stream(status: Status) -> Status {
    if status.code() == tonic::Code::Internal {
        Status::invalid_argument(format!("malformed request stream: {}", status.message()))
    } else {
        status
    }
}

/// The `school` field of a request, converted; field paths start `school.`.
fn required_school(school: Option<pb::School>) -> Result<crate::domain::School, Violations> {
    match school {
        Some(school) => school_from_proto(school).map_err(|v| v.prefixed("school")),
        None => {
            let mut v = Violations::new();
            v.push("school", "is required");
            Err(v)
        }
    }
}

fn parse_id(field: &str, id: &str) -> Result<SchoolId, Status> {
    SchoolId::parse(id).map_err(|problem| {
        let mut v = Violations::new();
        v.push(field, problem);
        invalid(v)
    })
}

#[tonic::async_trait]
impl SchoolRegistry for RegistryService {
    async fn upsert_school(
        &self,
        request: Request<pb::UpsertSchoolRequest>,
    ) -> Result<Response<pb::UpsertSchoolResponse>, Status> {
        let pb::UpsertSchoolRequest { school } = request.into_inner();
        let school = required_school(school).map_err(invalid)?;
        let upserted = self.write(move |engine| engine.upsert(school)).await?;
        tracing::debug!(id = %upserted.school.school.id, created = upserted.created, "upserted school");
        Ok(Response::new(pb::UpsertSchoolResponse {
            school: Some(school_to_proto(&upserted.school)),
            created: upserted.created,
        }))
    }

    async fn get_school(
        &self,
        request: Request<pb::GetSchoolRequest>,
    ) -> Result<Response<pb::School>, Status> {
        let pb::GetSchoolRequest { id } = request.into_inner();
        let id = parse_id("id", &id)?;
        let stored = self.engine.get(id.as_str()).or_status()?;
        Ok(Response::new(school_to_proto(&stored)))
    }

    async fn list_schools(
        &self,
        request: Request<pb::ListSchoolsRequest>,
    ) -> Result<Response<pb::ListSchoolsResponse>, Status> {
        let pb::ListSchoolsRequest {
            page_size,
            page_token,
            consortium,
            local_authority,
            phase,
            stage,
            family_id,
        } = request.into_inner();
        let mut v = Violations::new();
        let scope = page_scope(
            "ListSchools",
            &(&consortium, &local_authority, phase, stage, &family_id),
        );
        let (page_size, after) =
            page_request(&mut v, "ListSchools", &scope, page_size, &page_token);
        let filter = ListFilter {
            phase: optional_phase(&mut v, "phase", phase),
            stage: optional_stage(&mut v, "stage", stage),
            consortium,
            local_authority,
            family_id,
        };
        v.check_text(
            "consortium",
            &filter.consortium,
            0,
            crate::domain::limits::AREA_MAX_CHARS,
            TextKind::Line,
        );
        v.check_text(
            "local_authority",
            &filter.local_authority,
            0,
            crate::domain::limits::AREA_MAX_CHARS,
            TextKind::Line,
        );
        v.check_text(
            "family_id",
            &filter.family_id,
            0,
            crate::domain::limits::FAMILY_ID_MAX_CHARS,
            TextKind::Line,
        );
        if !v.is_empty() {
            return Err(invalid(v));
        }
        let page = self.engine.list(&filter, after.as_deref(), page_size);
        Ok(Response::new(pb::ListSchoolsResponse {
            schools: page.items.iter().map(|s| school_to_proto(s)).collect(),
            next_page_token: page
                .next_after
                .as_deref()
                .map(|after| encode_page_token(&scope, after))
                .unwrap_or_default(),
            total_size: page.total,
        }))
    }

    async fn delete_school(
        &self,
        request: Request<pb::DeleteSchoolRequest>,
    ) -> Result<Response<pb::DeleteSchoolResponse>, Status> {
        let pb::DeleteSchoolRequest { id } = request.into_inner();
        let id = parse_id("id", &id)?;
        let removed = self.write(move |engine| engine.delete(id.as_str())).await?;
        tracing::debug!(id = %removed.school.id, "deleted school");
        Ok(Response::new(pb::DeleteSchoolResponse {}))
    }

    async fn import_schools(
        &self,
        request: Request<Streaming<pb::ImportSchoolsRequest>>,
    ) -> Result<Response<pb::ImportSchoolsResponse>, Status> {
        let mut stream = request.into_inner();
        let mut import = ImportInProgress::new(&self.metrics);
        let mut received = 0u32;
        let mut rejected = 0u32;
        let mut errors = Vec::new();
        let mut valid = Vec::new();
        // First position of each id in this stream, to reject repeats.
        let mut positions: HashMap<String, u32> = HashMap::new();
        while let Some(message) = stream.message().await.map_err(|status| {
            let status = malformed_stream(status);
            import.failed(received, &status);
            status
        })? {
            received += 1;
            if received.is_multiple_of(IMPORT_PROGRESS_EVERY) {
                tracing::info!(received, rejected, "import in progress");
            }
            if received > MAX_IMPORT_MESSAGES {
                let status = status_from_error(Error::ResourceExhausted(format!(
                    "an import stream may carry at most {MAX_IMPORT_MESSAGES} schools; nothing was imported"
                )));
                import.failed(received, &status);
                return Err(status);
            }
            let pb::ImportSchoolsRequest { school } = message;
            // As sent, cut to an id's length: the answer never echoes
            // megabytes back.
            let raw_id: String = school
                .as_ref()
                .map(|s| {
                    s.id.chars()
                        .take(crate::domain::limits::ID_MAX_CHARS)
                        .collect()
                })
                .unwrap_or_default();
            let converted = required_school(school);
            let converted = converted.and_then(|school| match positions.get(school.id.as_str()) {
                Some(first) => {
                    let mut v = Violations::new();
                    v.push(
                        "school.id",
                        format!("duplicate of message {first} in this stream"),
                    );
                    Err(v)
                }
                None => Ok(school),
            });
            match converted {
                Ok(school) => {
                    positions.insert(school.id.to_string(), received);
                    valid.push(school);
                }
                Err(violations) => {
                    rejected += 1;
                    if errors.len() < MAX_IMPORT_ERRORS_LISTED {
                        errors.push(pb::ImportError {
                            index: received,
                            school_id: raw_id,
                            field: violations
                                .iter()
                                .next()
                                .map(|v| v.field.clone())
                                .unwrap_or_default(),
                            message: violations.to_string(),
                        });
                    }
                }
            }
        }
        // The stream ended. A client that resets its stream (cancel,
        // deadline) also ends the body cleanly as hyper and tonic read it;
        // only the HTTP/2 server, polling for resets while this handler is
        // pending, tells the two apart, by dropping the handler. So wait
        // one turn for it before writing anything.
        tokio::task::yield_now().await;
        let abandoned = Arc::clone(&import.abandoned);
        let counts = self
            .write(move |engine| {
                // Dropped while queued for the writer (a deadline): nothing.
                if abandoned.load(Ordering::Acquire) {
                    return Ok(None);
                }
                engine.upsert_batch(valid).map(Some)
            })
            .await
            .inspect_err(|status| import.failed(received, status))?
            .ok_or_else(|| Status::cancelled("the import was abandoned; nothing was applied"))?;
        import.finished();
        tracing::info!(
            received,
            created = counts.created,
            updated = counts.updated,
            unchanged = counts.unchanged,
            rejected,
            "import finished"
        );
        Ok(Response::new(pb::ImportSchoolsResponse {
            received,
            created: counts.created,
            updated: counts.updated,
            unchanged: counts.unchanged,
            rejected,
            errors,
        }))
    }

    async fn compute_families(
        &self,
        request: Request<pb::ComputeFamiliesRequest>,
    ) -> Result<Response<pb::ComputeFamiliesResponse>, Status> {
        let pb::ComputeFamiliesRequest {
            target_size,
            min_size,
        } = request.into_inner();
        let sizes = (target_size.is_some() || min_size.is_some()).then(|| {
            let in_use = self.engine.config().families;
            FamilyConfig {
                target_size: target_size.map_or(in_use.target_size, |n| n as usize),
                min_size: min_size.map_or(in_use.min_size, |n| n as usize),
            }
        });
        let report = self.engine.families(sizes).or_status()?;
        Ok(Response::new(pb::ComputeFamiliesResponse {
            families: report
                .families
                .iter()
                .map(|family| pb::Family {
                    id: family.id.clone(),
                    phase: phase_to_proto(family.phase) as i32,
                    language_group: family.language_group.to_owned(),
                    size_band: family.size_band.to_owned(),
                    member_ids: family.members.iter().map(ToString::to_string).collect(),
                    challenge_min: family.challenge_min,
                    challenge_max: family.challenge_max,
                })
                .collect(),
            target_size: report.sizes.target_size as u32,
            min_size: report.sizes.min_size as u32,
            in_use: report.in_use,
            given_family_schools: report.given,
            without_challenge_index: report.without_challenge,
        }))
    }
}
