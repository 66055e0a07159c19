//! The `runner` binary: parse the command line, run it, print errors, exit.

use std::process::ExitCode;

fn main() -> ExitCode {
    runner::cli::main()
}
