//! The SchoolRegistry service: validate, convert, call the engine, convert
//! back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tonic::{Request, Response, Status, Streaming};

use crate::dataset::{ImportBatch, ImportMerge, MAX_RECORDS, RecordUnit, merge_register};
use crate::domain::{School, SchoolId, Violations};
use crate::engine::{Engine, Error};

use super::convert::{
    families_to_proto, family_sizes_from_proto, import_change_from_proto, import_merge_from_proto,
    import_message_from_proto, list_schools_from_proto, list_schools_to_proto, rejection_to_proto,
    required_school, school_id, school_to_proto,
};
use super::error::{OrStatus, invalid, status_from_error};
use super::metrics::Metrics;
use super::pb;
use super::pb::school_registry_server::SchoolRegistry;

/// A long import logs its progress every this many messages.
const IMPORT_PROGRESS_EVERY: u64 = 100_000;

/// The memory import streams may hold while they are read (an import is
/// applied whole, so its schools are held until its last message): at
/// most `per_stream` bytes for one stream and `total` for all at once.
/// A message counts as its encoded size plus a school record's fixed size,
/// about what it takes once read.
#[derive(Debug)]
pub struct ImportBudget {
    per_stream: usize,
    total: usize,
    held: AtomicUsize,
}

impl ImportBudget {
    pub fn new(per_stream: usize, total: usize) -> Arc<ImportBudget> {
        Arc::new(ImportBudget {
            per_stream,
            total,
            held: AtomicUsize::new(0),
        })
    }

    /// Bytes held by import streams now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

/// What one import stream holds of the budget, given back when dropped.
#[derive(Debug)]
struct Reserved {
    budget: Arc<ImportBudget>,
    bytes: usize,
}

impl Reserved {
    fn new(budget: &Arc<ImportBudget>) -> Reserved {
        Reserved {
            budget: Arc::clone(budget),
            bytes: 0,
        }
    }

    /// Takes `bytes` more for the stream, or says why it may not.
    fn take(&mut self, bytes: usize) -> Result<(), Status> {
        let budget = &self.budget;
        if self.bytes + bytes > budget.per_stream {
            return Err(Status::resource_exhausted(format!(
                "an import stream may hold at most {} bytes of schools (--max-import-bytes); import the file in parts, or with `partnermatch import --db` while the server is stopped; nothing was imported",
                budget.per_stream
            )));
        }
        let before = budget.held.fetch_add(bytes, Ordering::AcqRel);
        if before + bytes > budget.total {
            budget.held.fetch_sub(bytes, Ordering::AcqRel);
            return Err(Status::resource_exhausted(format!(
                "imports in progress hold {before} bytes, and the server holds at most {} at once (--max-import-bytes-total); retry when they are done; nothing was imported",
                budget.total
            )));
        }
        self.bytes += bytes;
        Ok(())
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

pub struct RegistryService {
    engine: Arc<Engine>,
    metrics: Arc<Metrics>,
    imports: Arc<ImportBudget>,
}

impl RegistryService {
    pub fn new(
        engine: Arc<Engine>,
        metrics: Arc<Metrics>,
        imports: Arc<ImportBudget>,
    ) -> RegistryService {
        RegistryService {
            engine,
            metrics,
            imports,
        }
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

    fn failed(&mut self, received: u64, status: &Status) {
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

fn parse_id(field: &str, id: &str) -> Result<SchoolId, Status> {
    let mut v = Violations::new();
    school_id(&mut v, field, id).ok_or_else(|| invalid(v))
}

#[tonic::async_trait]
impl SchoolRegistry for RegistryService {
    async fn upsert_school(
        &self,
        request: Request<pb::UpsertSchoolRequest>,
    ) -> Result<Response<pb::UpsertSchoolResponse>, Status> {
        let pb::UpsertSchoolRequest { school } = request.into_inner();
        let school = required_school(school).map_err(invalid)?;
        let future = crate::domain::future_evaluations(
            &school.evaluations,
            self.engine.latest_evaluation_date(),
        );
        if !future.is_empty() {
            return Err(invalid(future.prefixed("school")));
        }
        let upserted = self.write(move |engine| engine.upsert(school)).await?;
        tracing::debug!(id = %upserted.school.stored.school.id, created = upserted.created, "upserted school");
        Ok(Response::new(pb::UpsertSchoolResponse {
            school: Some(school_to_proto(
                &upserted.school.stored,
                upserted.school.family_id,
            )),
            created: upserted.created,
        }))
    }

    async fn get_school(
        &self,
        request: Request<pb::GetSchoolRequest>,
    ) -> Result<Response<pb::School>, Status> {
        let pb::GetSchoolRequest { id } = request.into_inner();
        let id = parse_id("id", &id)?;
        let school = self.engine.school(id.as_str()).or_status()?;
        Ok(Response::new(school_to_proto(
            &school.stored,
            school.family_id,
        )))
    }

    async fn list_schools(
        &self,
        request: Request<pb::ListSchoolsRequest>,
    ) -> Result<Response<pb::ListSchoolsResponse>, Status> {
        let (filter, page) = list_schools_from_proto(request.into_inner()).map_err(invalid)?;
        let schools = self.engine.list(&filter, page.after.as_deref(), page.size);
        Ok(Response::new(list_schools_to_proto(&schools, &page)))
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
        let mut reserved = Reserved::new(&self.imports);
        let mut batch = ImportBatch::new(RecordUnit::Message);
        // Set by the first message.
        let mut merge: Option<ImportMerge> = None;
        while let Some(message) = stream.message().await.map_err(|status| {
            let status = malformed_stream(status);
            import.failed(batch.records(), &status);
            status
        })? {
            let position = batch.records() + 1;
            let size = prost::Message::encoded_len(&message) + std::mem::size_of::<School>();
            if let Err(status) = reserved.take(size) {
                import.failed(position, &status);
                return Err(status);
            }
            let asked = import_merge_from_proto(&message).map_err(|v| {
                let status = invalid(v);
                import.failed(position, &status);
                status
            })?;
            let stream_merge = *merge.get_or_insert(asked.unwrap_or_default());
            if let Some(asked) = asked
                && asked != stream_merge
            {
                let mut v = Violations::new();
                v.push(
                    "merge",
                    format!(
                        "message {position} asks for merge {} but the stream's is {} (from its first message): a later message may leave merge unset or repeat it; nothing was imported",
                        asked.name(),
                        stream_merge.name(),
                    ),
                );
                let status = invalid(v);
                import.failed(position, &status);
                return Err(status);
            }
            if position.is_multiple_of(IMPORT_PROGRESS_EVERY) {
                tracing::info!(
                    received = position,
                    rejected = batch.rejected(),
                    "import in progress"
                );
            }
            if position > MAX_RECORDS {
                let status = status_from_error(Error::ResourceExhausted(format!(
                    "an import stream may carry at most {MAX_RECORDS} schools; nothing was imported"
                )));
                import.failed(position, &status);
                return Err(status);
            }
            if stream_merge.changes_stored() {
                let (raw_id, change) = import_change_from_proto(message, stream_merge);
                batch.offer_change(position, &raw_id, change);
            } else {
                let (raw_id, school) = import_message_from_proto(message);
                batch.offer(position, &raw_id, "school.id", school);
            }
        }
        batch.refuse_future_evaluations(self.engine.latest_evaluation_date());
        let merge = merge.unwrap_or_default();
        // The stream ended. A client that resets its stream (cancel,
        // deadline) also ends the body cleanly as hyper and tonic read it;
        // only the HTTP/2 server, polling for resets while this handler is
        // pending, tells the two apart, by dropping the handler. So wait
        // one turn for it before writing anything.
        tokio::task::yield_now().await;
        let abandoned = Arc::clone(&import.abandoned);
        let received = batch.records();
        let schools = batch.take_schools();
        let changes = batch.take_changes();
        let positions: Vec<(u64, SchoolId)> = changes
            .iter()
            .map(|(position, id, _)| (*position, id.clone()))
            .collect();
        let applied = self
            .write(move |engine| {
                // Dropped while queued for the writer (a deadline): nothing.
                if abandoned.load(Ordering::Acquire) {
                    return Ok(None);
                }
                match merge {
                    ImportMerge::Replace => engine.upsert_batch(schools).map(|c| (c, Vec::new())),
                    ImportMerge::Register => engine
                        .merge_batch(schools, merge_register)
                        .map(|c| (c, Vec::new())),
                    ImportMerge::Evaluations | ImportMerge::FsmPercent => engine
                        .update_stored(
                            changes
                                .into_iter()
                                .map(|(_, id, change)| (id, change))
                                .collect(),
                            |school, change| change.apply(school),
                        )
                        .map(|updates| (updates.counts, updates.missing)),
                }
                .map(Some)
            })
            .await
            .inspect_err(|status| import.failed(received, status))?
            .ok_or_else(|| Status::cancelled("the import was abandoned; nothing was applied"))?;
        let (counts, missing) = applied;
        let not_stored = missing.len() as u32;
        for index in missing {
            let (position, id) = &positions[index];
            batch.reject_missing(*position, id, "school.id");
        }
        batch.sort_rejections();
        let rejected = batch.rejected();
        let errors = batch.rejections().iter().map(rejection_to_proto).collect();
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
            received: received as u32,
            created: counts.created,
            updated: counts.updated,
            unchanged: counts.unchanged,
            rejected: rejected as u32,
            errors,
            not_stored,
        }))
    }

    async fn compute_families(
        &self,
        request: Request<pb::ComputeFamiliesRequest>,
    ) -> Result<Response<pb::ComputeFamiliesResponse>, Status> {
        let sizes = family_sizes_from_proto(request.into_inner(), self.engine.config().families);
        let report = self.engine.families(sizes).or_status()?;
        Ok(Response::new(families_to_proto(&report)))
    }
}
