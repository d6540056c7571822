//! partnermatch's durable storage: the registry behind the engine's
//! `Persistence` port, in an embedded SQLite file (the default) or in
//! PostgreSQL. The tables' code is written once ([`sql`]), for both.
//!
//! SQLite ([`SqliteStore`]):
//! - WAL journal with `synchronous = FULL`: a transaction is on disk (its
//!   WAL frames synced) before `commit` returns, so every write the engine
//!   acknowledges survives a crash or SIGKILL, and a write cut off mid-way
//!   is rolled back on the next open.
//! - `locking_mode = EXCLUSIVE`: the server holds the file for as long as it
//!   runs, so a second server on the same database fails at start-up
//!   instead of both serving diverging copies.
//! - Schema migrations are the numbered files in `migrations/`, applied in
//!   order and tracked in SQLite's `user_version`.

// Only what another crate uses is public; everything else is pub(crate).
#![warn(unreachable_pub)]

mod partnerships;
mod postgres;
mod schools;
mod sql;
mod sqlite;

use std::path::PathBuf;

use partnermatch_core::{domain, engine};

pub use postgres::{LogTail, PostgresStore, create_database, is_postgres_url, redacted};
pub use sqlite::{IN_MEMORY, SqliteStore};

/// Why a database could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("database {path} is in use by another process (is another partnermatch serving it?)")]
    Locked { path: PathBuf },
    #[error("cannot migrate database {path} to the current schema: {message}")]
    Migrate { path: PathBuf, message: String },
    #[error("cannot read database {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("database {path} holds an invalid record: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl StoreError {
    /// The error for a table that could not be read from `path`.
    fn reading(path: impl Into<PathBuf>, error: sql::ReadError) -> StoreError {
        match error {
            sql::ReadError::Sql(error) => StoreError::Read {
                path: path.into(),
                message: error.0,
            },
            sql::ReadError::Invalid(message) => StoreError::Invalid {
                path: path.into(),
                message,
            },
        }
    }
}

/// Every school and partnership the database holds, each checked.
fn read_records(sql: &mut dyn sql::Sql) -> Result<engine::Records, sql::ReadError> {
    Ok(engine::Records {
        schools: schools::read_all(sql)?,
        partnerships: partnerships::read_all(sql)?,
        version: head(sql)?,
    })
}

/// The registry version: the number of the last write the database holds
/// (of the last entry in PostgreSQL's change log).
fn head(sql: &mut dyn sql::Sql) -> Result<u64, sql::ReadError> {
    use sql::RowExt;
    let mut head = None;
    sql.query("SELECT sequence FROM partnermatch_head", &[], &mut |row| {
        head = row.integer_as::<u64>("sequence")?;
        Ok(())
    })?;
    head.ok_or_else(|| sql::ReadError::Invalid("partnermatch_head has no sequence".into()))
}

/// Applies one change of the engine's in the transaction `sql`.
fn apply(sql: &mut dyn sql::Sql, change: engine::Change<'_>) -> Result<(), sql::SqlError> {
    match change {
        engine::Change::UpsertSchools(schools) => schools::upsert(sql, schools),
        engine::Change::DeleteSchool(id) => schools::delete(sql, id),
        engine::Change::PutPartnership(partnership) => partnerships::put(sql, partnership),
    }
}

#[cfg(test)]
mod fixtures {
    use crate::domain::{
        Affiliation, Affiliations, ContextMeasures, Evaluation, EvaluationArea,
        EvaluationFramework, FocusArea, GeoPoint, Judgement, LanguageMedium, Member, MemberRole,
        Partnership, PartnershipId, PartnershipKind, PartnershipStatus, Phase, Plan, School,
        SchoolId, Stage,
    };

    /// A school with every field given, values that round-trip only if
    /// stored exactly.
    pub(crate) fn full_school() -> School {
        School {
            id: SchoolId::parse("6601234").unwrap(),
            name: "Ysgol Gymraeg Aberystwyth".into(),
            phase: Phase::Primary,
            stage: Some(Stage::Amber),
            language_medium: Some(LanguageMedium::Welsh),
            location: GeoPoint::new(52.414_123_456_789, -4.081_987_654_321),
            local_authority: "Ceredigion".into(),
            consortium: "ERW".into(),
            pupils: Some(412),
            context: ContextMeasures {
                fsm_percent: Some(12.345_678_9),
                deprivation_percent: Some(0.1),
                aln_percent: Some(22.0),
                eal_percent: Some(0.0),
            },
            family_id: Some("hand-made".into()),
            strengths: [FocusArea::Literacy, FocusArea::WelshLanguage]
                .into_iter()
                .collect(),
            needs: [FocusArea::Numeracy].into_iter().collect(),
            capacity: Some(4),
            religious_character: "Church in Wales".into(),
            open: false,
            evaluations: vec![
                Evaluation {
                    framework: EvaluationFramework::Estyn,
                    area: EvaluationArea::Learning,
                    judgement: Judgement::Good,
                    date: jiff::civil::date(2021, 11, 30),
                    source: "https://www.estyn.gov.wales/".into(),
                },
                Evaluation {
                    framework: EvaluationFramework::WalesCategory,
                    area: EvaluationArea::Overall,
                    judgement: Judgement::Amber,
                    date: jiff::civil::date(2019, 1, 31),
                    source: String::new(),
                },
            ],
            affiliations: Affiliations {
                trust: Some(Affiliation::new("15432", "Ymddiriedolaeth Dysgu")),
                federation: None,
                diocese: Some(Affiliation::new("CW03", "")),
            },
        }
    }

    /// A school with nothing but what is required.
    pub(crate) fn sparse_school() -> School {
        School::new(
            SchoolId::parse("sparse").unwrap(),
            "Sparse",
            Phase::Pru,
            GeoPoint::new(51.5, -3.2),
        )
    }

    /// A partnership between the two schools with every field given.
    pub(crate) fn full_partnership(supported: &School, supporter: &School) -> Partnership {
        let created: jiff::Timestamp = "2026-09-01T08:30:00.123456789Z".parse().unwrap();
        Partnership {
            id: PartnershipId::numbered(7),
            kind: PartnershipKind::Support,
            status: PartnershipStatus::Proposed,
            members: vec![
                Member {
                    school_id: supported.id.clone(),
                    role: MemberRole::Supported,
                },
                Member {
                    school_id: supporter.id.clone(),
                    role: MemberRole::Supporter,
                },
            ],
            focus: [FocusArea::Literacy, FocusArea::Attendance]
                .into_iter()
                .collect(),
            plan: Plan {
                identified_need: "Reading ages ‘well below’ chronological age".into(),
                strategic_objectives: "Raise reading ages".into(),
                provision: "Two days a term of a literacy lead".into(),
                action_plan: "1. Audit\n2. Train".into(),
                success_criteria: "80% at expected level".into(),
                review_date: Some("2027-03-31".parse().unwrap()),
            },
            impact_rating: None,
            impact_notes: String::new(),
            version: 1,
            created_at: created,
            updated_at: created,
            started_at: None,
            finished_at: None,
        }
    }

    /// `partnership` moved on: completed, rated, every optional field set.
    pub(crate) fn completed(mut partnership: Partnership) -> Partnership {
        partnership.status = PartnershipStatus::Completed;
        partnership.version = 4;
        partnership.impact_rating = Some(crate::domain::ImpactRating::Green);
        partnership.impact_notes = "Reading ages up 14 months".into();
        partnership.started_at = Some(partnership.created_at);
        partnership.finished_at = Some("2027-07-20T15:00:00Z".parse().unwrap());
        partnership
    }
}
