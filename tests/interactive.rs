//! At a terminal: the confirmation before an irreversible step, a manual step's confirmation,
//! and a hidden prompt for a secret nobody supplied. A pseudo-terminal comes from util-linux's
//! `script`, which feeds what the test types to the program as keystrokes.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;

use crate::support::server::Server;
use crate::support::{BIN, Scratch};

/// Runs `runbook ARGS` at a pseudo-terminal, typing `input`: (exit code, what the terminal showed).
fn at_terminal(
    args: &[String],
    env: &[(&str, &str)],
    input: &str,
    scratch: &Scratch,
) -> (i32, String) {
    let quoted: Vec<String> = std::iter::once(BIN.to_string())
        .chain(args.iter().cloned())
        .map(|arg| format!("'{}'", arg.replace('\'', r"'\''")))
        .collect();
    let mut command = Command::new("script");
    command
        .args(["-qec", &quoted.join(" "), "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", scratch.home.path())
        .env("NO_COLOR", "1")
        .env("TERM", "dumb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("script (util-linux) runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("typing");
    let output = child.wait_with_output().expect("script finishes");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).replace('\r', ""),
    )
}

/// A server that counts its calls and remembers the last `x-token` header.
fn server() -> (Server, Arc<Mutex<(usize, String)>>) {
    let seen: Arc<Mutex<(usize, String)>> = Arc::default();
    let state = seen.clone();
    let router = Router::new().route(
        "/thing",
        get(move |headers: HeaderMap| {
            let state = state.clone();
            async move {
                let mut seen = state.lock().unwrap();
                seen.0 += 1;
                seen.1 = headers
                    .get("x-token")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                "{}"
            }
        }),
    );
    (Server::start(router), seen)
}

fn runbook(scratch: &Scratch, server: &Server, step: &str) -> String {
    let text = format!(
        "runbook: at-a-terminal\ntitle: At a terminal\nservices:\n  api: {}\ninputs:\n  token: {{ env: [THE_TOKEN], secret: true }}\nsteps:\n{step}",
        server.url()
    );
    scratch.write("runbook.yaml", text).display().to_string()
}

const IRREVERSIBLE: &str = "  - id: remove\n    title: Remove the thing\n    irreversible: The thing is gone for good.\n    http: { get: \"{{ services.api }}/thing\", headers: { X-Token: \"{{ token }}\" } }\n    rollback: Make a new thing.\n";

#[test]
fn typing_yes_confirms_an_irreversible_step() {
    let (server, seen) = server();
    let scratch = Scratch::new();
    let file = runbook(&scratch, &server, IRREVERSIBLE);
    let (code, screen) = at_terminal(
        &["exec".into(), file, "--no-journal".into()],
        &[("THE_TOKEN", "terminal-canary-token-1")],
        "yes\n",
        &scratch,
    );
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains(
            "step `remove` (Remove the thing) cannot be undone: The thing is gone for good."
        ),
        "{screen}"
    );
    assert!(
        screen.contains("Type yes to go ahead, anything else to stop:"),
        "{screen}"
    );
    assert!(screen.contains("irreversible: confirmed"), "{screen}");
    assert_eq!(seen.lock().unwrap().0, 1);
}

#[test]
fn anything_but_yes_stops_before_an_irreversible_step() {
    let (server, seen) = server();
    let scratch = Scratch::new();
    let file = runbook(&scratch, &server, IRREVERSIBLE);
    let (code, screen) = at_terminal(
        &["exec".into(), file, "--no-journal".into()],
        &[("THE_TOKEN", "terminal-canary-token-2")],
        "y\n",
        &scratch,
    );
    assert_eq!(code, 5, "{screen}");
    assert!(
        screen.contains("the operator declined the irreversible step"),
        "{screen}"
    );
    assert_eq!(seen.lock().unwrap().0, 0, "nothing was sent");
}

#[test]
fn a_manual_step_waits_for_the_operator() {
    let (server, _seen) = server();
    let scratch = Scratch::new();
    let manual = "  - id: tell\n    title: Tell the team\n    manual: \"Post in #ops that the thing is rotated.\"\n  - id: use\n    title: Use the token\n    http: { get: \"{{ services.api }}/thing\", headers: { X-Token: \"{{ token }}\" } }\n";
    let file = runbook(&scratch, &server, manual);
    let (code, screen) = at_terminal(
        &["exec".into(), file, "--no-journal".into()],
        &[("THE_TOKEN", "terminal-canary-token-3")],
        "yes\n",
        &scratch,
    );
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("--- manual step tell: do this, then confirm ---"),
        "{screen}"
    );
    assert!(
        screen.contains("Post in #ops that the thing is rotated."),
        "{screen}"
    );
    assert!(
        screen.contains("Done? Type yes once it is done"),
        "{screen}"
    );
}

#[test]
fn a_missing_secret_is_asked_for_without_echo() {
    let (server, seen) = server();
    let scratch = Scratch::new();
    let step = "  - id: use\n    title: Use the token\n    http: { get: \"{{ services.api }}/thing\", headers: { X-Token: \"{{ token }}\" } }\n";
    let file = runbook(&scratch, &server, step);
    let typed = "typed-canary-secret-4";
    let (code, screen) = at_terminal(
        &["exec".into(), file, "--no-journal".into()],
        &[],
        &format!("{typed}\n"),
        &scratch,
    );
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("token; $THE_TOKEN not set: (input hidden)"),
        "{screen}"
    );
    assert_eq!(seen.lock().unwrap().1, typed, "the typed value was sent");
    // `script` shows what was typed ahead of the prompt; after the prompt, nothing is echoed.
    let after_prompt = screen.split("(input hidden)").nth(1).unwrap_or("");
    assert!(
        !after_prompt.contains(typed),
        "the secret was echoed: {screen}"
    );
}
