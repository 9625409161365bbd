//! `auditkit`: the operator's command line for an auditkit trail in a SQLite file or a
//! PostgreSQL database (feature `cli`).
//!
//! Exit codes: 0 ok, 1 verify found a fault, 2 usage error, 3 the store could not be opened
//! or read. Errors are one line on stderr, `auditkit: ...`.

mod args;
mod commands;
mod fail;
mod open;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace an operator has to read at 3 a.m.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("auditkit: internal error (please report it): {info}");
    }));
    // clap prints usage errors and exits 2 itself, and exits 0 for --help and --version.
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            if !e.message.is_empty() {
                // Messages can quote stored values or file names.
                eprintln!("auditkit: {}", output::terminal_safe(&e.message));
            }
            ExitCode::from(e.code)
        }
    }
}
