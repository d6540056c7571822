//! The engine knows nothing of gRPC (docs/design.md): no file under `src/domain`,
//! `src/engine` or `src/dataset` names tonic, prost or the API layer.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn core_modules_do_not_depend_on_grpc() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for module in ["domain", "engine", "dataset"] {
        rust_files(&src.join(module), &mut files);
    }
    assert!(files.len() >= 10, "found the sources: {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Whole identifiers only ("monotonic" is fine).
        for identifier in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            assert!(
                !(identifier.starts_with("tonic")
                    || identifier.starts_with("prost")
                    || identifier == "api"),
                "{} mentions {identifier}: the core must not know gRPC or the API layer",
                file.display()
            );
        }
    }
}
