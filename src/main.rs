//! The `runbook` binary: parse the command line, read the environment once, run the verb,
//! exit with its code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    runbook::secret::keep_memory_private();
    let env: std::collections::HashMap<String, String> = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    let redactor = runbook::secret::Redactor::new();
    runbook::logging::install(redactor.clone(), env.get("RUST_LOG").map(String::as_str));
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
    let code = runbook::app::main(cli, env, redactor);
    // Leave at once: a prompt thread blocked on the terminal must not hold the exit up.
    std::process::exit(i32::from(code))
}
