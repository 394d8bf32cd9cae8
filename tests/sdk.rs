//! The vendors' official clients against the emulator:
//! - `tests/sdk/check_official_clients.py` drives it with Cloudflare's, GitHub's (PyGithub) and
//!   Infisical's Python SDKs, and Heroku's platform API the way its clients call it;
//! - `tests/sdk/node/check_official_clients.mjs` with their Node clients: Cloudflare's
//!   TypeScript SDK, Octokit, Heroku's own `heroku-client` and Infisical's Node SDK.
//!
//! The clients come from PyPI and npm, not from this repository. Each test runs when its
//! variable is set, and otherwise says that it did not run: `RUNBOOK_SDK_PYTHON` names a Python
//! that has the Python clients, `RUNBOOK_SDK_NODE` a Node that can run the script with the
//! packages `npm ci` installed beside it (`tests/sdk/node/node_modules`). `.ci/run` installs
//! pinned versions of both and sets both.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::support::{BIN, assert_contains, root};

/// The emulator process, stopped however the test ends.
struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the script reads from the environment, as `runbook emulator` prints it.
const NEEDED: &[&str] = &[
    "RUNBOOK_EMULATOR_URL",
    "CF_ACCESS_MGMT",
    "CF_ACCOUNT_ID",
    "CF_PAGES_DEPLOY",
    "CF_PAGES_READ",
    "CF_ROTATION_TOKEN",
    "GITHUB_REPOSITORY",
    "GITHUB_TOKEN",
    "HEROKU_API_KEY",
    "INFISICAL_PROJECT_ID",
    "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID",
    "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
];

/// Starts `runbook emulator` and reads the variables the scripts need from what it prints.
fn emulator() -> (Emulator, Vec<(String, String)>) {
    let mut child = Command::new(BIN)
        .args(["emulator", "--port", "0"])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the emulator starts");
    let stdout = child.stdout.take().expect("the emulator's output");
    let emulator = Emulator(child);
    let mut env: Vec<(String, String)> = Vec::new();
    let mut lines = BufReader::new(stdout).lines();
    while !NEEDED
        .iter()
        .all(|name| env.iter().any(|(known, _)| known == name))
    {
        let line = lines
            .next()
            .expect("the emulator prints every variable the script needs")
            .expect("the emulator's output is text");
        if let Some((name, value)) = line
            .strip_prefix("export ")
            .and_then(|assignment| assignment.split_once('='))
        {
            env.push((name.to_string(), value.trim_matches('\'').to_string()));
        }
    }
    // Drained to the end: a closed pipe would kill the emulator at its next line of output.
    std::thread::spawn(move || lines.for_each(drop));
    (emulator, env)
}

/// Runs one check script against a fresh emulator; it must pass every check.
fn run_checks(interpreter: std::ffi::OsString, script: &str, extra_env: &[(&str, &str)]) {
    let (_emulator, env) = emulator();
    let checked = Command::new(interpreter)
        .arg(root().join(script))
        .envs(env)
        .envs(extra_env.iter().copied())
        .output()
        .expect("the interpreter runs");
    let printed = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "an official client failed against the emulator:\n{printed}\n{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert_contains(&printed, "all official-client checks passed");
}

#[test]
fn the_vendors_official_python_clients_work_against_the_emulator() {
    let Some(python) = std::env::var_os("RUNBOOK_SDK_PYTHON") else {
        eprintln!(
            "not run: set RUNBOOK_SDK_PYTHON to a Python with cloudflare, PyGithub, infisicalsdk and requests (.ci/run does)"
        );
        return;
    };
    run_checks(
        python,
        "tests/sdk/check_official_clients.py",
        &[("PYTHONDONTWRITEBYTECODE", "1")],
    );
}

#[test]
fn the_vendors_official_node_clients_work_against_the_emulator() {
    let Some(node) = std::env::var_os("RUNBOOK_SDK_NODE") else {
        eprintln!(
            "not run: run `npm ci` in tests/sdk/node and set RUNBOOK_SDK_NODE to the node that runs them (.ci/run does)"
        );
        return;
    };
    run_checks(node, "tests/sdk/node/check_official_clients.mjs", &[]);
}
