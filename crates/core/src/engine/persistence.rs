//! Where writes go before they are acknowledged. The engine hands every
//! accepted change to a [`Persistence`] first and applies it to the registry
//! only when that succeeded, so a failed write changes nothing, in memory or
//! on disk. The engine knows no storage format; `partnermatch-store` implements
//! this trait on SQLite.

use crate::domain::{Partnership, School};

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
pub trait Persistence: Send {
    /// Makes `change` durable in one transaction; returns only once it is
    /// (or with an error, having kept nothing of it).
    fn persist(&mut self, change: Change<'_>) -> Result<(), StorageError>;
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
            partnerships: Vec::new(),
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
}
