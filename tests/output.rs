//! Output that cannot be written: a full disk or a closed pipe on stdout fails a command that
//! only prints (a script must not take half a schema for a whole one), while a run goes on
//! without its viewer and says so once.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use crate::support::server::Server;
use crate::support::{Runbook, Scratch, assert_contains};

const LOST: &str = "runbook: cannot write the output: No space left on device\n";

/// A server that answers every step of [`looking`].
fn answering() -> Server {
    Server::start(Router::new().route("/ok", get(|| async { StatusCode::OK })))
}

/// A runbook of three reads of `url`: no input, no confirmation, a few lines of output.
fn looking(url: &str) -> String {
    let steps: String = ["one", "two", "three"]
        .iter()
        .map(|id| {
            format!("  - id: {id}\n    title: Look {id}\n    http:\n      get: \"{url}/ok\"\n")
        })
        .collect();
    format!("runbook: looking\ntitle: Look three times\nsteps:\n{steps}")
}

#[test]
fn a_verb_that_prints_fails_when_stdout_cannot_be_written() {
    let server = answering();
    let scratch = Scratch::new();
    let path = scratch.write("looking.yaml", looking(&server.url()));
    let file = path.to_str().unwrap();
    let other = scratch.write("other.yaml", looking("http://127.0.0.1:9"));
    let other = other.to_str().unwrap();
    let done = Runbook::new(["exec", file]).home(&scratch.home).run();
    assert_eq!(done.code, 0, "{}", done.stderr);
    let run = scratch.home.only_run();
    for command in [
        vec!["schema"],
        vec!["completions", "bash"],
        vec!["check", file],
        vec!["check", "--format", "json", file],
        vec!["plan", file],
        vec!["plan", file, "--output", "json"],
        vec!["runs"],
        vec!["runs", "--output", "json"],
        vec!["show", &run],
        vec!["diff", file, other],
        vec!["render", file],
    ] {
        let outcome = Runbook::new(&command)
            .home(&scratch.home)
            .stdout_to("/dev/full")
            .run();
        assert_eq!(outcome.code, 6, "{command:?}: {}", outcome.stderr);
        assert_eq!(outcome.stderr, LOST, "{command:?}");
    }
}

/// A reader that went away took what it wanted (`runbook schema | head -1`): no failure, and
/// nothing said, as `ls | head -1` does.
#[test]
fn a_verb_whose_reader_went_away_ends_quietly() {
    for command in [vec!["schema"], vec!["completions", "bash"]] {
        let outcome = Runbook::new(&command).stdout_closed().run();
        assert_eq!(outcome.code, 0, "{command:?}: {}", outcome.stderr);
        assert_eq!(outcome.stderr, "", "{command:?}");
    }
}

#[test]
fn a_verb_that_failed_keeps_its_code_when_stdout_fails_too() {
    let outcome = Runbook::new([
        "check",
        "--format",
        "json",
        "tests/fixtures/bad/unknown_service.yaml",
    ])
    .stdout_to("/dev/full")
    .run();
    assert_eq!(outcome.code, 3, "{}", outcome.stderr);
    assert!(outcome.stderr.ends_with(LOST), "{}", outcome.stderr);
}

#[test]
fn a_run_completes_without_its_viewer_and_says_so_once() {
    let server = answering();
    let scratch = Scratch::new();
    let path = scratch.write("looking.yaml", looking(&server.url()));
    for (name, runbook) in [
        (
            "closed pipe",
            Runbook::new(["exec", path.to_str().unwrap()]).stdout_closed(),
        ),
        (
            "full disk",
            Runbook::new(["exec", path.to_str().unwrap()]).stdout_to("/dev/full"),
        ),
        (
            "full disk, json",
            Runbook::new(["exec", path.to_str().unwrap(), "--output", "json"])
                .stdout_to("/dev/full"),
        ),
    ] {
        let outcome = runbook.home(&scratch.home).run();
        assert_eq!(outcome.code, 0, "{name}: {}", outcome.stderr);
        assert_eq!(
            outcome.stderr.matches("cannot write the output").count(),
            1,
            "{name}: {}",
            outcome.stderr
        );
        assert_contains(
            &outcome.stderr,
            "; the run goes on without showing its progress there\n",
        );
    }
    let runs = Runbook::new(["runs", "--output", "json"])
        .home(&scratch.home)
        .run()
        .json_lines();
    assert_eq!(runs.len(), 3);
    assert!(
        runs.iter().all(|run| run["state"] == "completed"),
        "{runs:?}"
    );
}

/// A manual step's instructions are what the operator confirms: once stdout is gone, they go
/// to stderr instead of nowhere.
#[test]
fn manual_instructions_reach_the_operator_when_stdout_fails() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "manual.yaml",
        "runbook: manual\ntitle: Manual\nsteps:\n  - id: tell\n    title: Tell\n    manual: DM the operator to update their environment.\n",
    );
    let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--yes"])
        .home(&scratch.home)
        .stdout_to("/dev/full")
        .run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_contains(
        &outcome.stderr,
        "--- manual step tell: do this, then confirm ---\n",
    );
    assert_contains(
        &outcome.stderr,
        "DM the operator to update their environment.\n",
    );
}
