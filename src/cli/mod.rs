//! The command line: its arguments ([`args`]), the configuration they lay
//! over the file and the defaults ([`config`]), what each command does
//! ([`commands`]), and what only it needs — the reports of `broker`,
//! `families` and `evaluate` ([`report`]) and the `bench` load generator
//! ([`loadgen`], and [`churn`] for memory under create/delete churn).

mod args;
mod churn;
mod commands;
mod config;
mod import;
mod loadgen;
mod report;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use partnermatch::new_token;

use args::{Cli, Command, ConfigCommand, LogFormat, TokenCommand};
use config::Config;

/// Parses the command line, loads the configuration, starts logging and
/// runs the command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = cli.config.as_deref();
    // The configuration each command reads: its flags over the file.
    let config = match &cli.command {
        Command::Serve(args) | Command::Config(ConfigCommand::Print(args)) => {
            config::load(file, &[&cli.logging, args])?
        }
        Command::Broker(args) => config::load(file, &[&cli.logging, &args.data])?,
        Command::Families(args) => config::load(file, &[&cli.logging, &args.data])?,
        Command::Evaluate(args) => config::load(file, &[&cli.logging, &args.data])?,
        Command::Import(args) => config::load(file, &[&cli.logging, &args.store])?,
        Command::Bench(_) | Command::Token(_) => config::load(file, &[&cli.logging])?,
    };
    start_logging(&config)?;
    match cli.command {
        Command::Serve(_) => commands::serve(&config),
        Command::Bench(args) => commands::bench(args),
        Command::Broker(args) => commands::broker(args, &config),
        Command::Families(args) => commands::families(args, &config),
        Command::Evaluate(args) => commands::evaluate(args, &config),
        Command::Import(args) => import::import(args, &config),
        Command::Config(ConfigCommand::Print(_)) => {
            print!("{}", config.to_toml()?);
            Ok(())
        }
        Command::Token(TokenCommand::New { role }) => {
            let (token, line) = new_token(role);
            println!("token: {token}");
            println!("serve --token {line}");
            Ok(())
        }
    }
}

fn start_logging(config: &Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log)
        .with_context(|| format!("invalid log filter {:?}", config.log))?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().init(),
    }
    Ok(())
}
