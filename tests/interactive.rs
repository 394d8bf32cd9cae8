//! At a terminal: the confirmation before an irreversible step, a manual step's confirmation,
//! and a hidden prompt for a secret nobody supplied. Each test runs the program at a
//! pseudo-terminal of its own and types an answer only once the question shows (and, for a
//! hidden prompt, the terminal's echo is off), as an operator would: what is typed before a
//! question is asked is thrown away, so it cannot answer it.

use std::io::{Read, Write};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;

use crate::support::server::Server;
use crate::support::{BIN, Scratch};

/// Runs `runbook ARGS` at a pseudo-terminal, typing `input` once the terminal shows `prompt`,
/// as an operator would (what is typed before a question is asked does not answer it):
/// (exit code, what the terminal showed).
pub(crate) fn at_terminal(
    args: &[String],
    env: &[(&str, &str)],
    prompt: &str,
    input: &str,
    scratch: &Scratch,
) -> (i32, String) {
    at_pty(args, env, "", &[(prompt, false, input)], scratch)
}

/// Runs `runbook ARGS` at a pseudo-terminal of its own (its controlling terminal, on stdin,
/// stdout and stderr), and types `input` only once the terminal shows `prompt` (and, for a
/// `hidden` prompt, its echo is off): (exit code, everything the terminal showed).
fn typed_at_prompt(
    args: &[String],
    env: &[(&str, &str)],
    prompt: &str,
    hidden: bool,
    input: &str,
    scratch: &Scratch,
) -> (i32, String) {
    at_pty(args, env, "", &[(prompt, hidden, input)], scratch)
}

/// Runs `runbook ARGS` at a pseudo-terminal of its own, types `early` at once (before any
/// question), then each answer once the terminal shows its prompt after the previous one (and,
/// for a hidden prompt, its echo is off): (exit code, everything the terminal showed).
fn at_pty(
    args: &[String],
    env: &[(&str, &str)],
    early: &str,
    answers: &[(&str, bool, &str)],
    scratch: &Scratch,
) -> (i32, String) {
    let (code, screen, _) = at_pty_echo_after(args, env, early, answers, scratch);
    (code, screen)
}

/// [`at_pty`], and whether the terminal echoes what is typed once the program has ended.
fn at_pty_echo_after(
    args: &[String],
    env: &[(&str, &str)],
    early: &str,
    answers: &[(&str, bool, &str)],
    scratch: &Scratch,
) -> (i32, String, bool) {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::process::CommandExt;

    let deadline = Instant::now() + Duration::from_secs(30);
    // std opens files close-on-exec: neither end leaks into another test's child.
    let mut master = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/dev/ptmx")
        .expect("a pseudo-terminal");
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: `master` is an open pseudo-terminal master and `name` is large enough for its
    // slave's name (ptsname_r says so otherwise).
    unsafe {
        assert_eq!(libc::grantpt(master.as_raw_fd()), 0, "grantpt");
        assert_eq!(libc::unlockpt(master.as_raw_fd()), 0, "unlockpt");
        assert_eq!(
            libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()),
            0,
            "ptsname_r"
        );
    }
    // SAFETY: ptsname_r wrote a NUL-terminated name into `name`.
    let name = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
        .to_str()
        .expect("a UTF-8 terminal name")
        .to_string();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&name)
        .expect("the pseudo-terminal's slave");
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", scratch.home.path())
        .env("NO_COLOR", "1")
        .env("TERM", "dumb")
        .stdin(slave.try_clone().expect("the slave for stdin"))
        .stdout(slave.try_clone().expect("the slave for stdout"))
        .stderr(slave);
    for (name, value) in env {
        command.env(name, value);
    }
    // SAFETY: between fork and exec the child only calls async-signal-safe functions: a new
    // session, whose controlling terminal becomes the slave on its stdin (where /dev/tty leads,
    // and what the hidden prompt reads).
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("runbook starts");
    // Only the child holds the slave now: the master reads EIO once it exits.
    drop(command);

    let screen: Arc<Mutex<Vec<u8>>> = Arc::default();
    let (done, finished) = std::sync::mpsc::channel();
    let reader = {
        let screen = screen.clone();
        let mut master = master.try_clone().expect("the master for reading");
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read) = master.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                screen.lock().unwrap().extend_from_slice(&buffer[..read]);
            }
            let _ = done.send(());
        })
    };
    let shown = |screen: &Mutex<Vec<u8>>| {
        String::from_utf8_lossy(&screen.lock().unwrap()).replace('\r', "")
    };

    if !early.is_empty() {
        master.write_all(early.as_bytes()).expect("typing early");
    }
    let mut seen = 0;
    for &(prompt, hidden, input) in answers {
        loop {
            let text = shown(&screen);
            let prompted = text.get(seen..).is_some_and(|rest| rest.contains(prompt));
            // SAFETY: a termios is plain data, and tcgetattr fills it in. On the master it reads the
            // slave's settings: what the program set.
            let echo_off = unsafe {
                let mut termios: libc::termios = std::mem::zeroed();
                libc::tcgetattr(master.as_raw_fd(), &mut termios) == 0
                    && termios.c_lflag & libc::ECHO == 0
            };
            if prompted && (echo_off || !hidden) {
                break;
            }
            if let Some(status) = child.try_wait().expect("waiting for runbook") {
                let _ = finished.recv_timeout(Duration::from_secs(5));
                panic!(
                    "runbook ended ({status}) before asking {prompt:?}:\n{}",
                    shown(&screen)
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "no prompt {prompt:?} (hidden: {hidden}) within 30s:\n{}",
                    shown(&screen)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let text = shown(&screen);
        seen = text
            .rfind(prompt)
            .map_or(text.len(), |at| at + prompt.len());
        master.write_all(input.as_bytes()).expect("typing");
    }

    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for runbook") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("runbook did not finish within 30s:\n{}", shown(&screen));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // The reader stops at EIO, once everything the program wrote is read.
    if finished.recv_timeout(Duration::from_secs(10)).is_ok() {
        reader.join().expect("the reader");
    }
    // SAFETY: as above, tcgetattr fills a plain termios: the slave's settings as left behind.
    let echo_after = unsafe {
        let mut termios: libc::termios = std::mem::zeroed();
        libc::tcgetattr(master.as_raw_fd(), &mut termios) == 0 && termios.c_lflag & libc::ECHO != 0
    };
    (status.code().unwrap_or(-1), shown(&screen), echo_after)
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
        "Type yes to go ahead",
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
        "Type yes to go ahead",
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
        "Type yes once it is done",
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
    // Typed only once the prompt shows and echo is off, as an operator would: nothing on the
    // screen may show it.
    let (code, screen) = typed_at_prompt(
        &["exec".into(), file, "--no-journal".into()],
        &[],
        "(input hidden)",
        true,
        &format!("{typed}\n"),
        &scratch,
    );
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("token; $THE_TOKEN not set: (input hidden)"),
        "{screen}"
    );
    assert_eq!(seen.lock().unwrap().1, typed, "the typed value was sent");
    let after_prompt = screen.split("(input hidden)").nth(1).unwrap_or("");
    assert!(
        !after_prompt.contains(typed),
        "the secret was echoed: {screen}"
    );
    assert!(
        !screen.contains(typed),
        "the secret is on the screen: {screen}"
    );
}

#[test]
fn ctrl_c_at_the_confirmation_stops_the_run_waiting_for_confirmation() {
    let (server, seen) = server();
    let scratch = Scratch::new();
    let file = runbook(&scratch, &server, IRREVERSIBLE);
    // Ctrl-C typed once the question shows: the terminal sends the run SIGINT.
    let (code, screen) = typed_at_prompt(
        &["exec".into(), file, "--no-journal".into()],
        &[("THE_TOKEN", "terminal-canary-token-3")],
        "Type yes to go ahead, anything else to stop:",
        false,
        "\u{3}",
        &scratch,
    );
    assert_eq!(code, 130, "{screen}");
    assert!(
        screen.contains("interrupted while waiting for confirmation"),
        "{screen}"
    );
    assert_eq!(seen.lock().unwrap().0, 0, "nothing was sent");
}

/// A `yes` typed while an earlier step still runs (or pasted with an earlier answer) does not
/// answer the question asked after it: only what is typed once the question shows counts.
#[test]
fn a_yes_typed_before_the_question_does_not_confirm_an_irreversible_step() {
    let seen: Arc<Mutex<usize>> = Arc::default();
    let count = seen.clone();
    let router = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                "{}"
            }),
        )
        .route(
            "/thing",
            get(move || {
                let count = count.clone();
                async move {
                    *count.lock().unwrap() += 1;
                    "{}"
                }
            }),
        );
    let server = Server::start(router);
    let scratch = Scratch::new();
    let steps = "  - id: look\n    title: Look first\n    http: { get: \"{{ services.api }}/slow\" }\n  - id: remove\n    title: Remove the thing\n    irreversible: The thing is gone for good.\n    http: { get: \"{{ services.api }}/thing\", headers: { X-Token: \"{{ token }}\" } }\n";
    let file = runbook(&scratch, &server, steps);
    let (code, screen) = at_pty(
        &["exec".into(), file, "--no-journal".into()],
        &[("THE_TOKEN", "terminal-canary-token-5")],
        "yes\n",
        &[("Type yes to go ahead, anything else to stop:", false, "\n")],
        &scratch,
    );
    assert_eq!(code, 5, "{screen}");
    assert!(
        screen.contains("the operator declined the irreversible step"),
        "{screen}"
    );
    assert_eq!(*seen.lock().unwrap(), 0, "nothing was sent");
}

/// An irreversible manual step (the dashboard fallback) shows its instructions once the
/// irreversible question is answered, before the operator confirms having carried them out.
#[test]
fn an_irreversible_manual_step_shows_its_instructions_before_its_question() {
    let (server, _seen) = server();
    let scratch = Scratch::new();
    let step = "  - id: roll\n    title: Roll it in the dashboard\n    irreversible: The old value stops working at once.\n    manual:\n      instructions: \"1. Open the dashboard of {{ services.api }}.\\n2. Press Roll.\"\n      confirm: Rolled?\n";
    let file = runbook(&scratch, &server, step);
    let (code, screen) = at_pty(
        &["exec".into(), file, "--no-journal".into()],
        &[("THE_TOKEN", "terminal-canary-token-6")],
        "",
        &[
            (
                "Type yes to go ahead, anything else to stop:",
                false,
                "yes\n",
            ),
            ("Rolled? Type yes once it is done", false, "yes\n"),
        ],
        &scratch,
    );
    assert_eq!(code, 0, "{screen}");
    let instructions = format!("1. Open the dashboard of {}.\n", server.url());
    let shown_at = screen
        .find(&instructions)
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(screen.contains("2. Press Roll."), "{screen}");
    let asked_at = screen.find("Rolled? Type yes").unwrap();
    let irreversible_at = screen.find("Type yes to go ahead").unwrap();
    assert!(
        irreversible_at < shown_at && shown_at < asked_at,
        "{screen}"
    );
}

/// Ctrl-C at a hidden prompt (which reads with echo and signal keys off) ends the program and
/// gives the terminal back as it was: before a run, at once; at a manual step's hidden
/// question, as an interruption (exit 130), not as a value nobody typed.
#[test]
fn ctrl_c_at_a_hidden_prompt_leaves_the_terminal_echoing() {
    let (server, seen) = server();
    let scratch = Scratch::new();
    let step = "  - id: use\n    title: Use the token\n    http: { get: \"{{ services.api }}/thing\", headers: { X-Token: \"{{ token }}\" } }\n";
    let file = runbook(&scratch, &server, step);
    let (code, screen, echo) = at_pty_echo_after(
        &["exec".into(), file, "--no-journal".into()],
        &[],
        "",
        &[("(input hidden)", true, "\u{3}")],
        &scratch,
    );
    assert_ne!(code, 0, "{screen}");
    assert!(echo, "the terminal echoes again:\n{screen}");
    assert_eq!(seen.lock().unwrap().0, 0, "nothing was sent");

    let scratch = Scratch::new();
    let step = "  - id: tell\n    title: Paste the value\n    manual:\n      instructions: Copy the value shown.\n      confirm: Copied?\n      ask:\n        pasted: { description: the value, secret: true }\n";
    let file = runbook(&scratch, &server, step);
    let (code, screen, echo) = at_pty_echo_after(
        &["exec".into(), file, "--no-journal".into()],
        &[("THE_TOKEN", "terminal-canary-token-7")],
        "",
        &[
            ("Copied? Type yes once it is done", false, "yes\n"),
            ("(input hidden)", true, "\u{3}"),
        ],
        &scratch,
    );
    assert_eq!(code, 130, "{screen}");
    assert!(
        screen.contains("interrupted while waiting for a value"),
        "{screen}"
    );
    assert!(echo, "the terminal echoes again:\n{screen}");
}
