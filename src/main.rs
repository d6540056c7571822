//! The `partnermatch` command line: `serve`, and the commands around it
//! (`broker`, `families`, `bench`, `token`, `config`). See `src/cli/`.

mod cli;

// See Cargo.toml: memory freed by writes and imports goes back to the
// system.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    cli::run()
}
