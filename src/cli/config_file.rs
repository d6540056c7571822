//! The configuration file (`--config PATH` or `PARTNERMATCH_CONFIG`): a TOML
//! table whose keys are the long flags of the command being run, with `_`
//! for `-` (`listen = "0.0.0.0:50051"`, `max_in_flight = 512`,
//! `tokens = ["reader:…"]`, `no_auth = true`). Its values become the flags'
//! defaults, so the environment overrides the file and flags override both.

use std::path::Path;

use anyhow::{Context, bail};
use clap::Command;

/// The config path given on the command line (`--config P`, `--config=P`)
/// or in the environment.
pub fn config_path(args: &[String]) -> Option<String> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--config" {
            return iter.next().cloned();
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(path.to_owned());
        }
    }
    std::env::var("PARTNERMATCH_CONFIG").ok()
}

/// The subcommand names in `args` (e.g. `["config", "print"]`).
fn subcommand_path(command: &Command, args: &[String]) -> Vec<String> {
    let mut path = Vec::new();
    let mut current = command;
    for arg in args.iter().skip(1) {
        if let Some(sub) = current.find_subcommand(arg) {
            path.push(arg.clone());
            current = sub;
        }
    }
    path
}

/// A TOML value as the text a flag would take.
fn as_flag_text(key: &str, value: &toml::Value) -> anyhow::Result<String> {
    Ok(match value {
        toml::Value::String(text) => text.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| as_flag_text(key, item))
            .collect::<anyhow::Result<Vec<_>>>()?
            .join(","),
        other => bail!("{key}: a {} cannot be a flag's value", other.type_str()),
    })
}

/// `command` with the file's values as defaults of the flags of the
/// subcommand `args` runs (and of the global flags).
pub fn apply(command: Command, file: &Path, args: &[String]) -> anyhow::Result<Command> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the configuration file {}", file.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", file.display()))?;
    let path = subcommand_path(&command, args);
    let mut command = command;
    for (key, value) in &table {
        let id = key.replace('-', "_");
        let text: &'static str = Box::leak(as_flag_text(key, value)?.into_boxed_str());
        let has = |c: &Command| c.get_arguments().any(|a| a.get_id() == id.as_str());
        if has(&command) {
            command = command.mut_arg(id.as_str(), |arg| arg.default_value(text));
            continue;
        }
        // The subcommand being run, however deep.
        fn apply_to(c: Command, path: &[String], id: &str, text: &'static str) -> Option<Command> {
            let (first, rest) = path.split_first()?;
            let sub = c.find_subcommand(first)?.clone();
            let updated = if rest.is_empty() {
                if !sub.get_arguments().any(|a| a.get_id() == id) {
                    return None;
                }
                sub.mut_arg(id, |arg| arg.default_value(text))
            } else {
                apply_to(sub, rest, id, text)?
            };
            Some(c.mut_subcommand(first, |_| updated))
        }
        match apply_to(command.clone(), &path, &id, text) {
            Some(updated) => command = updated,
            None => bail!(
                "{}: {key:?} is not an option of `partnermatch {}`",
                file.display(),
                path.join(" ")
            ),
        }
    }
    Ok(command)
}
