//! The configuration: one serde struct, laid together from its defaults,
//! the TOML file (`--config` or `PARTNERMATCH_CONFIG`; keys are the long
//! flags with `_`), the environment and the flags — each winning over the
//! one before. A key the configuration does not have is refused by name.
//! `partnermatch config print` serialises the result.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use partnermatch::ServeOptions;
use partnermatch_core::dataset::{DEFAULT_SCHOOLS, DEFAULT_SEED};
use partnermatch_core::domain::parse_date;
use partnermatch_core::engine::{EvidenceConfig, FamilyConfig, validate_sizes};

use super::args::{EvidenceData, FocusData, LogFormat};

/// How long a replica may be behind its database by default, in seconds.
pub const DEFAULT_MAX_LAG_SECS: f64 = 5.0;

/// Everything `serve` runs with; `broker` and `families` read the data
/// options of the same file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub log: String,
    pub log_format: LogFormat,
    pub listen: SocketAddr,
    pub db: PathBuf,
    pub data: String,
    pub schools: usize,
    pub seed: u64,
    pub synthetic_focus: FocusData,
    pub synthetic_evidence: EvidenceData,
    pub family_size: usize,
    pub family_min_size: usize,
    pub evidence_max_age_years: i16,
    pub evidence_as_of: Option<String>,
    pub evidence_green_share: f64,
    pub tokens: Vec<String>,
    pub no_auth: bool,
    pub shutdown_grace_secs: f64,
    pub max_in_flight: u64,
    pub max_in_flight_per_client: Option<u64>,
    pub max_lag_secs: f64,
    pub serve_stale: bool,
    pub request_timeout_secs: f64,
    pub body_timeout_secs: f64,
    pub max_message_bytes: usize,
    pub max_import_bytes: usize,
    pub max_import_bytes_total: usize,
    pub max_calls_per_connection: usize,
    pub max_streams_per_address: usize,
    pub stream_lifetime_secs: f64,
    pub max_streams_per_connection: u32,
    pub max_connections: Option<u64>,
    pub handshake_timeout_secs: f64,
    pub idle_timeout_secs: f64,
    pub keepalive_interval_secs: f64,
    pub keepalive_timeout_secs: f64,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for Config {
    fn default() -> Config {
        let serve = ServeOptions::default();
        let families = FamilyConfig::default();
        let secs = |duration: std::time::Duration| duration.as_secs_f64();
        Config {
            log: "info".into(),
            log_format: LogFormat::Text,
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            db: PathBuf::from("partnermatch.db"),
            data: "synthetic".into(),
            schools: DEFAULT_SCHOOLS,
            seed: DEFAULT_SEED,
            synthetic_focus: FocusData::Realistic,
            synthetic_evidence: EvidenceData::Stages,
            family_size: families.target_size,
            family_min_size: families.min_size,
            evidence_max_age_years: EvidenceConfig::default().max_age_years,
            evidence_as_of: None,
            evidence_green_share: EvidenceConfig::default().green_share,
            tokens: Vec::new(),
            no_auth: false,
            shutdown_grace_secs: secs(serve.shutdown_grace),
            max_in_flight: serve.max_in_flight as u64,
            max_in_flight_per_client: None,
            max_lag_secs: DEFAULT_MAX_LAG_SECS,
            serve_stale: false,
            request_timeout_secs: secs(serve.request_timeout),
            body_timeout_secs: secs(serve.body_timeout),
            max_message_bytes: serve.max_message_bytes,
            max_import_bytes: serve.max_import_bytes,
            max_import_bytes_total: serve.max_import_bytes_total,
            max_calls_per_connection: serve.max_calls_per_connection,
            max_streams_per_address: serve.max_streams_per_address,
            stream_lifetime_secs: secs(serve.stream_lifetime),
            max_streams_per_connection: serve.max_streams_per_connection,
            max_connections: None,
            handshake_timeout_secs: secs(serve.handshake_timeout),
            idle_timeout_secs: secs(serve.idle_timeout),
            keepalive_interval_secs: secs(serve.keepalive_interval),
            keepalive_timeout_secs: secs(serve.keepalive_timeout),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            metrics_listen: None,
        }
    }
}

/// The configuration from `file` (if any) with `overrides` — the flags and
/// environment, serialised under the same keys — laid over it.
pub fn load(file: Option<&Path>, overrides: &[&dyn erased::Overrides]) -> anyhow::Result<Config> {
    let mut table = match file {
        None => toml::Table::new(),
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?
            .parse::<toml::Table>()
            .with_context(|| format!("{} is not valid TOML", path.display()))?,
    };
    for layer in overrides {
        table.extend(layer.table()?);
    }
    let config: Config = toml::Value::Table(table).try_into().map_err(|error| {
        let source = file.map_or_else(|| "the flags".to_owned(), |p| p.display().to_string());
        anyhow::anyhow!("configuration ({source}): {error}")
    })?;
    config.validate()?;
    Ok(config)
}

/// Serialising argument structs of different types behind one pointer.
pub mod erased {
    /// Something that serialises to a table of configuration keys.
    pub trait Overrides {
        fn table(&self) -> anyhow::Result<toml::Table>;
    }

    impl<T: serde::Serialize> Overrides for T {
        fn table(&self) -> anyhow::Result<toml::Table> {
            Ok(toml::Table::try_from(self)?)
        }
    }
}

impl Config {
    /// Ranges and combinations no single flag's parser can check.
    fn validate(&self) -> anyhow::Result<()> {
        let within = |key: &str, value: u64, low: u64, high: u64| {
            if !(low..=high).contains(&value) {
                bail!("{key} must be between {low} and {high}, got {value}");
            }
            Ok(())
        };
        within("max_in_flight", self.max_in_flight, 1, 100_000)?;
        if let Some(share) = self.max_in_flight_per_client {
            within("max_in_flight_per_client", share, 1, 100_000)?;
        }
        if let Some(max) = self.max_connections {
            within("max_connections", max, 1, 1_000_000)?;
        }
        if self.max_import_bytes > self.max_import_bytes_total {
            bail!(
                "max_import_bytes ({}) must be at most max_import_bytes_total ({})",
                self.max_import_bytes,
                self.max_import_bytes_total
            );
        }
        within(
            "max_streams_per_address",
            self.max_streams_per_address as u64,
            1,
            1_000_000,
        )?;
        for (key, secs) in [
            ("shutdown_grace_secs", self.shutdown_grace_secs),
            ("max_lag_secs", self.max_lag_secs),
            ("request_timeout_secs", self.request_timeout_secs),
            ("body_timeout_secs", self.body_timeout_secs),
            ("handshake_timeout_secs", self.handshake_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("stream_lifetime_secs", self.stream_lifetime_secs),
            ("keepalive_interval_secs", self.keepalive_interval_secs),
            ("keepalive_timeout_secs", self.keepalive_timeout_secs),
        ] {
            let zero_allowed = key == "shutdown_grace_secs";
            if !secs.is_finite() || secs < 0.0 || (secs == 0.0 && !zero_allowed) {
                bail!("{key} must be a positive number of seconds, got {secs}");
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("tls_cert and tls_key go together: give both or neither");
        }
        if self.tls_client_ca.is_some() && self.tls_cert.is_none() {
            bail!("tls_client_ca needs TLS: give tls_cert and tls_key too");
        }
        if self.no_auth && !self.tokens.is_empty() {
            bail!("no_auth and tokens contradict each other: give one");
        }
        let problems = validate_sizes(&self.families());
        if !problems.is_empty() {
            bail!("family_size / family_min_size: {problems}");
        }
        within(
            "evidence_max_age_years",
            u64::try_from(self.evidence_max_age_years).unwrap_or(0),
            1,
            EvidenceConfig::MAX_AGE_YEARS as u64,
        )?;
        self.evidence()?;
        Ok(())
    }

    /// How evidence is read: the age limit and the date it is judged at.
    pub fn evidence(&self) -> anyhow::Result<EvidenceConfig> {
        let as_of = match &self.evidence_as_of {
            None => None,
            Some(text) => Some(parse_date(text).with_context(|| {
                format!("evidence_as_of must be a date YYYY-MM-DD, got {text:?}")
            })?),
        };
        if !(0.0..=1.0).contains(&self.evidence_green_share) {
            bail!(
                "evidence_green_share must be between 0 and 1, got {}",
                self.evidence_green_share
            );
        }
        Ok(EvidenceConfig {
            max_age_years: self.evidence_max_age_years,
            as_of,
            green_share: self.evidence_green_share,
        })
    }

    pub fn families(&self) -> FamilyConfig {
        FamilyConfig {
            target_size: self.family_size,
            min_size: self.family_min_size,
        }
    }

    /// The configuration as TOML, with secrets hidden (tokens keep their
    /// role) and a comment for each option that is not set.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        let mut shown = self.clone();
        shown.tokens = self
            .tokens
            .iter()
            .map(|line| {
                let role = line.split(':').next().unwrap_or_default();
                format!("{role}:<sha256 hidden>")
            })
            .collect();
        shown.tls_key = self.tls_key.as_ref().map(|_| PathBuf::from("<hidden>"));
        shown.db = PathBuf::from(partnermatch_store::redacted(&self.db.to_string_lossy()));
        let mut text = toml::to_string(&shown)?;
        // Unset options are absent from TOML; say which they are.
        if let serde_json::Value::Object(keys) = serde_json::to_value(&shown)? {
            for (key, value) in keys {
                if value.is_null() {
                    text.push_str(&format!("# {key} is not set\n"));
                }
            }
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Flags {
        max_in_flight: u64,
    }

    #[test]
    fn flags_beat_the_file_which_beats_the_defaults_and_unknown_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("pm-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "max_in_flight = 99\nschools = 40\n").unwrap();
        let config = load(Some(&file), &[&Flags { max_in_flight: 7 }]).unwrap();
        assert_eq!((config.max_in_flight, config.schools), (7, 40));
        assert_eq!(config.seed, DEFAULT_SEED);

        std::fs::write(&file, "max_inflight = 3\n").unwrap();
        let error = load(Some(&file), &[]).unwrap_err().to_string();
        assert!(error.contains("unknown field `max_inflight`"), "{error}");
        std::fs::write(&file, "max_in_flight = 0\n").unwrap();
        let error = load(Some(&file), &[]).unwrap_err().to_string();
        assert!(
            error.contains("max_in_flight must be between 1 and 100000"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn printing_hides_secrets_and_names_what_is_not_set() {
        let config = Config {
            tokens: vec![format!("admin:{}", "a".repeat(64))],
            tls_cert: Some("cert.pem".into()),
            tls_key: Some("key.pem".into()),
            db: "postgres://pm:Secret1@db/pm?password=Secret2".into(),
            ..Config::default()
        };
        let text = config.to_toml().unwrap();
        assert!(
            text.contains("tokens = [\"admin:<sha256 hidden>\"]"),
            "{text}"
        );
        assert!(text.contains("tls_key = \"<hidden>\""), "{text}");
        assert!(
            !text.contains("aaaa") && !text.contains("key.pem") && !text.contains("Secret"),
            "{text}"
        );
        assert!(
            text.contains("db = \"postgres://pm:***@db/pm?password=***\""),
            "{text}"
        );
        assert!(text.contains("# metrics_listen is not set"), "{text}");
        // What is printed reads back as the same configuration, secrets aside.
        let read: Config = toml::from_str(&text).unwrap();
        assert_eq!(read.listen, config.listen);
    }
}
