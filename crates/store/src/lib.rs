//! partnermatch's durable storage: the registry in an embedded SQLite
//! database, behind the engine's `Persistence` port.
//!
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
mod schools;

use std::path::{Path, PathBuf};

use partnermatch_core::{domain, engine};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use rusqlite_migration::{M, Migrations};

use crate::engine::{Change, Persistence, Records, StorageError};

/// The schema, one migration per file, in order. Never edit one that has
/// shipped: add the next.
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("../migrations/0001_schools.sql")),
    M::up(include_str!("../migrations/0002_partnerships.sql")),
    M::up(include_str!("../migrations/0003_evaluations.sql")),
    M::up(include_str!("../migrations/0004_affiliations.sql")),
];

/// A database path meaning "no file": a throwaway in-memory database.
pub const IN_MEMORY: &str = ":memory:";

/// Why a database could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path} is in use by another process (is another partnermatch serving it?)")]
    Locked { path: PathBuf },
    #[error("cannot migrate database {path} to the current schema: {message}")]
    Migrate { path: PathBuf, message: String },
    #[error("cannot read database {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path} holds an invalid record: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// `INSERT … ON CONFLICT (id) DO UPDATE` for `table` with `columns` (a
/// comma-separated list starting with `id`): an upsert that updates in
/// place (REPLACE would delete the row first, which rows referencing it do
/// not allow). Parameters `?1`… follow `columns`.
fn upsert_sql(table: &str, columns: &str) -> String {
    let columns: Vec<&str> = columns.split(',').map(str::trim).collect();
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let updates: Vec<String> = columns[1..]
        .iter()
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}",
        columns.join(", "),
        placeholders.join(", "),
        updates.join(", ")
    )
}

/// Why reading a table failed.
enum ReadError {
    Sql(rusqlite::Error),
    /// A row whose values partnermatch would not have written.
    Invalid(String),
}

impl ReadError {
    /// An error if the domain's rules found something wrong with a row
    /// read back: `kind` and `id` name it ("school 6602130").
    fn check(kind: &str, id: &str, violations: domain::Violations) -> Result<(), ReadError> {
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ReadError::Invalid(format!("{kind} {id}: {violations}")))
        }
    }
}

impl From<rusqlite::Error> for ReadError {
    fn from(error: rusqlite::Error) -> ReadError {
        ReadError::Sql(error)
    }
}

/// The SQLite database behind an engine.
pub struct SqliteStore {
    connection: Connection,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.connection.path())
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, brings its schema
    /// up to date and reads everything it holds. `:memory:` opens a
    /// throwaway in-memory database.
    pub fn open(path: &Path) -> Result<(SqliteStore, Records), StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_error)?;
        configure(&connection).map_err(|source| classify_open_error(path, source))?;
        Migrations::from_slice(MIGRATIONS)
            .to_latest(&mut connection)
            .map_err(|error| match error {
                rusqlite_migration::Error::RusqliteError { err, .. } => {
                    classify_open_error(path, err)
                }
                other => StoreError::Migrate {
                    path: path.to_owned(),
                    message: other.to_string(),
                },
            })?;
        let read_error = |error| match error {
            ReadError::Sql(source) => StoreError::Read {
                path: path.to_owned(),
                source,
            },
            ReadError::Invalid(message) => StoreError::Invalid {
                path: path.to_owned(),
                message,
            },
        };
        let records = Records {
            schools: schools::read_all(&connection).map_err(read_error)?,
            partnerships: partnerships::read_all(&connection).map_err(read_error)?,
        };
        Ok((SqliteStore { connection }, records))
    }
}

/// Connection settings; the `BEGIN IMMEDIATE` takes the exclusive lock now
/// rather than at the first write.
fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(std::time::Duration::ZERO)?;
    connection.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    let mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if mode != "wal" && mode != "memory" {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode WAL was refused (got {mode})"
        )));
    }
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.execute_batch("BEGIN IMMEDIATE; COMMIT;")
}

/// A busy database is another process holding it; other errors say what
/// SQLite found (e.g. "file is not a database").
fn classify_open_error(path: &Path, source: rusqlite::Error) -> StoreError {
    match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Locked {
                path: path.to_owned(),
            }
        }
        _ => StoreError::Open {
            path: path.to_owned(),
            source,
        },
    }
}

impl Persistence for SqliteStore {
    fn persist(&mut self, change: Change<'_>) -> Result<(), StorageError> {
        let storage_error = |error: rusqlite::Error| StorageError(error.to_string());
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage_error)?;
        match change {
            Change::UpsertSchools(schools) => schools::upsert(&transaction, schools),
            Change::DeleteSchool(id) => schools::delete(&transaction, id),
            Change::PutPartnership(partnership) => partnerships::put(&transaction, partnership),
        }
        .map_err(storage_error)?;
        transaction.commit().map_err(storage_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Affiliation, Affiliations, ContextMeasures, Evaluation, EvaluationArea,
        EvaluationFramework, FocusArea, GeoPoint, ImpactRating, Judgement, LanguageMedium, Member,
        MemberRole, Partnership, PartnershipId, PartnershipKind, PartnershipStatus, Phase, Plan,
        School, SchoolId, Stage,
    };

    #[test]
    fn upserts_update_every_column_but_the_id() {
        assert_eq!(
            upsert_sql("t", "id, a, b"),
            "INSERT INTO t (id, a, b) VALUES (?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET a = excluded.a, b = excluded.b"
        );
    }

    #[test]
    fn migrations_are_valid() {
        Migrations::from_slice(MIGRATIONS).validate().unwrap();
    }

    fn full_school() -> School {
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

    fn sparse_school() -> School {
        School::new(
            SchoolId::parse("sparse").unwrap(),
            "Sparse",
            Phase::Pru,
            GeoPoint::new(51.5, -3.2),
        )
    }

    #[test]
    fn schools_round_trip_exactly_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let (mut store, records) = SqliteStore::open(&path).unwrap();
        assert!(records.is_empty());
        let (full, sparse) = (full_school(), sparse_school());
        let mut gone = sparse_school();
        gone.id = SchoolId::parse("gone").unwrap();
        store
            .persist(Change::UpsertSchools(&[&full, &sparse, &gone]))
            .unwrap();
        store.persist(Change::DeleteSchool("gone")).unwrap();
        drop(store);

        let (_store, records) = SqliteStore::open(&path).unwrap();
        assert_eq!(records.schools, vec![full, sparse]);
    }

    #[test]
    fn partnerships_round_trip_exactly_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let (mut store, _) = SqliteStore::open(&path).unwrap();
        let (full, sparse) = (full_school(), sparse_school());
        store
            .persist(Change::UpsertSchools(&[&full, &sparse]))
            .unwrap();
        let created: jiff::Timestamp = "2026-09-01T08:30:00.123456789Z".parse().unwrap();
        let mut partnership = Partnership {
            id: PartnershipId::numbered(7),
            kind: PartnershipKind::Support,
            status: PartnershipStatus::Proposed,
            members: vec![
                Member {
                    school_id: sparse.id.clone(),
                    role: MemberRole::Supported,
                },
                Member {
                    school_id: full.id.clone(),
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
        };
        store.persist(Change::PutPartnership(&partnership)).unwrap();
        // An update rewrites the row in place; members stay as they were.
        partnership.status = PartnershipStatus::Completed;
        partnership.version = 4;
        partnership.impact_rating = Some(ImpactRating::Green);
        partnership.impact_notes = "Reading ages up 14 months".into();
        partnership.started_at = Some(created);
        partnership.finished_at = Some("2027-07-20T15:00:00Z".parse().unwrap());
        store.persist(Change::PutPartnership(&partnership)).unwrap();
        // A school that partnerships reference is updated in place.
        let mut renamed = full_school();
        renamed.name = "Renamed".into();
        store.persist(Change::UpsertSchools(&[&renamed])).unwrap();
        drop(store);

        let (_store, records) = SqliteStore::open(&path).unwrap();
        assert_eq!(records.partnerships, vec![partnership]);
        assert_eq!(records.schools[0].name, "Renamed");
    }

    #[test]
    fn a_record_partnermatch_would_not_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let (mut store, _) = SqliteStore::open(&path).unwrap();
        store
            .persist(Change::UpsertSchools(&[&full_school()]))
            .unwrap();
        store
            .connection
            .execute("UPDATE schools SET phase = 'university'", [])
            .unwrap();
        drop(store);
        let error = SqliteStore::open(&path).unwrap_err();
        assert!(
            error.to_string().contains(
                "holds an invalid record: school \"6601234\": phase \"university\" is not valid"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_database_from_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let (store, _) = SqliteStore::open(&path).unwrap();
        store
            .connection
            .pragma_update(None, "user_version", 99)
            .unwrap();
        drop(store);
        let error = SqliteStore::open(&path).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "cannot migrate database {} to the current schema",
                path.display()
            )),
            "{error}"
        );
    }
}
