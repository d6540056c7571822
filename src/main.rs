//! The `partnermatch` command line: `serve`, and the commands around it
//! (`broker`, `families`, `bench`, `token`, `config`). See `src/cli/`.

mod cli;

// See Cargo.toml: memory freed by writes and imports goes back to the
// system.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    match cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // Errors quote files, flags and answers: each line escaped, so
            // none of it can drive the terminal.
            let text = format!("Error: {error:?}");
            for line in text.lines() {
                eprintln!("{}", partnermatch_core::domain::printable(line));
            }
            std::process::ExitCode::FAILURE
        }
    }
}
