//! The repository stands alone: nothing it tracks refers to a path outside
//! it (a clone must carry everything its tests, README, docs and comments
//! use), and every relative link in its Markdown leads to a file it has.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files git tracks (relative to the root), or, outside a checkout,
/// every file below the root but build output.
fn tracked_files() -> Vec<PathBuf> {
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|output| output.status.success());
    if let Some(output) = listed {
        return output
            .stdout
            .split(|b| *b == 0)
            .filter(|name| !name.is_empty())
            .map(|name| PathBuf::from(String::from_utf8_lossy(name).into_owned()))
            .collect();
    }
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(root().join(&dir)).unwrap() {
            let entry = entry.unwrap();
            let relative = dir.join(entry.file_name());
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | "corpus" | "artifacts") {
                    pending.push(relative);
                }
            } else {
                files.push(relative);
            }
        }
    }
    files
}

/// Where `reference` (a relative path written in the file at `file`) leads,
/// normalised; `None` if it climbs above the root.
fn resolve(file: &Path, reference: &str) -> Option<PathBuf> {
    let mut parts: Vec<Component> = file
        .parent()
        .unwrap_or(Path::new(""))
        .components()
        .collect();
    for part in Path::new(reference).components() {
        match part {
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            other => parts.push(other),
        }
    }
    Some(parts.iter().collect())
}

/// Every `../…` path written in `text`.
fn parent_references(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("../") {
        // The whole token: from the first `../` back-to-back, then path
        // characters.
        let start = at;
        let end = rest[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || "./_-".contains(c)))
            .map_or(rest.len(), |n| start + n);
        let token = &rest[start..end];
        // A lone `..` inside a longer word (e.g. `a../b`) is not a path.
        let preceded_by_path = rest[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !preceded_by_path {
            found.push(token);
        }
        rest = &rest[end.max(start + 3)..];
    }
    found
}

#[test]
fn no_tracked_file_refers_to_a_path_outside_the_repository() {
    // Built from parts, so this file does not name them itself.
    let workshop = ["..", "/shared"].concat();
    let machine = ["/", "work", "/"].concat();
    let mut outside = Vec::new();
    for file in tracked_files() {
        let Ok(text) = std::fs::read_to_string(root().join(&file)) else {
            continue; // binary
        };
        for (number, line) in text.lines().enumerate() {
            let at = || format!("{}:{}: {}", file.display(), number + 1, line.trim());
            if line.contains(&workshop) || line.contains(&machine) {
                outside.push(at());
                continue;
            }
            for reference in parent_references(line) {
                if resolve(&file, reference).is_none() {
                    outside.push(at());
                }
            }
        }
    }
    assert!(
        outside.is_empty(),
        "tracked files refer to paths outside the repository:\n{}",
        outside.join("\n")
    );
}

#[test]
fn markdown_links_lead_to_files_in_the_repository() {
    let mut broken = Vec::new();
    for file in tracked_files() {
        if file.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(root().join(&file)).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split('#').next().unwrap_or_default();
            rest = &after[end..];
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            match resolve(&file, target) {
                Some(path) if root().join(&path).exists() => {}
                _ => broken.push(format!("{}: {target}", file.display())),
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_checks_find_what_they_look_for() {
    let file = Path::new("tests/integration/common.rs");
    assert_eq!(parent_references("join(\"../x/y\")"), ["../x/y"]);
    assert!(resolve(file, "../../data/wales").is_some());
    let up = "../";
    assert!(resolve(file, &[up, up, up, "elsewhere"].concat()).is_none());
    assert!(resolve(Path::new("README.md"), &[up, "docs"].concat()).is_none());
}
