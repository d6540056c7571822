//! One import, from whatever source: the rows of a CSV file or the messages
//! of an ImportSchools stream. Each record is accepted or rejected with its
//! position and reason; a school id met again is rejected, naming where it
//! was first; every rejection is counted, the first
//! [`MAX_REJECTIONS_LISTED`] are described. The accepted schools are then
//! applied as one batch (`Engine::upsert_batch`), whole or not at all.

use std::collections::HashMap;
use std::fmt;

use crate::domain::{Evaluation, School, SchoolId, Violations, limits};

/// Most records one import may carry: the rows of one CSV file or the
/// messages of one ImportSchools stream.
pub const MAX_RECORDS: u64 = 1_000_000;

/// Ends the message of a change rejected because its school is not
/// stored, so a client can tell those from invalid records.
pub const NOT_STORED_HINT: &str = "import the school first";

/// Rejections an import describes; the rest are only counted, so a
/// million bad records make a short report.
pub const MAX_REJECTIONS_LISTED: usize = 1000;

/// What a record's position counts: a file's lines or a stream's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordUnit {
    /// 1-based line in the file (the header is line 1).
    Line,
    /// 1-based message in the stream.
    Message,
}

impl RecordUnit {
    fn name(self) -> &'static str {
        match self {
            RecordUnit::Line => "line",
            RecordUnit::Message => "message",
        }
    }
}

/// Why one record was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub unit: RecordUnit,
    /// 1-based line or message.
    pub position: u64,
    /// The record's school id as given (cut to an id's length), when it
    /// had one.
    pub school_id: Option<String>,
    /// Field or column of the first problem; empty for a record that could
    /// not be read at all.
    pub field: String,
    /// Every problem with the record.
    pub message: String,
}

impl fmt::Display for Rejection {
    /// One line, whatever the file held: what came from it is escaped
    /// ([`crate::domain::printable`]), so it cannot drive a terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::domain::printable;
        write!(f, "{} {}", self.unit.name(), self.position)?;
        if let Some(id) = &self.school_id {
            write!(f, " (school {})", printable(id))?;
        }
        write!(f, ": {}", printable(&self.message))
    }
}

/// The lines of a file that were not taken: every one counted, the first
/// [`MAX_REJECTIONS_LISTED`] described.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LineRejections {
    pub listed: Vec<Rejection>,
    pub count: u64,
}

impl LineRejections {
    /// Records that line `line` was not taken because of `field`.
    pub fn reject(&mut self, line: u64, field: &str, message: String) {
        self.count += 1;
        if self.listed.len() < MAX_REJECTIONS_LISTED {
            self.listed.push(Rejection {
                unit: RecordUnit::Line,
                position: line,
                school_id: None,
                field: field.to_owned(),
                message,
            });
        }
    }

    /// [`LineRejections::reject`] for a row's violations, under the field
    /// of the first.
    pub fn reject_all(&mut self, line: u64, v: &crate::domain::Violations) {
        let field = v.iter().next().map(|v| v.field.clone()).unwrap_or_default();
        self.reject(line, &field, v.to_string());
    }
}

crate::closed_set! {
    /// How an import's records meet the schools stored.
    #[derive(Default)]
    pub enum ImportMerge {
        /// Whole schools: created, or replacing the stored school.
        #[default]
        Replace = "replace",
        /// Register records: their fields replace the stored ones, the
        /// rest is kept (`merge_register`).
        Register = "register",
        /// Evaluations of stored schools ([`StoredChange::Evaluations`]).
        Evaluations = "evaluations",
        /// Free school meals of stored schools ([`StoredChange::FsmPercent`]).
        FsmPercent = "fsm_percent",
    }
}

impl ImportMerge {
    /// Whether each record is a change to a stored school rather than a
    /// school.
    pub fn changes_stored(self) -> bool {
        matches!(self, ImportMerge::Evaluations | ImportMerge::FsmPercent)
    }
}

/// What one record of an import about schools already stored changes
/// (`import ofsted`, `import statswales-fsm`, and an ImportSchools stream
/// that merges so); applied by `Engine::update_stored`.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredChange {
    /// Inspection outcomes: each replaces the stored evaluation of the same
    /// framework, area and date, or is added.
    Evaluations(Vec<Evaluation>),
    /// The percentage eligible for free school meals (`None`: unknown).
    FsmPercent(Option<f64>),
}

impl StoredChange {
    pub fn apply(self, school: &mut School) {
        match self {
            StoredChange::Evaluations(evaluations) => {
                school.evaluations =
                    super::ofsted::merge_evaluations(&school.evaluations, &evaluations);
            }
            StoredChange::FsmPercent(percent) => school.context.fsm_percent = percent,
        }
    }
}

/// A school's evaluation reduced to what makes two of them one judgement
/// (see [`Evaluation::same_judging`]), as a map key.
pub(crate) type JudgingKey = (
    SchoolId,
    crate::domain::EvaluationFramework,
    crate::domain::EvaluationArea,
    jiff::civil::Date,
);

pub(crate) fn judging_key(id: &SchoolId, evaluation: &Evaluation) -> JudgingKey {
    (
        id.clone(),
        evaluation.framework,
        evaluation.area,
        evaluation.date,
    )
}

/// One row of a file about schools already stored (outcomes, free school
/// meals): the school, what it changes, and the line it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    pub school: SchoolId,
    pub change: StoredChange,
    pub line: u64,
}

/// A file about schools already stored, read.
#[derive(Debug, Default)]
pub struct StoredImport {
    /// Rows in the file.
    pub rows: u64,
    /// The changes it makes, each with its school and line.
    pub changes: Vec<StoredRow>,
    /// Rows that could not be taken.
    pub rejections: LineRejections,
}

impl StoredImport {
    /// Rejects the rows holding evaluations dated after `latest` (see
    /// [`crate::domain::latest_evaluation_date`]).
    pub fn refuse_future_evaluations(&mut self, latest: jiff::civil::Date) {
        let mut kept = Vec::with_capacity(self.changes.len());
        for row in std::mem::take(&mut self.changes) {
            let future = match &row.change {
                StoredChange::Evaluations(evaluations) => {
                    crate::domain::future_evaluations(evaluations, latest)
                }
                StoredChange::FsmPercent(_) => Violations::new(),
            };
            if future.is_empty() {
                kept.push(row);
            } else {
                self.rejections.reject_all(row.line, &future);
            }
        }
        self.changes = kept;
        self.rejections
            .listed
            .sort_by_key(|rejection| rejection.position);
    }
}

/// The records of one import as they arrive.
#[derive(Debug)]
pub struct ImportBatch {
    unit: RecordUnit,
    schools: Vec<School>,
    /// Changes to stored schools, with their positions: several may name
    /// one school.
    changes: Vec<(u64, SchoolId, StoredChange)>,
    /// Where each accepted id was first seen.
    first_seen: HashMap<SchoolId, u64>,
    rejections: Vec<Rejection>,
    rejected: u64,
    records: u64,
    /// Where each evaluation of a change was first seen, by school,
    /// framework, area and date.
    evaluations_seen: HashMap<JudgingKey, u64>,
}

impl ImportBatch {
    pub fn new(unit: RecordUnit) -> ImportBatch {
        ImportBatch {
            unit,
            schools: Vec::new(),
            changes: Vec::new(),
            first_seen: HashMap::new(),
            rejections: Vec::new(),
            rejected: 0,
            records: 0,
            evaluations_seen: HashMap::new(),
        }
    }

    /// Rejects the records taken so far that hold evaluations dated after
    /// `latest` (see [`crate::domain::latest_evaluation_date`]).
    pub fn refuse_future_evaluations(&mut self, latest: jiff::civil::Date) {
        for school in std::mem::take(&mut self.schools) {
            let future = crate::domain::future_evaluations(&school.evaluations, latest);
            if future.is_empty() {
                self.schools.push(school);
            } else {
                let position = self.first_seen.remove(&school.id).unwrap_or_default();
                let id = school.id.as_str().to_owned();
                self.reject_all(position, &id, &future);
            }
        }
        for (position, id, change) in std::mem::take(&mut self.changes) {
            let future = match &change {
                StoredChange::Evaluations(evaluations) => {
                    crate::domain::future_evaluations(evaluations, latest)
                }
                StoredChange::FsmPercent(_) => Violations::new(),
            };
            if future.is_empty() {
                self.changes.push((position, id, change));
            } else {
                self.reject_all(position, id.as_str(), &future);
            }
        }
    }

    /// Takes the next record, converted: accepted unless it is invalid or
    /// its id was seen before. `raw_id` is the id as given, for the report;
    /// `id_field` names the id's field or column in the source.
    pub fn offer(
        &mut self,
        position: u64,
        raw_id: &str,
        id_field: &str,
        record: Result<School, Violations>,
    ) {
        self.records += 1;
        let school = record.and_then(|school| match self.first_seen.get(&school.id) {
            Some(first) => {
                let mut v = Violations::new();
                v.push(
                    id_field,
                    format!(
                        "duplicate id (first on {} {first}); this one is skipped",
                        self.unit.name()
                    ),
                );
                Err(v)
            }
            None => Ok(school),
        });
        match school {
            Ok(school) => {
                self.first_seen.insert(school.id.clone(), position);
                self.schools.push(school);
            }
            Err(violations) => self.reject_all(position, raw_id, &violations),
        }
    }

    /// Takes the next record of an import about schools already stored,
    /// converted: accepted unless it is invalid. Several may name one
    /// school (two inspections in one file).
    pub fn offer_change(
        &mut self,
        position: u64,
        raw_id: &str,
        record: Result<(SchoolId, StoredChange), Violations>,
    ) {
        self.records += 1;
        let record = record.and_then(|(id, change)| {
            let StoredChange::Evaluations(evaluations) = &change else {
                return Ok((id, change));
            };
            let mut v = Violations::new();
            for (i, evaluation) in evaluations.iter().enumerate() {
                // The same judgement twice in one import: which would count
                // depends on the order of the records.
                let key = judging_key(&id, evaluation);
                if let Some(first) = self.evaluations_seen.get(&key) {
                    v.push(
                        format!("evaluations[{i}]"),
                        format!(
                            "repeats {} {first}: {} judges {} of this school once on {}",
                            self.unit.name(),
                            evaluation.framework,
                            evaluation.area,
                            evaluation.date
                        ),
                    );
                }
            }
            if !v.is_empty() {
                return Err(v);
            }
            for evaluation in evaluations {
                self.evaluations_seen
                    .insert(judging_key(&id, evaluation), position);
            }
            Ok((id, change))
        });
        match record {
            Ok((id, change)) => self.changes.push((position, id, change)),
            Err(violations) => self.reject_all(position, raw_id, &violations),
        }
    }

    /// Takes the accepted changes, to apply; [`ImportBatch::reject_missing`]
    /// then reports those whose school is not stored.
    pub fn take_changes(&mut self) -> Vec<(u64, SchoolId, StoredChange)> {
        std::mem::take(&mut self.changes)
    }

    /// Rejects the change at `position`, taken earlier, because its school
    /// is not stored (`id_field` names the id's field or column). Which
    /// rejections are listed depends on the order they come in; call
    /// [`ImportBatch::sort_rejections`] after the last.
    pub fn reject_missing(&mut self, position: u64, id: &SchoolId, id_field: &str) {
        self.reject(
            position,
            id.as_str(),
            id_field.to_owned(),
            format!("{id_field}: no school {id} is stored; {NOT_STORED_HINT}"),
        );
    }

    /// Puts the listed rejections back in record order, after
    /// [`ImportBatch::reject_missing`] (found once the others were listed).
    pub fn sort_rejections(&mut self) {
        self.rejections.sort_by_key(|rejection| rejection.position);
    }

    fn reject_all(&mut self, position: u64, raw_id: &str, violations: &Violations) {
        let field = violations
            .iter()
            .next()
            .map(|v| v.field.clone())
            .unwrap_or_default();
        self.reject(position, raw_id, field, violations.to_string());
    }

    /// Takes a record that could not be read into fields at all.
    pub fn offer_unreadable(&mut self, position: u64, message: String) {
        self.records += 1;
        self.reject(position, "", String::new(), message);
    }

    fn reject(&mut self, position: u64, raw_id: &str, field: String, message: String) {
        self.rejected += 1;
        if self.rejections.len() < MAX_REJECTIONS_LISTED {
            let raw_id = raw_id.trim();
            self.rejections.push(Rejection {
                unit: self.unit,
                position,
                school_id: (!raw_id.is_empty())
                    .then(|| raw_id.chars().take(limits::ID_MAX_CHARS).collect()),
                field,
                message,
            });
        }
    }

    /// Records taken so far, accepted or not.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Records rejected so far (more than [`ImportBatch::rejections`] lists
    /// beyond [`MAX_REJECTIONS_LISTED`]).
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    pub fn schools(&self) -> &[School] {
        &self.schools
    }

    /// The first [`MAX_REJECTIONS_LISTED`] rejections, in order.
    pub fn rejections(&self) -> &[Rejection] {
        &self.rejections
    }

    /// The accepted schools, to apply.
    pub fn into_schools(self) -> Vec<School> {
        self.schools
    }

    /// The accepted schools with their positions (lines or messages), to
    /// apply.
    pub fn into_positioned_schools(self) -> Vec<(u64, School)> {
        let first_seen = self.first_seen;
        self.schools
            .into_iter()
            .map(|school| (first_seen.get(&school.id).copied().unwrap_or(0), school))
            .collect()
    }

    /// Takes the accepted schools, to apply, keeping the report.
    pub fn take_schools(&mut self) -> Vec<School> {
        std::mem::take(&mut self.schools)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GeoPoint, Phase};

    fn school(id: &str) -> School {
        School::new(
            SchoolId::parse(id).unwrap(),
            "A school",
            Phase::Primary,
            GeoPoint::new(51.5, -3.2),
        )
    }

    #[test]
    fn repeats_are_rejected_naming_the_first() {
        let mut batch = ImportBatch::new(RecordUnit::Message);
        batch.offer(1, "a", "school.id", Ok(school("a")));
        batch.offer(2, "b", "school.id", Ok(school("b")));
        batch.offer(3, "a", "school.id", Ok(school("a")));
        assert_eq!((batch.records(), batch.rejected()), (3, 1));
        let ids: Vec<_> = batch.schools().iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(
            batch.rejections()[0].to_string(),
            "message 3 (school a): school.id: duplicate id (first on message 1); this one is skipped"
        );
    }

    #[test]
    fn every_rejection_is_counted_and_the_first_are_listed() {
        let mut batch = ImportBatch::new(RecordUnit::Line);
        let long_id = "x".repeat(10_000);
        for line in 2..(MAX_REJECTIONS_LISTED as u64 + 12) {
            let mut v = Violations::new();
            v.push("phase", "is required");
            batch.offer(line, &long_id, "school_number", Err(v));
        }
        assert_eq!(batch.rejected(), MAX_REJECTIONS_LISTED as u64 + 10);
        assert_eq!(batch.rejections().len(), MAX_REJECTIONS_LISTED);
        let first = &batch.rejections()[0];
        assert_eq!((first.position, first.field.as_str()), (2, "phase"));
        assert_eq!(
            first.school_id.as_ref().map(String::len),
            Some(limits::ID_MAX_CHARS)
        );
    }
}
