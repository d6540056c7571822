//! Databases on the throwaway PostgreSQL server scripts/test starts
//! (scripts/postgres), for the tests that run the binary against one.

use std::sync::atomic::{AtomicU32, Ordering};

/// The test server's address: a database to connect to first.
fn server() -> String {
    std::env::var("PARTNERMATCH_TEST_POSTGRES").expect(
        "PARTNERMATCH_TEST_POSTGRES names the PostgreSQL server scripts/test starts; \
         run the tests that need it through scripts/test",
    )
}

/// The URL of a new, empty database on the test server. Safe to call from
/// async tests: the blocking client runs on a thread of its own.
pub(crate) fn fresh_database() -> String {
    std::thread::spawn(create_database)
        .join()
        .expect("creating a database")
}

fn create_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "integration_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    partnermatch_store::create_database(&server(), &name).expect("a new database")
}
