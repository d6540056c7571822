//! PostgreSQL as the store: the system of record an operator already runs,
//! backs up and replicates, which several partnermatch servers can share.
//!
//! - Each write is one transaction, committed (and so, with PostgreSQL's
//!   default `synchronous_commit`, flushed) before the engine
//!   acknowledges it.
//! - The schema is the numbered files in `migrations/postgres/`, each
//!   applied once in its own transaction and noted in
//!   `partnermatch_migrations`, under an advisory lock: servers starting
//!   together migrate once, the others wait and find nothing to do.
//! - A connection that was lost (PostgreSQL restarted) is opened again at
//!   the next write; the write that found it lost fails and changes
//!   nothing.
//! - Every write also appends an entry to the change log
//!   (`partnermatch_changes`, numbered in commit order) and notifies
//!   [`CHANGES_CHANNEL`] with its number, in the same transaction: what
//!   servers sharing the database follow.

use std::collections::HashMap;
use std::error::Error;
use std::mem::ManuallyDrop;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Config, NoTls, Statement};

use crate::StoreError;
use crate::domain::SchoolId;
use crate::engine::{Change, Persistence, Records, Replicated, StorageError};
use crate::sql::{ReadError, Row, Sql, SqlError, Value};

/// The schema, one migration per file, numbered from 1 in order. Never
/// edit one that has shipped: add the next.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_registry.sql"),
    include_str!("../migrations/postgres/0002_changes.sql"),
];

/// The kinds of change-log entry (the CHECK of `partnermatch_changes.kind`).
const SCHOOLS_WRITTEN: &str = "schools";
const SCHOOL_DELETED: &str = "school_deleted";
const PARTNERSHIP_WRITTEN: &str = "partnership";

/// The channel every write notifies, with its number in the change log.
pub(crate) const CHANGES_CHANNEL: &str = "partnermatch_changes";

/// The advisory lock the migrations are applied under ("partnermatch"
/// in ASCII, truncated): one key for every partnermatch database.
const MIGRATION_LOCK: i64 = 0x7061_7274_6e65_726d;

/// Whether `--db` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((user_info, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match user_info.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Creates an empty database named `name` on the server of `server` (a
/// URL of one of its databases) and returns that URL with `name` in place
/// of its database: for tests and benchmarks, which each want their own.
pub fn create_database(server: &str, name: &str) -> Result<String, StoreError> {
    let failed = |message: String| StoreError::Open {
        path: redacted(server).into(),
        message,
    };
    let (prefix, _) = server
        .rsplit_once('/')
        .ok_or_else(|| failed("the URL names no database".into()))?;
    Client::connect(server, NoTls)
        .and_then(|mut client| client.batch_execute(&format!("CREATE DATABASE {name}")))
        .map_err(|error| failed(message(&error)))?;
    Ok(format!("{prefix}/{name}"))
}

/// A PostgreSQL database behind an engine.
pub struct PostgresStore {
    config: Config,
    /// Dropped on a thread of its own (see `Drop`).
    client: ManuallyDrop<Client>,
    /// Statements prepared on `client`, by their text.
    statements: HashMap<String, Statement>,
    /// Whether the last write failed: the connection may be the cause
    /// (lost before the client noticed), so the next opens a new one.
    suspect: bool,
    /// The URL without its password.
    name: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.name)
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://USER@HOST:PORT/DB`),
    /// brings its schema up to date and reads everything it holds, in one
    /// consistent snapshot of the database.
    pub fn open(url: &str) -> Result<(PostgresStore, Records), StoreError> {
        let name = redacted(url);
        let open_error = |message: String| StoreError::Open {
            path: name.clone().into(),
            message,
        };
        let config: Config = url
            .parse()
            .map_err(|error: postgres::Error| open_error(error.to_string()))?;
        let mut client = config
            .connect(NoTls)
            .map_err(|error| open_error(message(&error)))?;
        migrate(&mut client).map_err(|message| StoreError::Migrate {
            path: name.clone().into(),
            message,
        })?;
        let mut store = PostgresStore {
            config,
            client: ManuallyDrop::new(client),
            statements: HashMap::new(),
            suspect: false,
            name: name.clone(),
        };
        let records = store
            .read()
            .map_err(|error| StoreError::reading(name, error))?;
        Ok((store, records))
    }

    fn read(&mut self) -> Result<Records, ReadError> {
        let mut transaction = consistent_read(&mut self.client)?;
        let records = crate::read_records(&mut Pg {
            transaction: &mut transaction,
            statements: &mut self.statements,
        })?;
        transaction.commit().map_err(sql_error)?;
        Ok(records)
    }

    /// The change log's entries after number `after`, in order, each with
    /// what it wrote as the database holds it now, read in one consistent
    /// snapshot of the database: what a server sharing the database
    /// applies ([`Engine::apply_replicated`](crate::engine::Engine::apply_replicated))
    /// to catch up. A row an entry names that a later entry deleted is
    /// left out of it (the later entry deletes it).
    pub fn changes_after(&mut self, after: u64) -> Result<Vec<(u64, Replicated)>, StoreError> {
        let name = self.name.clone();
        let reading = |error: ReadError| StoreError::reading(name.clone(), error);
        self.reconnect_if_suspect()
            .map_err(|error| reading(error.into()))?;
        let mut transaction =
            consistent_read(&mut self.client).map_err(|error| reading(error.into()))?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let entries: Vec<(i64, String, Vec<String>)> = transaction
            .query(
                "SELECT sequence, kind, ids FROM partnermatch_changes \
                 WHERE sequence > $1 ORDER BY sequence",
                &[&after],
            )
            .and_then(|rows| {
                rows.iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
                    .collect()
            })
            .map_err(|error| reading(sql_error(error).into()))?;
        let mut sql = Pg {
            transaction: &mut transaction,
            statements: &mut self.statements,
        };
        let mut changes = Vec::with_capacity(entries.len());
        for (sequence, kind, ids) in entries {
            let mut replicated = Replicated::default();
            match kind.as_str() {
                SCHOOLS_WRITTEN => {
                    for id in &ids {
                        replicated
                            .schools
                            .extend(crate::schools::read_one(&mut sql, id).map_err(reading)?);
                    }
                }
                PARTNERSHIP_WRITTEN => {
                    for id in &ids {
                        replicated
                            .partnerships
                            .extend(crate::partnerships::read_one(&mut sql, id).map_err(reading)?);
                    }
                }
                SCHOOL_DELETED => {
                    for id in &ids {
                        replicated
                            .deleted
                            .push(SchoolId::parse(id).map_err(|problem| {
                                reading(ReadError::Invalid(format!(
                                    "change {sequence}: school id {id:?} {problem}"
                                )))
                            })?);
                    }
                }
                other => {
                    return Err(reading(ReadError::Invalid(format!(
                        "change {sequence} is of unknown kind {other:?}"
                    ))));
                }
            }
            changes.push((sequence as u64, replicated));
        }
        transaction
            .commit()
            .map_err(|error| reading(sql_error(error).into()))?;
        Ok(changes)
    }

    /// Opens the connection again if PostgreSQL closed it, or the last
    /// write failed.
    fn reconnect_if_suspect(&mut self) -> Result<(), SqlError> {
        if self.suspect || self.client.is_closed() {
            *self.client = self
                .config
                .connect(NoTls)
                .map_err(|error| SqlError(message(&error)))?;
            // Prepared statements belonged to the old connection.
            self.statements.clear();
            self.suspect = false;
        }
        Ok(())
    }
}

/// A read-only transaction that sees one snapshot of the database
/// throughout (REPEATABLE READ).
fn consistent_read(client: &mut Client) -> Result<postgres::Transaction<'_>, SqlError> {
    client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(sql_error)
}

impl Drop for PostgresStore {
    /// The blocking client closes its connection by running its own async
    /// runtime, which panics on a thread that drives one (a server's engine
    /// is often dropped on one): so it is closed on a thread of its own.
    fn drop(&mut self) {
        // SAFETY: `client` is taken once, here, and never used again.
        let client = unsafe { ManuallyDrop::take(&mut self.client) };
        let _ = std::thread::spawn(move || drop(client)).join();
    }
}

/// Applies every migration the database has not had, under the advisory
/// lock; refuses a database migrated by a newer partnermatch.
fn migrate(client: &mut Client) -> Result<(), String> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|error| message(&error))?;
    let applied = apply_migrations(client);
    // Unlocked whatever happened; a lost connection unlocks by itself.
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    applied?;
    unlocked.map(drop).map_err(|error| message(&error))
}

fn apply_migrations(client: &mut Client) -> Result<(), String> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS partnermatch_migrations (\
                 version BIGINT PRIMARY KEY, \
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .map_err(|error| message(&error))?;
    let current: i64 = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM partnermatch_migrations",
            &[],
        )
        .and_then(|row| row.try_get(0))
        .map_err(|error| message(&error))?;
    let latest = MIGRATIONS.len() as i64;
    if current > latest {
        return Err(format!(
            "the database is at schema version {current}, newer than this partnermatch's {latest}"
        ));
    }
    for (number, migration) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = number as i64 + 1;
        let mut transaction = client.transaction().map_err(|error| message(&error))?;
        transaction
            .batch_execute(migration)
            .and_then(|()| {
                transaction.execute(
                    "INSERT INTO partnermatch_migrations (version) VALUES ($1)",
                    &[&version],
                )
            })
            .map_err(|error| format!("migration {version}: {}", message(&error)))?;
        transaction.commit().map_err(|error| message(&error))?;
    }
    Ok(())
}

impl Persistence for PostgresStore {
    fn persist(&mut self, change: Change<'_>) -> Result<(), StorageError> {
        let written = self.write(change);
        self.suspect = written.is_err();
        written.map_err(|error| StorageError(error.0))
    }
}

impl PostgresStore {
    fn write(&mut self, change: Change<'_>) -> Result<(), SqlError> {
        self.reconnect_if_suspect()?;
        let mut transaction = self.client.transaction().map_err(sql_error)?;
        let (kind, ids) = logged(&change);
        crate::apply(
            &mut Pg {
                transaction: &mut transaction,
                statements: &mut self.statements,
            },
            change,
        )?;
        // The head's row lock, held to the commit, numbers the entries in
        // commit order.
        let sequence: i64 = transaction
            .query_one(
                "UPDATE partnermatch_head SET sequence = sequence + 1 RETURNING sequence",
                &[],
            )
            .and_then(|row| row.try_get(0))
            .map_err(sql_error)?;
        transaction
            .execute(
                "INSERT INTO partnermatch_changes (sequence, kind, ids) VALUES ($1, $2, $3)",
                &[&sequence, &kind, &ids],
            )
            .and_then(|_| {
                transaction.execute(
                    "SELECT pg_notify($1, $2)",
                    &[&CHANGES_CHANNEL, &sequence.to_string()],
                )
            })
            .map_err(sql_error)?;
        transaction.commit().map_err(sql_error)
    }
}

/// A change's entry in the log: its kind and the ids it writes.
fn logged<'c>(change: &Change<'c>) -> (&'static str, Vec<&'c str>) {
    match change {
        Change::UpsertSchools(schools) => (
            SCHOOLS_WRITTEN,
            schools.iter().map(|school| school.id.as_str()).collect(),
        ),
        Change::DeleteSchool(id) => (SCHOOL_DELETED, vec![id]),
        Change::PutPartnership(partnership) => (PARTNERSHIP_WRITTEN, vec![partnership.id.as_str()]),
    }
}

/// What PostgreSQL said, without the client's "db error: " prefix.
fn message(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => db.to_string(),
        None => error.to_string(),
    }
}

fn sql_error(error: postgres::Error) -> SqlError {
    SqlError(message(&error))
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Text(text) => text.to_sql(ty, out),
            Value::Real(real) => real.to_sql(ty, out),
            Value::Integer(integer) => integer.to_sql(ty, out),
            Value::Boolean(boolean) => boolean.to_sql(ty, out),
        }
    }

    /// Every column type: the value's own `to_sql` refuses a mismatch.
    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Statements in a transaction, each prepared once per connection.
struct Pg<'a, 't> {
    transaction: &'a mut postgres::Transaction<'t>,
    statements: &'a mut HashMap<String, Statement>,
}

impl Pg<'_, '_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, SqlError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.transaction.prepare(sql).map_err(sql_error)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

fn parameters(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|value| value as &(dyn ToSql + Sync))
        .collect()
}

impl Sql for Pg<'_, '_> {
    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<u64, SqlError> {
        let statement = self.statement(sql)?;
        self.transaction
            .execute(&statement, &parameters(values))
            .map_err(sql_error)
    }

    fn query(
        &mut self,
        sql: &str,
        values: &[Value],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        let statement = self.statement(sql)?;
        for row in self
            .transaction
            .query(&statement, &parameters(values))
            .map_err(sql_error)?
        {
            each(&PgRow(&row))?;
        }
        Ok(())
    }
}

struct PgRow<'r>(&'r postgres::Row);

impl Row for PgRow<'_> {
    fn text(&self, column: &str) -> Result<Option<String>, SqlError> {
        self.0.try_get(column).map_err(sql_error)
    }

    fn real(&self, column: &str) -> Result<Option<f64>, SqlError> {
        self.0.try_get(column).map_err(sql_error)
    }

    fn integer(&self, column: &str) -> Result<Option<i64>, SqlError> {
        self.0.try_get(column).map_err(sql_error)
    }

    fn boolean(&self, column: &str) -> Result<Option<bool>, SqlError> {
        self.0.try_get(column).map_err(sql_error)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use postgres::fallible_iterator::FallibleIterator;

    use super::*;
    use crate::domain::School;
    use crate::fixtures::{completed, full_partnership, full_school, sparse_school};

    /// The test server's address (a database to connect to first).
    fn server() -> String {
        std::env::var("PARTNERMATCH_TEST_POSTGRES").expect(
            "PARTNERMATCH_TEST_POSTGRES names the PostgreSQL server scripts/test starts; \
             run the tests that need it through scripts/test",
        )
    }

    /// The URL of a new, empty database on the test server.
    fn fresh_database() -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "store_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        create_database(&server(), &name).unwrap()
    }

    #[test]
    #[ignore = "needs PostgreSQL: scripts/test starts one"]
    fn schools_and_partnerships_round_trip_exactly_through_postgres() {
        let url = fresh_database();
        let (mut store, records) = PostgresStore::open(&url).unwrap();
        assert!(records.is_empty());
        let (full, sparse) = (full_school(), sparse_school());
        let mut gone = sparse_school();
        gone.id = SchoolId::parse("gone").unwrap();
        store
            .persist(Change::UpsertSchools(&[&full, &sparse, &gone]))
            .unwrap();
        store.persist(Change::DeleteSchool("gone")).unwrap();
        let partnership = full_partnership(&sparse, &full);
        store.persist(Change::PutPartnership(&partnership)).unwrap();
        let partnership = completed(partnership);
        store.persist(Change::PutPartnership(&partnership)).unwrap();
        let mut renamed = full_school();
        renamed.name = "Renamed".into();
        store.persist(Change::UpsertSchools(&[&renamed])).unwrap();
        drop(store);

        let (_store, records) = PostgresStore::open(&url).unwrap();
        assert_eq!(records.schools, vec![renamed, sparse]);
        assert_eq!(records.partnerships, vec![partnership]);
    }

    #[test]
    #[ignore = "needs PostgreSQL: scripts/test starts one"]
    fn servers_starting_together_migrate_once() {
        let url = fresh_database();
        let opened: Vec<_> = std::thread::scope(|scope| {
            let starting: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| PostgresStore::open(&url).map(drop)))
                .collect();
            starting.into_iter().map(|s| s.join().unwrap()).collect()
        });
        assert!(opened.iter().all(Result::is_ok), "{opened:?}");
        let versions: Vec<i64> = Client::connect(&url, NoTls)
            .unwrap()
            .query(
                "SELECT version FROM partnermatch_migrations ORDER BY version",
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(versions, (1..=MIGRATIONS.len() as i64).collect::<Vec<_>>());
    }

    #[test]
    #[ignore = "needs PostgreSQL: scripts/test starts one"]
    fn a_database_from_a_newer_schema_or_with_a_record_partnermatch_would_not_write_is_refused() {
        let url = fresh_database();
        let (mut store, _) = PostgresStore::open(&url).unwrap();
        store
            .persist(Change::UpsertSchools(&[&full_school()]))
            .unwrap();
        drop(store);
        let mut client = Client::connect(&url, NoTls).unwrap();
        client
            .batch_execute("UPDATE schools SET phase = 'university'")
            .unwrap();
        let error = PostgresStore::open(&url).unwrap_err().to_string();
        assert!(
            error.contains(
                "holds an invalid record: school \"6601234\": phase \"university\" is not valid"
            ),
            "{error}"
        );
        client
            .batch_execute("INSERT INTO partnermatch_migrations (version) VALUES (99)")
            .unwrap();
        let error = PostgresStore::open(&url).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "cannot migrate database {} to the current schema: the database is at schema version 99",
                redacted(&url)
            )),
            "{error}"
        );
    }

    /// Each write appends one entry to the change log, numbered in commit
    /// order from 1 with its kind and ids, and notifies the channel with
    /// its number once committed; a write that fails appends nothing.
    #[test]
    #[ignore = "needs PostgreSQL: scripts/test starts one"]
    fn every_write_is_logged_in_order_and_notified() {
        let url = fresh_database();
        let mut listener = Client::connect(&url, NoTls).unwrap();
        let (mut store, _) = PostgresStore::open(&url).unwrap();
        listener
            .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
            .unwrap();
        let (full, sparse) = (full_school(), sparse_school());
        store
            .persist(Change::UpsertSchools(&[&full, &sparse]))
            .unwrap();
        let partnership = full_partnership(&sparse, &full);
        store.persist(Change::PutPartnership(&partnership)).unwrap();
        // A school in a partnership cannot go: refused by the foreign key,
        // so nothing is logged.
        assert!(store.persist(Change::DeleteSchool("sparse")).is_err());
        let mut gone = sparse_school();
        gone.id = SchoolId::parse("gone").unwrap();
        store.persist(Change::UpsertSchools(&[&gone])).unwrap();
        store.persist(Change::DeleteSchool("gone")).unwrap();

        let entries: Vec<(i64, String, Vec<String>)> = listener
            .query(
                "SELECT sequence, kind, ids FROM partnermatch_changes ORDER BY sequence",
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect();
        let entry = |sequence: i64, kind: &str, ids: &[&str]| {
            (
                sequence,
                kind.to_owned(),
                ids.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            entries,
            vec![
                entry(1, "schools", &["6601234", "sparse"]),
                entry(2, "partnership", &["p-000007"]),
                entry(3, "schools", &["gone"]),
                entry(4, "school_deleted", &["gone"]),
            ]
        );
        let notified: Vec<String> = listener
            .notifications()
            .timeout_iter(std::time::Duration::from_secs(5))
            .take(4)
            .map(|notification| Ok(notification.payload().to_owned()))
            .collect()
            .unwrap();
        assert_eq!(notified, ["1", "2", "3", "4"]);
    }

    /// A second server on the database reads the log's entries after the
    /// last it applied, each with its rows as the database holds them now
    /// (a row deleted since is left out), and an engine given them holds
    /// what the first server wrote.
    #[test]
    #[ignore = "needs PostgreSQL: scripts/test starts one"]
    fn a_follower_reads_the_changes_after_the_last_it_applied() {
        let url = fresh_database();
        let (mut writer, _) = PostgresStore::open(&url).unwrap();
        let (mut follower, records) = PostgresStore::open(&url).unwrap();
        let engine = crate::engine::Engine::open(
            crate::engine::EngineConfig::default(),
            Box::new(crate::engine::InMemory),
            records,
        )
        .unwrap();
        let (full, sparse) = (full_school(), sparse_school());
        writer
            .persist(Change::UpsertSchools(&[&full, &sparse]))
            .unwrap();
        let partnership = full_partnership(&sparse, &full);
        writer
            .persist(Change::PutPartnership(&partnership))
            .unwrap();
        let mut gone = sparse_school();
        gone.id = SchoolId::parse("gone").unwrap();
        writer.persist(Change::UpsertSchools(&[&gone])).unwrap();
        writer.persist(Change::DeleteSchool("gone")).unwrap();
        let mut renamed = full_school();
        renamed.name = "Renamed".into();
        writer.persist(Change::UpsertSchools(&[&renamed])).unwrap();

        let changes = follower.changes_after(0).unwrap();
        let numbers: Vec<u64> = changes.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5]);
        assert_eq!(changes[0].1.schools, vec![renamed.clone(), sparse.clone()]);
        assert_eq!(changes[1].1.partnerships, vec![partnership.clone()]);
        assert!(changes[2].1.schools.is_empty(), "deleted since");
        assert_eq!(changes[3].1.deleted, vec![gone.id.clone()]);
        assert_eq!(changes[4].1.schools, vec![renamed.clone()]);
        assert!(follower.changes_after(5).unwrap().is_empty());
        assert_eq!(follower.changes_after(3).unwrap().len(), 2);

        for (_, replicated) in changes {
            engine.apply_replicated(replicated).unwrap();
        }
        let snapshot = engine.snapshot();
        let held: Vec<&School> = snapshot.schools().iter().map(|s| &s.school).collect();
        assert_eq!(held, [&renamed, &sparse]);
        assert_eq!(*snapshot.partnerships()[0], partnership);
    }

    /// PostgreSQL ending the store's connection (a restart) fails at most
    /// the write that finds it gone, keeping nothing of it; the next
    /// connects again.
    #[test]
    #[ignore = "needs PostgreSQL: scripts/test starts one"]
    fn a_lost_connection_is_opened_again_at_the_next_write() {
        let url = fresh_database();
        let (mut store, _) = PostgresStore::open(&url).unwrap();
        let (full, sparse) = (full_school(), sparse_school());
        store.persist(Change::UpsertSchools(&[&full])).unwrap();
        let mut admin = Client::connect(&url, NoTls).unwrap();
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .unwrap();
        let first = store.persist(Change::UpsertSchools(&[&sparse]));
        if first.is_err() {
            store.persist(Change::UpsertSchools(&[&sparse])).unwrap();
        }
        store
            .persist(Change::DeleteSchool(full.id.as_str()))
            .unwrap();
        drop(store);
        let (_store, records) = PostgresStore::open(&url).unwrap();
        assert_eq!(records.schools, vec![sparse]);
    }

    #[test]
    fn urls_select_postgres_and_lose_their_passwords_in_messages() {
        assert!(is_postgres_url("postgres://pm@db:5432/pm"));
        assert!(is_postgres_url("postgresql://pm@db/pm"));
        assert!(!is_postgres_url("/var/lib/partnermatch/registry.db"));
        assert_eq!(
            redacted("postgres://pm:s3cret@db:5432/pm"),
            "postgres://pm:***@db:5432/pm"
        );
        assert_eq!(redacted("postgres://pm@db/pm"), "postgres://pm@db/pm");
        assert_eq!(redacted("postgres://db/pm"), "postgres://db/pm");
    }
}
