//! Where writes go before they are acknowledged. The engine hands every
//! accepted change to a [`Persistence`] first and applies it to the registry
//! only when that succeeded, so a failed write changes nothing, in memory or
//! on disk. The engine knows no storage format; `partnermatch-store` implements
//! this trait on SQLite and on PostgreSQL.
//!
//! A store several servers share (PostgreSQL) also orders their writes:
//! [`Persistence::begin`] holds the others' writes off until this one is
//! persisted or abandoned, and hands the engine what they wrote before, so
//! every write is checked against the latest state of the registry.

use crate::domain::{Partnership, School};

use super::Replicated;

/// One write, made durable whole or not at all.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// Create or replace these schools.
    UpsertSchools(&'a [&'a School]),
    /// Remove the school with this id.
    DeleteSchool(&'a str),
    /// Create or replace this partnership (its members never change).
    PutPartnership(&'a Partnership),
}

/// A storage failure: the change was not made durable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

/// Durable storage for the engine's writes.
///
/// The engine calls, under its writer lock, `begin`, then `persist` at
/// most once, then `finish`. Each persisted change is the next registry
/// version: one more than the version the engine held.
pub trait Persistence: Send {
    /// Starts a write on a registry at `version`. A store shared with other
    /// servers holds their writes off until `finish`, and returns the
    /// changes they made after `version`, in order, each with its version,
    /// which the engine applies before it checks the write. A store of its
    /// own returns none.
    fn begin(&mut self, version: u64) -> Result<Vec<(u64, Replicated)>, StorageError> {
        let _ = version;
        Ok(Vec::new())
    }

    /// Makes `change` durable in one transaction; returns only once it is
    /// (or with an error, having kept nothing of it).
    fn persist(&mut self, change: Change<'_>) -> Result<(), StorageError>;

    /// Ends the write `begin` started: releases what it held if nothing
    /// was persisted (a refused write, or one that changed nothing).
    fn finish(&mut self) {}
}

/// Keeps nothing: for engines that live only in memory (tests, benchmarks).
#[derive(Debug, Clone, Copy, Default)]
pub struct InMemory;

impl Persistence for InMemory {
    fn persist(&mut self, _change: Change<'_>) -> Result<(), StorageError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, EngineConfig, Error};

    /// Refuses every change, like a full disk.
    struct Full;

    impl Persistence for Full {
        fn persist(&mut self, _change: Change<'_>) -> Result<(), StorageError> {
            Err(StorageError("database or disk is full".into()))
        }
    }

    fn school(id: &str) -> School {
        School::plain(id)
    }

    #[test]
    fn a_write_the_store_refuses_changes_nothing() {
        let records = crate::engine::Records {
            schools: vec![school("kept")],
            ..crate::engine::Records::default()
        };
        let engine = Engine::open(EngineConfig::default(), Box::new(Full), records).unwrap();
        let before = engine.snapshot();
        let error = engine.upsert(school("new")).unwrap_err();
        assert!(matches!(error, Error::Storage(_)), "{error}");
        assert!(error.to_string().contains("nothing was changed"), "{error}");
        assert!(matches!(
            engine.upsert_batch(vec![school("a"), school("b")]),
            Err(Error::Storage(_))
        ));
        assert!(matches!(engine.delete("kept"), Err(Error::Storage(_))));
        assert!(engine.get("new").is_err());
        assert!(engine.get("kept").is_ok());
        assert!(
            std::sync::Arc::ptr_eq(&before, &engine.snapshot()),
            "no snapshot was published"
        );
        // Re-sending what is stored needs no write, so it succeeds.
        let counts = engine.upsert_batch(vec![school("kept")]).unwrap();
        assert_eq!(counts.unchanged, 1);
    }

    /// A store shared with another server, which wrote `others` first.
    struct Shared {
        others: Vec<(u64, Replicated)>,
        calls: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl Persistence for Shared {
        fn begin(&mut self, version: u64) -> Result<Vec<(u64, Replicated)>, StorageError> {
            self.calls.lock().unwrap().push(format!("begin {version}"));
            Ok(std::mem::take(&mut self.others))
        }

        fn persist(&mut self, _change: Change<'_>) -> Result<(), StorageError> {
            self.calls.lock().unwrap().push("persist".into());
            Ok(())
        }

        fn finish(&mut self) {
            self.calls.lock().unwrap().push("finish".into());
        }
    }

    /// A write is checked against what the other servers sharing the
    /// store wrote before it: the engine applies their changes first (here
    /// one deleted the school this write deletes, so it is NOT_FOUND), and
    /// its own write is the version after theirs.
    #[test]
    fn a_write_on_a_shared_store_is_checked_after_the_changes_before_it() {
        let calls = std::sync::Arc::default();
        let others = vec![
            (
                1,
                Replicated {
                    schools: vec![school("c")],
                    ..Replicated::default()
                },
            ),
            (
                2,
                Replicated {
                    deleted: vec![crate::domain::SchoolId::parse("b").unwrap()],
                    ..Replicated::default()
                },
            ),
        ];
        let store = Shared {
            others,
            calls: std::sync::Arc::clone(&calls),
        };
        let records = crate::engine::Records {
            schools: vec![school("a"), school("b")],
            ..crate::engine::Records::default()
        };
        let engine = Engine::open(EngineConfig::default(), Box::new(store), records).unwrap();
        assert_eq!(engine.version(), 0);
        let error = engine.delete("b").unwrap_err();
        assert!(matches!(error, Error::NotFound { .. }), "{error}");
        assert_eq!(engine.version(), 2);
        assert!(engine.get("c").is_ok());
        engine.upsert(school("d")).unwrap();
        assert_eq!(engine.version(), 3);
        let held: Vec<String> = engine
            .snapshot()
            .schools()
            .iter()
            .map(|s| s.school.id.to_string())
            .collect();
        assert_eq!(held, ["a", "c", "d"]);
        assert_eq!(
            *calls.lock().unwrap(),
            ["begin 0", "finish", "begin 2", "persist", "finish"]
        );
    }
}
