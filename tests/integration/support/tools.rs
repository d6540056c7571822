//! The external tools some tests drive the server with: real `grpcurl` and
//! Python with `grpcio`. Those tests are `#[ignore]`d, so a plain
//! `cargo test` shows them as ignored rather than passing them silently;
//! `scripts/test` installs the tools (`scripts/tools`) and runs them with
//! `--ignored`, where a missing tool fails the run.

use std::path::{Path, PathBuf};
use std::process::Output;

/// The tool at `$env_var`, or `default` on the PATH if it runs `probe`;
/// a test that asked for it fails otherwise.
fn tool(name: &str, env_var: &str, default: &str, probe: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var) {
        return PathBuf::from(path);
    }
    let works = std::process::Command::new(default)
        .args(probe)
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        works,
        "{name} is required by this test but missing: run scripts/test, which installs it, or set {env_var}"
    );
    PathBuf::from(default)
}

pub fn grpcurl() -> PathBuf {
    tool("grpcurl", "PARTNERMATCH_GRPCURL", "grpcurl", &["--version"])
}

pub fn python() -> PathBuf {
    tool(
        "python3 with grpcio and grpcio-tools",
        "PARTNERMATCH_PYTHON",
        "python3",
        &["-c", "import grpc, grpc_tools"],
    )
}

/// Runs `program args…` and returns what it did.
pub async fn run(program: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}
