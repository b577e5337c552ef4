//! `jwtgate`: the core of the filter, natively. `check` validates a token the way the filter
//! would, `config validate` checks a plugin config, `demo-idp` and `demo-echo` serve `make run`.

mod check;
mod demo;
mod serve;

use std::process::ExitCode;

const USAGE: &str = "usage:
  jwtgate check --jwks FILE [--config FILE] [--provider NAME] [--signature-only] [--now UNIX] [--json] TOKEN|-
  jwtgate config validate FILE
  jwtgate demo-idp [--listen ADDR] [--issuer URL] [--audience AUD]
  jwtgate demo-echo [--listen ADDR]

exit status: 0 valid, 1 invalid, 2 usage or configuration error";

/// A command-line failure: usage or configuration (exit 2).
#[derive(Debug)]
pub struct UsageError(pub String);

fn run(args: &[String]) -> Result<ExitCode, UsageError> {
    match args.first().map(String::as_str) {
        Some("check") => check::run(args.get(1..).unwrap_or(&[])),
        Some("config") if args.get(1).map(String::as_str) == Some("validate") => {
            check::validate_config(args.get(2..).unwrap_or(&[]))
        }
        Some("demo-idp") => demo::idp(args.get(1..).unwrap_or(&[])),
        Some("demo-echo") => demo::echo(args.get(1..).unwrap_or(&[])),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(UsageError("unknown or missing command".into())),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(UsageError(msg)) => {
            eprintln!("jwtgate: {msg}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Reads the value after a flag, or fails with a usage error.
pub fn flag_value<'a>(
    it: &mut impl Iterator<Item = &'a String>,
    flag: &str,
) -> Result<&'a String, UsageError> {
    it.next()
        .ok_or_else(|| UsageError(format!("{flag} needs a value")))
}
