//! The `runbook` binary: parse the command line, read the environment once, run the verb,
//! exit with its code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    runbook::secret::keep_memory_private();
    let environment = runbook::run::context::Environment::read();
    let redactor = runbook::secret::Redactor::new();
    let rust_log = environment.vars.get("RUST_LOG").map(String::as_str);
    runbook::logging::install(redactor.clone(), rust_log);
    let cli = match runbook::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                runbook::exit::USAGE
            } else {
                runbook::exit::OK
            });
        }
    };
    let code = runbook::app::main(cli, environment, redactor);
    // Leave at once: a prompt thread blocked on the terminal must not hold the exit up.
    std::process::exit(i32::from(code))
}
