//! `jwtgate`: the core of the filter, natively. `check` gives the filter's verdict on a request
//! or a token, `config validate` checks a plugin config, `config from-istio` converts Istio
//! policies, `demo-idp` and `demo-echo` serve `make run`.
//!
//! Exit status: 0 valid (the request goes upstream), 1 invalid, 2 usage or configuration error.
//! Output goes through `writeln!`: a closed pipe ends the command quietly, never a panic.

// Nothing a user types, and no token, JWKS, config or YAML file, may make the command panic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented,
    clippy::indexing_slicing
)]

mod check;
mod demo;
mod istio;
mod out;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// A command-line failure: usage or configuration (exit 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

#[derive(Parser)]
#[command(
    name = "jwtgate",
    version,
    about = "JWT validation as the jwtgate proxy-wasm filter does it, natively",
    after_help = "Exit status: 0 valid, 1 invalid, 2 usage or configuration error.",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The filter's verdict on a request (--config, --path) or on one token.
    // Boxed: its many flags make it far larger than the other commands.
    Check(Box<check::CheckArgs>),
    /// Plugin configurations.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// A demo identity provider: a JWKS endpoint that mints ES256 tokens and rotates keys.
    DemoIdp(demo::IdpArgs),
    /// A demo upstream that answers with the method, path and headers it received.
    DemoEcho(demo::EchoArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Checks a plugin config with the filter's own parser (exit 0 valid, 1 invalid).
    Validate {
        /// The plugin JSON.
        file: PathBuf,
    },
    /// Converts Istio RequestAuthentication/AuthorizationPolicy YAML into a plugin config
    /// (JSON on stdout; what could not be mapped on stderr).
    FromIstio {
        /// YAML files (several documents each, separated by `---`); `-` for standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Prints the JSON Schema of the plugin config (draft 2020-12), generated from the parser's
    /// own types (schema/plugin-config.schema.json is this output).
    Schema,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" that go to stdout and exit 0.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Check(args) => check::run(*args),
        Command::Config(ConfigCommand::Validate { file }) => check::validate_config(&file),
        Command::Config(ConfigCommand::FromIstio { files }) => istio::run(&files),
        Command::Config(ConfigCommand::Schema) => {
            out::print(&jwtgate::config::json_schema()).map(|()| ExitCode::SUCCESS)
        }
        Command::DemoIdp(args) => demo::idp(args),
        Command::DemoEcho(args) => demo::echo(args),
    };
    match result {
        Ok(code) => code,
        Err(UsageError(msg)) => {
            out::warn(&format!("jwtgate: {msg}"));
            out::warn("Try 'jwtgate --help' for more information.");
            ExitCode::from(2)
        }
    }
}
