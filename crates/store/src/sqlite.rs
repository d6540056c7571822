//! The embedded SQLite file: one server holds it (an exclusive lock), every
//! write synced before the engine acknowledges it.

use std::path::{Path, PathBuf};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use rusqlite_migration::{M, Migrations};

use crate::StoreError;
use crate::engine::{Change, Persistence, Records, StorageError};
use crate::sql::{ReadError, Row, Sql, SqlError, Value};

/// The schema, one migration per file, in order. Never edit one that has
/// shipped: add the next.
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("../migrations/0001_schools.sql")),
    M::up(include_str!("../migrations/0002_partnerships.sql")),
    M::up(include_str!("../migrations/0003_evaluations.sql")),
    M::up(include_str!("../migrations/0004_affiliations.sql")),
    M::up(include_str!("../migrations/0005_version.sql")),
];

/// A database path meaning "no file": a throwaway in-memory database.
pub const IN_MEMORY: &str = ":memory:";

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
        let mut connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| classify_open_error(path, source))?;
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
        let records = crate::read_records(&mut Lite(&connection))
            .map_err(|error| StoreError::reading(path, error))?;
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
            path: PathBuf::from(path),
            message: source.to_string(),
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
        let mut sql = Lite(&transaction);
        crate::apply(&mut sql, change)
            .and_then(|()| {
                sql.execute("UPDATE partnermatch_head SET sequence = sequence + 1", &[])
                    .map(drop)
            })
            .map_err(|error| StorageError(error.0))?;
        transaction.commit().map_err(storage_error)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
            Value::Real(real) => ValueRef::Real(*real),
            Value::Integer(integer) => ValueRef::Integer(*integer),
            Value::Boolean(boolean) => ValueRef::Integer(i64::from(*boolean)),
        }))
    }
}

fn sql_error(error: rusqlite::Error) -> SqlError {
    SqlError(error.to_string())
}

/// Statements on a connection (a transaction is one too); each statement
/// is prepared once per connection and kept.
struct Lite<'c>(&'c Connection);

impl Sql for Lite<'_> {
    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<u64, SqlError> {
        let changed = self
            .0
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute(rusqlite::params_from_iter(values)))
            .map_err(sql_error)?;
        Ok(changed as u64)
    }

    fn query(
        &mut self,
        sql: &str,
        values: &[Value],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        let mut statement = self.0.prepare_cached(sql).map_err(sql_error)?;
        let mut rows = statement
            .query(rusqlite::params_from_iter(values))
            .map_err(sql_error)?;
        while let Some(row) = rows.next().map_err(sql_error)? {
            each(&LiteRow(row))?;
        }
        Ok(())
    }
}

struct LiteRow<'r, 's>(&'r rusqlite::Row<'s>);

impl Row for LiteRow<'_, '_> {
    fn text(&self, column: &str) -> Result<Option<String>, SqlError> {
        self.0.get(column).map_err(sql_error)
    }

    fn real(&self, column: &str) -> Result<Option<f64>, SqlError> {
        self.0.get(column).map_err(sql_error)
    }

    fn integer(&self, column: &str) -> Result<Option<i64>, SqlError> {
        self.0.get(column).map_err(sql_error)
    }

    fn boolean(&self, column: &str) -> Result<Option<bool>, SqlError> {
        self.0.get(column).map_err(sql_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SchoolId;
    use crate::fixtures::{completed, full_partnership, full_school, sparse_school};

    #[test]
    fn migrations_are_valid() {
        Migrations::from_slice(MIGRATIONS).validate().unwrap();
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
        assert_eq!(records.version, 2, "the registry version survives");
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
        let partnership = full_partnership(&sparse, &full);
        store.persist(Change::PutPartnership(&partnership)).unwrap();
        // An update rewrites the row in place; members stay as they were.
        let partnership = completed(partnership);
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
