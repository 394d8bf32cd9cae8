//! `runbook exec` against a small stateful fake: captures, assertions, confirmations, rollback
//! notes, and every run-time failure the operator can meet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::support::leak::assert_no_secret_in;
use crate::support::server::{Server, closed_port};
use crate::support::{Home, Outcome, Runbook, Scratch, assert_contains};

/// The fake's state: tokens by id, and how often `/flaky`, `/slow`, `/slow-create` and
/// `/limited-date` have been called.
#[derive(Default)]
struct Tokens {
    live: HashMap<String, String>,
    created: usize,
    flaky_calls: usize,
    slow_calls: usize,
    slow_creates: usize,
    limited_calls: usize,
}

type Shared = Arc<Mutex<Tokens>>;

const MANAGEMENT_TOKEN: &str = "mgmt-canary-7Qx/+9Zp=k";

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        == Some(&format!("Bearer {MANAGEMENT_TOKEN}"))
}

fn cloudflare_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        Json(json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null})),
    )
        .into_response()
}

fn fake() -> (Server, Shared) {
    let state: Shared = Arc::default();
    let router = Router::new()
        .route(
            "/tokens",
            post(|State(state): State<Shared>, headers: HeaderMap, Json(body): Json<Value>| async move {
                if !authorized(&headers) {
                    return cloudflare_error(StatusCode::FORBIDDEN, 10000, "Authentication error");
                }
                let mut tokens = state.lock().unwrap();
                tokens.created += 1;
                let id = format!("tok-{}", tokens.created);
                let secret = format!("s3cr3t+{}/value=={}", body["name"].as_str().unwrap_or(""), tokens.created);
                tokens.live.insert(id.clone(), secret.clone());
                (StatusCode::CREATED, Json(json!({"success": true, "result": {"id": id, "secret": secret}}))).into_response()
            }),
        )
        .route(
            "/tokens/{id}",
            get(|State(state): State<Shared>, Path(id): Path<String>, headers: HeaderMap| async move {
                let tokens = state.lock().unwrap();
                let given = headers.get("x-token-secret").and_then(|value| value.to_str().ok());
                match tokens.live.get(&id) {
                    Some(secret) if Some(secret.as_str()) == given => {
                        Json(json!({"success": true, "result": {"id": id, "status": "active"}})).into_response()
                    }
                    _ => cloudflare_error(StatusCode::UNAUTHORIZED, 1000, "Invalid API token"),
                }
            })
            .delete(|State(state): State<Shared>, Path(id): Path<String>, headers: HeaderMap| async move {
                if !authorized(&headers) {
                    return cloudflare_error(StatusCode::FORBIDDEN, 10000, "Authentication error");
                }
                match state.lock().unwrap().live.remove(&id) {
                    Some(_) => Json(json!({"success": true, "result": {"id": id}})).into_response(),
                    None => cloudflare_error(StatusCode::NOT_FOUND, 1001, "token not found"),
                }
            }),
        )
        .route(
            "/echo-error",
            get(|headers: HeaderMap| async move {
                // A server that echoes the credential it was sent in its error message.
                let sent = headers.get("authorization").and_then(|value| value.to_str().ok()).unwrap_or("").to_string();
                cloudflare_error(StatusCode::BAD_REQUEST, 6003, &format!("Invalid request headers: {sent}"))
            }),
        )
        .route("/text", get(|| async { "plain text, not JSON" }))
        .route(
            "/slow",
            get(|State(state): State<Shared>| async move {
                state.lock().unwrap().slow_calls += 1;
                tokio::time::sleep(Duration::from_secs(5)).await;
                Json(json!({"ok": true}))
            }),
        )
        .route(
            "/flaky",
            get(|State(state): State<Shared>| async move {
                let mut tokens = state.lock().unwrap();
                tokens.flaky_calls += 1;
                let ready = tokens.flaky_calls >= 3;
                Json(json!({"ready": ready, "calls": tokens.flaky_calls}))
            }),
        )
        .route("/list", get(|| async { Json(json!({"items": [{"id": "a"}, {"id": "b"}], "count": 2})) }))
        .route(
            "/slow-create",
            post(|State(state): State<Shared>| async move {
                state.lock().unwrap().slow_creates += 1;
                tokio::time::sleep(Duration::from_secs(3)).await;
                (StatusCode::CREATED, Json(json!({"id": "late"})))
            }),
        )
        .route(
            "/limited-date",
            get(|State(state): State<Shared>| async move {
                let calls = {
                    let mut tokens = state.lock().unwrap();
                    tokens.limited_calls += 1;
                    tokens.limited_calls
                };
                if calls == 1 {
                    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
                    let date = jiff::fmt::rfc2822::DateTimePrinter::new()
                        .timestamp_to_rfc9110_string(&later)
                        .unwrap();
                    (StatusCode::TOO_MANY_REQUESTS, [("retry-after", date)], Json(json!({"message": "slow down"}))).into_response()
                } else {
                    Json(json!({"ok": true})).into_response()
                }
            }),
        )
        .route(
            "/redirect",
            get(|| async { (StatusCode::FOUND, [("location", "http://elsewhere.example/")]).into_response() }),
        )
        .with_state(state.clone());
    (Server::start(router), state)
}

/// A runbook over the fake: create a token, verify it with the captured secret, delete it.
fn rotation(extra_steps: &str) -> String {
    format!(
        r#"runbook: rotation
title: Rotate a token on the fake
services:
  api: http://127.0.0.1:1
inputs:
  mgmt_token:
    env: [MGMT_TOKEN, LEGACY_MGMT_TOKEN]
    secret: true
  name:
    env: [TOKEN_NAME]
    default: ci
steps:
  - id: create
    title: Create the token
    http:
      post: "{{{{ services.api }}}}/tokens"
      bearer: "{{{{ mgmt_token }}}}"
      json: {{ name: "{{{{ name }}}}" }}
    expect:
      status: 201
      json:
        $.success: true
    capture:
      token_id: $.result.id
      token_secret: {{ json: $.result.secret, secret: true }}
    rollback: Delete token {{{{ token_id }}}} (DELETE {{{{ services.api }}}}/tokens/{{{{ token_id }}}}).
  - id: verify
    title: Verify it
    http:
      get: "{{{{ services.api }}}}/tokens/{{{{ token_id }}}}"
      headers:
        X-Token-Secret: "{{{{ token_secret }}}}"
    expect:
      status: 200
      json:
        $.result.status: active
        $.result.id: "{{{{ token_id }}}}"
    rollback: Nothing to undo for the check of {{{{ token_id }}}}.
{extra_steps}"#
    )
}

const DELETE_STEP: &str = r#"  - id: delete
    title: Delete it
    irreversible: The token stops working at once.
    http:
      delete: "{{ services.api }}/tokens/{{ token_id }}"
      bearer: "{{ mgmt_token }}"
    expect:
      status: 200
"#;

fn exec(scratch: &Scratch, text: &str, server: &Server) -> Runbook {
    let path = scratch.write("runbook.yaml", text);
    Runbook::new(["exec"])
        .arg(path.display().to_string())
        .arg("--service")
        .arg(format!("api={}", server.url()))
        .env("MGMT_TOKEN", MANAGEMENT_TOKEN)
        .home(&scratch.home)
}

/// No form of `secret` in `text` (an output); a failure masks the secret.
#[track_caller]
fn assert_no_secret(text: &str, secret: &str) {
    assert_no_secret_in(&[("the output", text)], &[secret]);
}

#[test]
fn a_rotation_runs_end_to_end_and_changes_server_state() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let outcome = exec(&scratch, &rotation(DELETE_STEP), &server)
        .arg("--yes")
        .run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let tokens = state.lock().unwrap();
    assert_eq!(tokens.created, 1, "exactly one token was created");
    assert!(tokens.live.is_empty(), "the token was deleted");
    let lines: Vec<&str> = outcome
        .stdout
        .lines()
        .filter(|line| line.contains("/3  "))
        .collect();
    assert_eq!(lines.len(), 3, "one line per step: {}", outcome.stdout);
    assert!(
        lines[0].contains("ok") && lines[0].contains("create") && lines[0].contains("POST 201"),
        "{}",
        lines[0]
    );
    assert!(
        lines[2].contains("irreversible: confirmed by --yes"),
        "{}",
        lines[2]
    );
    assert_contains(&outcome.stdout, "completed in");
    assert_no_secret(&outcome.all(), MANAGEMENT_TOKEN);
    assert_no_secret(&outcome.all(), "s3cr3t+ci/value==1");
}

#[test]
fn secrets_never_reach_json_output_or_trace_logs() {
    let (server, _state) = fake();
    let scratch = Scratch::new();
    let outcome = exec(&scratch, &rotation(DELETE_STEP), &server)
        .arg("--yes")
        .arg("--output")
        .arg("json")
        .env("RUST_LOG", "trace")
        .run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("TRACE") || outcome.stderr.contains("DEBUG"),
        "trace logs are on"
    );
    assert_no_secret(&outcome.all(), MANAGEMENT_TOKEN);
    assert_no_secret(&outcome.all(), "s3cr3t+ci/value==1");
    let events = outcome.json_lines();
    let kinds: Vec<&str> = events
        .iter()
        .map(|event| event["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    let create = events
        .iter()
        .find(|event| event["event"] == "step_finished" && event["id"] == "create")
        .unwrap();
    let secret = create["captures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "token_secret")
        .unwrap();
    assert_eq!(secret["value"], "***");
    assert_eq!(secret["secret"], true);
    assert_eq!(secret["fingerprint"].as_str().unwrap().len(), 8);
    assert_eq!(events.last().unwrap()["status"], "completed");
}

#[test]
fn an_error_body_that_echoes_a_secret_is_masked() {
    let (server, _state) = fake();
    let scratch = Scratch::new();
    let text = r#"runbook: echo
title: An API that echoes credentials
services:
  api: http://127.0.0.1:1
inputs:
  mgmt_token: { env: [MGMT_TOKEN], secret: true }
steps:
  - id: call
    title: Call
    http:
      get: "{{ services.api }}/echo-error"
      bearer: "{{ mgmt_token }}"
"#;
    let outcome = exec(&scratch, text, &server).run();
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stdout.contains(
            "expected status 2xx, got 400 Bad Request: [6003] Invalid request headers: Bearer ***"
        ),
        "{}",
        outcome.stdout
    );
    assert_no_secret(&outcome.all(), MANAGEMENT_TOKEN);
}

#[test]
fn irreversible_step_without_terminal_or_yes_is_refused() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let outcome = exec(&scratch, &rotation(DELETE_STEP), &server).run();
    assert_eq!(outcome.code, 5, "{outcome:?}");
    assert!(
        outcome.stdout.contains("step `delete` is irreversible (The token stops working at once.) and there is no terminal to confirm it on; re-run with --yes to confirm it"),
        "{}",
        outcome.stdout
    );
    assert_eq!(
        state.lock().unwrap().live.len(),
        1,
        "the token was not deleted"
    );
    assert!(
        outcome
            .stdout
            .contains("Rollback notes, in the order to carry them out:")
    );
}

#[test]
fn a_failure_prints_rollback_notes_with_live_values_in_reverse_order() {
    let (server, _state) = fake();
    let scratch = Scratch::new();
    let failing = r#"  - id: fail
    title: Expect the impossible
    http:
      get: "{{ services.api }}/list"
    expect:
      json:
        $.count: 3
    rollback: Nothing happened in this step ({{ token_id }}).
"#;
    let outcome = exec(&scratch, &rotation(failing), &server).run();
    assert_eq!(outcome.code, 1, "{outcome:?}");
    let notes = outcome
        .stdout
        .split("Rollback notes")
        .nth(1)
        .expect("rollback notes are printed");
    let fail = notes
        .find("1. fail (the step that stopped)")
        .expect("the failed step comes first");
    let verify = notes
        .find("2. verify")
        .expect("then the last completed step");
    let create = notes.find("3. create").expect("then the first");
    assert!(fail < verify && verify < create);
    assert!(
        notes.contains("Delete token tok-1 (DELETE http://127.0.0.1:"),
        "{notes}"
    );
    assert_contains(notes, "Nothing happened in this step (tok-1).");
}

#[test]
fn every_failed_assertion_is_reported() {
    let (server, _state) = fake();
    let scratch = Scratch::new();
    let text = r#"runbook: asserts
title: Several assertions fail
services:
  api: http://127.0.0.1:1
steps:
  - id: list
    title: List
    http:
      get: "{{ services.api }}/list"
    expect:
      status: 200
      json:
        $.count: { ">": 5 }
        $.items: { length: 3 }
        $.items[0].id: { matches: "^z" }
        $.missing: { exists: true }
      headers:
        content-type: { contains: xml }
      that:
        - response.json.count == 7
"#;
    let outcome = exec(&scratch, text, &server).run();
    assert_eq!(outcome.code, 1);
    for expected in [
        "$.count: expected > 5, got 2",
        "$.items: length expected == 3, got 2",
        "$.items[0].id: expected to match /^z/, got \"a\"",
        "$.missing: expected to exist, matched nothing",
        "header content-type: expected to contain \"xml\", got \"application/json\"",
        "expected that response.json.count == 7, which is false",
    ] {
        assert!(
            outcome.stdout.contains(expected),
            "missing {expected:?} in:\n{}",
            outcome.stdout
        );
    }
}

#[test]
fn connection_refused_says_what_to_check() {
    let scratch = Scratch::new();
    let port = closed_port();
    let text = format!(
        "runbook: refused\ntitle: Nothing listens\nsteps:\n  - id: call\n    title: Call\n    http:\n      get: http://127.0.0.1:{port}/x\n"
    );
    let path = scratch.write("refused.yaml", text);
    let outcome = Runbook::new(["exec"]).arg(path.display().to_string()).run();
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stdout.contains(&format!(
            "connection refused by 127.0.0.1:{port}: nothing is listening there"
        )),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_slow_answer_times_out() {
    let (server, _state) = fake();
    let scratch = Scratch::new();
    let text = "runbook: slow\ntitle: Slow\nservices:\n  api: http://127.0.0.1:1\nsteps:\n  - id: wait\n    title: Wait\n    http:\n      get: \"{{ services.api }}/slow\"\n      timeout: 200ms\n";
    let outcome = exec(&scratch, text, &server).run();
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stdout.contains("no response from 127.0.0.1:"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("within 200ms"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn tls_to_a_plain_http_port_is_a_tls_error() {
    let (server, _state) = fake();
    let scratch = Scratch::new();
    let text = format!(
        "runbook: tls\ntitle: TLS\nsteps:\n  - id: call\n    title: Call\n    http:\n      get: https://{}/list\n",
        server.addr
    );
    let path = scratch.write("tls.yaml", text);
    let outcome = Runbook::new(["exec"]).arg(path.display().to_string()).run();
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stdout.contains("TLS handshake with 127.0.0.1:"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_non_json_body_where_json_is_needed() {
    let (server, _state) = fake();
    let scratch = Scratch::new();
    let text = "runbook: text\ntitle: Text\nservices:\n  api: http://127.0.0.1:1\nsteps:\n  - id: read\n    title: Read\n    http:\n      get: \"{{ services.api }}/text\"\n    capture:\n      id: $.id\n";
    let outcome = exec(&scratch, text, &server).run();
    assert_eq!(outcome.code, 1);
    assert!(
        outcome
            .stdout
            .contains("capture `id`: the response body is not JSON (text/plain; charset=utf-8)"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_jsonpath_matching_nothing_or_several_values() {
    let (server, _state) = fake();
    let scratch = Scratch::new();
    let text = "runbook: paths\ntitle: Paths\nservices:\n  api: http://127.0.0.1:1\nsteps:\n  - id: read\n    title: Read\n    http:\n      get: \"{{ services.api }}/list\"\n    capture:\n      nothing: $.nothing\n      several: $.items[*].id\n";
    let outcome = exec(&scratch, text, &server).run();
    assert_eq!(outcome.code, 1);
    assert!(outcome.stdout.contains("capture `nothing`: $.nothing matched nothing in the response (an object with keys items, count)"), "{}", outcome.stdout);
    assert!(
        outcome
            .stdout
            .contains("capture `several`: $.items[*].id matched 2 values, expected exactly one"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_redirect_is_not_followed() {
    let (server, _state) = fake();
    let scratch = Scratch::new();
    let text = "runbook: redirect\ntitle: Redirect\nservices:\n  api: http://127.0.0.1:1\nsteps:\n  - id: read\n    title: Read\n    http:\n      get: \"{{ services.api }}/redirect\"\n";
    let outcome = exec(&scratch, text, &server).run();
    assert_eq!(outcome.code, 1);
    assert!(
        outcome
            .stdout
            .contains("a redirect to http://elsewhere.example/, not followed"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn retry_polls_until_the_condition_holds() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let text = "runbook: poll\ntitle: Poll\nservices:\n  api: http://127.0.0.1:1\nsteps:\n  - id: wait-ready\n    title: Wait until ready\n    http:\n      get: \"{{ services.api }}/flaky\"\n    retry:\n      attempts: 5\n      interval: 10ms\n      backoff: 2\n      until: response.json.ready\n";
    let outcome = exec(&scratch, text, &server).run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(state.lock().unwrap().flaky_calls, 3);
    assert!(outcome.stdout.contains("wait-ready: attempt 1/5 failed (`response.json.ready` does not hold yet); retrying in 10ms"), "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("GET 200 200 200"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn when_skips_and_for_each_repeats() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let steps = r#"  - id: cleanup
    title: Delete each
    for_each: ["{{ token_id }}", tok-404]
    http:
      delete: "{{ services.api }}/tokens/{{ item }}"
      bearer: "{{ mgmt_token }}"
    expect:
      status: [200, 404]
  - id: never
    title: Never runs
    when: name == 'other'
    http:
      get: "{{ services.api }}/list"
"#;
    let outcome = exec(&scratch, &rotation(steps), &server).run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(state.lock().unwrap().live.is_empty());
    assert!(
        outcome.stdout.contains("DELETE 200 404"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .contains("skipped: `name == 'other'` is false"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn missing_input_names_the_env_vars_tried() {
    let outcome = Runbook::new(["exec", "tests/fixtures/bad/inputs.yaml"]).run();
    assert_eq!(outcome.code, 4);
    assert!(
        outcome.stderr.contains("missing required input `account_id` (The account): tried --var account_id, $CF_ACCOUNT_ID, $CLOUDFLARE_ACCOUNT_ID"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("tests/fixtures/bad/inputs.yaml:6:"),
        "points at the input: {}",
        outcome.stderr
    );
    assert_contains(
        &outcome.stderr,
        "missing required input `token` (The API token): tried $CF_TOKEN, $CLOUDFLARE_TOKEN",
    );
}

#[test]
fn an_env_var_that_is_not_utf8_is_named_not_taken_for_absent() {
    let outcome = Runbook::new(["exec", "tests/fixtures/bad/inputs.yaml"])
        .env_bytes("CF_ACCOUNT_ID", b"\xff\xfe0123")
        .run();
    assert_eq!(outcome.code, 4, "{outcome:?}");
    assert_contains(
        &outcome.stderr,
        "tried --var account_id, $CF_ACCOUNT_ID, $CLOUDFLARE_ACCOUNT_ID; $CF_ACCOUNT_ID is set but not valid UTF-8, so it was not used",
    );
}

#[test]
fn an_input_failing_its_pattern_is_refused() {
    let outcome = Runbook::new([
        "exec",
        "tests/fixtures/bad/inputs.yaml",
        "--var",
        "account_id=xyz",
    ])
    .env("CLOUDFLARE_TOKEN", "a-realistic-token-value")
    .run();
    assert_eq!(outcome.code, 4);
    assert!(outcome.stderr.contains("input `account_id`: `xyz` from --var account_id does not match the pattern [0-9a-f]{32}"), "{}", outcome.stderr);
}

#[test]
fn a_secret_input_cannot_be_given_on_the_command_line() {
    let outcome = Runbook::new([
        "exec",
        "tests/fixtures/bad/inputs.yaml",
        "--var",
        "token=hunter2-canary",
    ])
    .run();
    assert_eq!(outcome.code, 4);
    assert!(
        outcome
            .stderr
            .contains("input `token` is secret and cannot be given with --var"),
        "{}",
        outcome.stderr
    );
    assert_contains(&outcome.stderr, "export CF_TOKEN=… instead");
}

#[test]
fn unknown_var_and_service_overrides_are_errors() {
    let outcome = Runbook::new([
        "plan",
        "tests/fixtures/bad/inputs.yaml",
        "--var",
        "acount_id=1",
        "--service",
        "apy=http://127.0.0.1:1",
    ])
    .run();
    assert_eq!(outcome.code, 4);
    assert!(
        outcome.stderr.contains(
            "--var acount_id: the runbook has no input `acount_id` (did you mean `account_id`?)"
        ),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("--service apy=…: the runbook has no service `apy` (did you mean `api`?)"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn the_legacy_env_var_is_the_fallback() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let path = scratch.write("runbook.yaml", rotation(""));
    let outcome = Runbook::new(["exec"])
        .arg(path.display().to_string())
        .arg("--service")
        .arg(format!("api={}", server.url()))
        .env("LEGACY_MGMT_TOKEN", MANAGEMENT_TOKEN)
        .home(&scratch.home)
        .run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(state.lock().unwrap().created, 1);
}

/// `runbook exec` of a rotation whose added step waits on the fake's slow endpoint: the command,
/// ready to spawn.
#[cfg(unix)]
fn slow_run(server: &Server, scratch: &Scratch) -> std::process::Command {
    use std::process::{Command, Stdio};
    let slow = "  - id: wait\n    title: Wait for a slow answer\n    http:\n      get: \"{{ services.api }}/slow\"\n";
    let path = scratch.write("runbook.yaml", rotation(slow));
    let mut command = Command::new(crate::support::BIN);
    command
        .arg("exec")
        .arg(&path)
        .arg("--service")
        .arg(format!("api={}", server.url()))
        .env_clear()
        .env("HOME", scratch.home.path())
        .env("MGMT_TOKEN", MANAGEMENT_TOKEN)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits until the slow request is in flight: the fake has received it.
#[cfg(unix)]
fn wait_for_the_slow_request(child: &mut std::process::Child, state: &Shared) {
    let started = std::time::Instant::now();
    while state.lock().unwrap().slow_calls == 0 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "runbook ended before the slow request was sent"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the slow request was never sent"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_cleanly_and_prints_the_rollback_notes() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let mut child = slow_run(&server, &scratch).spawn().unwrap();
    // Interrupt only once the slow request is in flight.
    wait_for_the_slow_request(&mut child, &state);
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{stdout}");
    assert_eq!(
        state.lock().unwrap().slow_calls,
        1,
        "the slow request was sent once"
    );
    assert!(
        stdout.contains("STOPPED") && stdout.contains("interrupted while waiting for the response"),
        "{stdout}"
    );
    assert!(stdout.contains("ABORTED during step wait"), "{stdout}");
    assert!(stdout.contains("Delete token tok-1"), "{stdout}");
}

/// A run holds secrets in memory; a crash must not write them out as a core dump. The child is
/// started with core dumps allowed (soft limit raised to the hard one), so the limit it runs
/// with is its own doing.
#[cfg(target_os = "linux")]
#[test]
fn a_run_in_flight_cannot_dump_core() {
    use std::os::unix::process::CommandExt;
    let (server, state) = fake();
    let scratch = Scratch::new();
    let mut command = slow_run(&server, &scratch);
    // SAFETY: getrlimit and setrlimit are plain system calls, safe between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let mut limit: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_CORE, &mut limit);
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_CORE, &limit);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    wait_for_the_slow_request(&mut child, &state);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id()));
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
    let limits = limits.expect("the child's limits are readable");
    let core = limits
        .lines()
        .find(|line| line.starts_with("Max core file size"))
        .expect("a core size line");
    let soft = core.split_whitespace().nth(4).expect("the soft limit");
    assert_eq!(soft, "0", "{core}");
}

#[test]
fn retry_after_as_an_http_date_is_waited_out() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let text = "runbook: limited\ntitle: Limited\nservices:\n  api: http://127.0.0.1:1\nsteps:\n  - id: read\n    title: Read\n    http:\n      get: \"{{ services.api }}/limited-date\"\n";
    let started = std::time::Instant::now();
    let outcome = exec(&scratch, text, &server).run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(state.lock().unwrap().limited_calls, 2);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the date was honoured"
    );
    assert!(
        outcome
            .stdout
            .contains("429 Too Many Requests; request 1 of 4); retrying in"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_post_that_times_out_is_not_repeated_without_a_check() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let text = r#"runbook: slow-create
title: A create that times out
services:
  api: http://127.0.0.1:1
steps:
  - id: create
    title: Create
    http:
      post: "{{ services.api }}/slow-create"
      timeout: 300ms
    expect:
      status: 201
"#;
    let outcome = exec(&scratch, text, &server).run();
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert_eq!(
        state.lock().unwrap().slow_creates,
        1,
        "a POST is never retried blindly"
    );
    let run = scratch.home.only_run();
    let shown = Runbook::new(["show", &run]).home(&scratch.home).run();
    assert!(
        shown.stdout.contains("IN DOUBT: sent POST http://"),
        "{}",
        shown.stdout
    );
    let refused = Runbook::new(["resume", &run]).home(&scratch.home).run();
    assert_eq!(refused.code, 5, "{}", refused.stderr);
    assert!(
        refused.stdout.contains("step `create` sent POST http://"),
        "{}",
        refused.stdout
    );
    assert!(
        refused
            .stdout
            .contains("--repeat create (send it again) or --skip create (it took effect)"),
        "{}",
        refused.stdout
    );
    assert_eq!(state.lock().unwrap().slow_creates, 1, "still not repeated");
    let skipped = Runbook::new(["resume", &run, "--skip", "create"])
        .home(&scratch.home)
        .run();
    assert_eq!(skipped.code, 0, "{}\n{}", skipped.stdout, skipped.stderr);
    assert!(
        skipped
            .stdout
            .contains("took effect before the crash (the operator (command line)): not repeated"),
        "{}",
        skipped.stdout
    );
    assert_eq!(state.lock().unwrap().slow_creates, 1);
}

#[test]
fn a_looped_change_left_in_doubt_is_put_to_the_operator_not_to_its_check() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    // Item 1 is created, item 2 times out; the check would say "took effect" for any item.
    let text = r#"runbook: looped-create
title: A looped create whose second item times out
services:
  api: http://127.0.0.1:1
inputs:
  token: { env: [MGMT_TOKEN], secret: true }
steps:
  - id: create
    title: Create one per item
    for_each: [tokens, slow-create, tokens]
    http:
      post: "{{ services.api }}/{{ item }}"
      bearer: "{{ token }}"
      json: { name: "{{ item }}" }
      timeout: 300ms
    expect:
      status: 201
    resume:
      check:
        get: "{{ services.api }}/list"
      took_effect: "response.json.count > 0"
    rollback: Delete what was created.
"#;
    let outcome = exec(&scratch, text, &server).run();
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert_eq!(state.lock().unwrap().created, 1);
    assert_eq!(state.lock().unwrap().slow_creates, 1);
    let refused = resume(&scratch, &[]);
    assert_eq!(refused.code, 5, "{}\n{}", refused.stdout, refused.stderr);
    assert_contains(
        &refused.stdout,
        "runs once per item of its `for_each`: item 1 went through, and item 2 was sent (POST",
    );
    assert_contains(
        &refused.stdout,
        "Repeating sends item 2 again and goes on with the rest",
    );
    assert_contains(&refused.stdout, "--repeat create (send it again)");
    // Neither ended the loop early on the check's word nor sent anything again.
    assert_eq!(state.lock().unwrap().created, 1);
    assert_eq!(state.lock().unwrap().slow_creates, 1);
}

/// `runbook resume` of the scratch home's only run, with the management token and `extra`.
fn resume(scratch: &Scratch, extra: &[&str]) -> Outcome {
    let run = scratch.home.only_run();
    Runbook::new(["resume", run.as_str()])
        .args(extra.iter().copied())
        .env("MGMT_TOKEN", MANAGEMENT_TOKEN)
        .home(&scratch.home)
        .run()
}

/// A runbook named `name` whose step `create` POSTs once per item of `items` to
/// `{{ services.api }}/{{ item }}` (`tokens` creates one; another route is a 404), then `more`:
/// further lines of that step, and further steps.
fn looped_create(name: &str, items: &str, more: &str) -> String {
    format!(
        r#"runbook: {name}
title: A looped create
services:
  api: http://127.0.0.1:1
inputs:
  token: {{ env: [MGMT_TOKEN], secret: true }}
steps:
  - id: create
    title: Create one per item
    for_each: [{items}]
    http:
      post: "{{{{ services.api }}}}/{{{{ item }}}}"
      bearer: "{{{{ token }}}}"
      json: {{ name: "{{{{ item }}}}" }}
    expect:
      status: 201
{more}"#
    )
}

/// A runbook whose step `create` POSTs once per item to `api`, then `spare` (a closed port,
/// until a resume points it at the fake), then `api` again; then `more`: further lines of that
/// step, and further steps.
fn looped_on_two_services(name: &str, more: &str) -> String {
    format!(
        r#"runbook: {name}
title: A looped create on two services
services:
  api: http://127.0.0.1:1
  spare: http://127.0.0.1:1
inputs:
  token: {{ env: [MGMT_TOKEN], secret: true }}
steps:
  - id: create
    title: Create one per service
    for_each: ["{{{{ services.api }}}}/tokens", "{{{{ services.spare }}}}/tokens", "{{{{ services.api }}}}/tokens"]
    http:
      post: "{{{{ item }}}}"
      bearer: "{{{{ token }}}}"
      json: {{ name: looped }}
    expect: {{ status: 201 }}
{more}"#
    )
}

/// Runs `text`, whose loop must stop after its first item went through: exit 1, one token.
fn stopped_after_first_item(
    scratch: &Scratch,
    text: &str,
    server: &Server,
    state: &Shared,
) -> Outcome {
    let outcome = exec(scratch, text, server).run();
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert_eq!(state.lock().unwrap().created, 1);
    outcome
}

/// Resumes with `extra` and checks that the loop, stopped after its first item, was put to the
/// operator (exit 5) and nothing was sent again.
fn put_to_operator(scratch: &Scratch, extra: &[&str], state: &Shared) -> Outcome {
    let refused = resume(scratch, extra);
    assert_eq!(refused.code, 5, "{}\n{}", refused.stdout, refused.stderr);
    assert_contains(
        &refused.stdout,
        "the earlier run completed 1 of its items and then stopped before the step finished",
    );
    assert_eq!(state.lock().unwrap().created, 1);
    refused
}

/// Rewrites the one run's journal, as another version of runbook would have written it.
fn edit_journal(scratch: &Scratch, edit: impl FnOnce(String) -> String) {
    let path = scratch.home.journal_path(&scratch.home.only_run());
    let journal = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(journal)).unwrap();
}

/// A runbook whose step `create` creates a token for each of `one`, `two` and `three` (items
/// that differ, as a journal tells items apart by value), then `more`: further lines of that
/// step.
fn looped_names(name: &str, more: &str) -> String {
    looped_create(name, "one, two, three", more).replacen(
        r#"post: "{{ services.api }}/{{ item }}""#,
        r#"post: "{{ services.api }}/tokens""#,
        1,
    )
}

/// Runs `text` (whose step `create` loops over three items, each creating a token) to the end, then cuts its
/// journal after the second item's request was announced: as if the process had died with
/// item 2 sent and its answer never recorded. Three tokens exist on the server.
fn died_with_item_2_in_doubt(scratch: &Scratch, text: &str, server: &Server, state: &Shared) {
    let outcome = exec(scratch, text, server).run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(state.lock().unwrap().created, 3);
    edit_journal(scratch, |journal| {
        let mut kept = String::new();
        let mut intents = 0;
        for line in journal.lines() {
            kept.push_str(line);
            kept.push('\n');
            if line.contains(r#""record":"intent","step":"create""#) {
                intents += 1;
                if intents == 2 {
                    return kept;
                }
            }
        }
        panic!("the journal has no second intent of `create`:\n{journal}");
    });
}

/// Resumes a run from [`died_with_item_2_in_doubt`] with `--repeat create`: it goes on from
/// item 2, which with item 3 makes 5 tokens, never item 1 again.
fn repeated_from_item_2(scratch: &Scratch, state: &Shared) {
    let repeated = resume(scratch, &["--repeat", "create"]);
    assert_eq!(repeated.code, 0, "{}\n{}", repeated.stdout, repeated.stderr);
    assert_contains(
        &repeated.stdout,
        "continued at item 2 of 3: the earlier run got item 1 through",
    );
    assert_eq!(state.lock().unwrap().created, 5, "items 2 and 3, not 1");
}

/// A damaged journal whose item position is past any the run could have written: no
/// allocation sized by it, and the loop goes to the operator whole.
#[test]
fn an_impossible_item_position_puts_the_loop_to_the_operator() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let text = looped_create("looped-damaged", "tokens, tokens, tokens", "");
    died_with_item_2_in_doubt(&scratch, &text, &server, &state);
    edit_journal(&scratch, |journal| {
        assert!(journal.contains(r#""position":1,"#));
        journal.replacen(r#""position":1,"#, r#""position":4000000000000000000,"#, 1)
    });
    let refused = resume(&scratch, &[]);
    assert_eq!(refused.code, 5, "{}\n{}", refused.stdout, refused.stderr);
    assert_contains(
        &refused.stdout,
        "repeating it runs every item again; skipping it counts the whole step as done",
    );
    assert_eq!(state.lock().unwrap().created, 3);
}

/// A loop that died with one item in doubt asks about that item alone: the items before it
/// went through, and neither answer sends them again.
#[test]
fn a_loop_that_died_with_an_item_in_doubt_asks_about_that_item_alone() {
    let (server, state) = fake();
    let text = looped_names("looped-in-doubt", "");

    // Without an answer, the operator is asked about item 2, and nothing is sent.
    let scratch = Scratch::new();
    died_with_item_2_in_doubt(&scratch, &text, &server, &state);
    let refused = resume(&scratch, &[]);
    assert_eq!(refused.code, 5, "{}\n{}", refused.stdout, refused.stderr);
    assert_contains(
        &refused.stdout,
        "item 1 went through, and item 2 was sent (POST",
    );
    assert_contains(
        &refused.stdout,
        "Repeating sends item 2 again and goes on with the rest; skipping counts item 2 as done and goes on after it",
    );
    assert_eq!(state.lock().unwrap().created, 3);

    // --repeat sends item 2 again, then item 3: never item 1.
    repeated_from_item_2(&scratch, &state);
    assert_contains(
        &scratch.home.journal(&scratch.home.only_run()),
        r#""decision":"repeat item 2","by":"the operator (command line)""#,
    );

    // --skip counts item 2 as done and sends item 3 alone.
    let (server, state) = fake();
    let scratch = Scratch::new();
    died_with_item_2_in_doubt(&scratch, &text, &server, &state);
    let skipped = resume(&scratch, &["--skip", "create"]);
    assert_eq!(skipped.code, 0, "{}\n{}", skipped.stdout, skipped.stderr);
    assert_contains(
        &skipped.stdout,
        "continued at item 3 of 3: the earlier run got items 1 to 2 through",
    );
    assert_eq!(state.lock().unwrap().created, 4, "item 3 alone");
    assert_item_2_skipped(
        &scratch,
        r#""decision":"skip item 2","by":"the operator (command line)""#,
    );
}

/// Equal items are told apart by their position in the journal: the loop still goes on from
/// the item in doubt.
#[test]
fn equal_items_in_doubt_are_told_apart_by_their_position() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let text = looped_create("looped-equal-items", "tokens, tokens, tokens", "");
    died_with_item_2_in_doubt(&scratch, &text, &server, &state);
    repeated_from_item_2(&scratch, &state);
    assert_contains(
        &scratch.home.journal(&scratch.home.only_run()),
        r#""item":"tokens","position":1,"attempt""#,
    );
}

/// At a terminal the operator answers about the item in doubt: `skip` goes on after it.
#[test]
fn at_a_terminal_skip_of_an_item_in_doubt_goes_on_after_it() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    died_with_item_2_in_doubt(
        &scratch,
        &looped_names("looped-in-doubt-asked", ""),
        &server,
        &state,
    );
    let run = scratch.home.only_run();
    let (code, shown) = crate::interactive::at_terminal(
        &["resume".to_string(), run.clone()],
        &[("MGMT_TOKEN", MANAGEMENT_TOKEN)],
        "type repeat to send it again",
        "skip\n",
        &scratch,
    );
    assert_eq!(code, 0, "{shown}");
    assert_contains(&shown, "item 1 went through, and item 2 was sent (POST");
    assert_contains(
        &shown,
        "type repeat to send it again, skip if it took effect",
    );
    assert_contains(
        &shown,
        "continued at item 3 of 3: the earlier run got items 1 to 2 through",
    );
    assert_eq!(state.lock().unwrap().created, 4, "item 3 alone");
    assert_item_2_skipped(&scratch, r#""decision":"skip item 2","by":"the operator""#);
}

/// The journal of the scratch home's run says item 2 was skipped (`settled`, a fragment of
/// its record), and records it as through, so that a crash from here on goes on after it too.
fn assert_item_2_skipped(scratch: &Scratch, settled: &str) {
    let journal = scratch.home.journal(&scratch.home.only_run());
    assert_contains(&journal, settled);
    assert_contains(
        &journal,
        r#""record":"item_finished","step":"create","item":1"#,
    );
}

/// Skipping an item in doubt whose answer held captures cannot go on after it: its captures
/// were lost with the answer. The whole step counts as done, as the operator is told.
#[test]
fn skipping_an_item_in_doubt_that_captured_counts_the_whole_step_as_done() {
    let (server, state) = fake();
    let text = looped_names(
        "looped-in-doubt-captures",
        "    capture:\n      ids: $.result.id\n",
    );
    let scratch = Scratch::new();
    died_with_item_2_in_doubt(&scratch, &text, &server, &state);
    let refused = resume(&scratch, &[]);
    assert_eq!(refused.code, 5, "{}\n{}", refused.stdout, refused.stderr);
    assert_contains(
        &refused.stdout,
        "skipping counts the whole step as done (the item's captures were lost with its answer), so finish any remaining items by hand",
    );
    let skipped = resume(&scratch, &["--skip", "create"]);
    assert_eq!(skipped.code, 0, "{}\n{}", skipped.stdout, skipped.stderr);
    assert_contains(
        &skipped.stdout,
        "took effect before the crash (the operator (command line)): not repeated; any items it had not reached are to be done by hand",
    );
    assert_eq!(state.lock().unwrap().created, 3, "nothing is sent again");
}

/// A loop that failed partway goes on from the item that failed on resume: the items before it
/// went through (the journal says which), and are not sent again.
#[test]
fn a_looped_change_that_failed_partway_goes_on_from_the_item_that_failed() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let text = looped_create(
        "looped-partway",
        "tokens, no-such-route, tokens",
        r#"    rollback: Delete what was created.
  - id: after
    title: After the loop
    http:
      get: "{{ services.api }}/list"
"#,
    );
    stopped_after_first_item(&scratch, &text, &server, &state);
    let again = resume(&scratch, &[]);
    assert_eq!(again.code, 1, "{}\n{}", again.stdout, again.stderr);
    assert_contains(
        &again.stdout,
        "continued at item 2 of 3: the earlier run got item 1 through",
    );
    assert_contains(&again.stdout, "POST 404");
    assert_eq!(state.lock().unwrap().created, 1, "item 1 is not sent again");
    let run = scratch.home.only_run();
    let shown = Runbook::new(["show", run.as_str()])
        .home(&scratch.home)
        .run();
    assert_contains(
        &shown.stdout,
        "  create                       failed  (items through: 1)",
    );
    let shown = Runbook::new(["show", run.as_str(), "--output", "json"])
        .home(&scratch.home)
        .run();
    let shown: Value = serde_json::from_str(&shown.stdout).expect("one JSON document");
    let create = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["step"] == "create")
        .unwrap();
    assert_eq!(create["items_through"], json!([1]));
    // The operator can still count the step as done.
    let skipped = resume(&scratch, &["--skip", "create"]);
    assert_eq!(skipped.code, 0, "{}\n{}", skipped.stdout, skipped.stderr);
    assert_contains(&skipped.stdout, "counted as done by the operator");
    assert_contains(&skipped.stdout, "ok        after");
    assert_eq!(state.lock().unwrap().created, 1);
}

/// The loop goes on to the end once what made an item fail is fixed (here: the service it
/// calls, pointed elsewhere on resume), and the earlier items are not sent again.
#[test]
fn a_resumed_loop_finishes_its_remaining_items_only() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let text = looped_on_two_services("looped-services", "");
    let outcome = stopped_after_first_item(&scratch, &text, &server, &state);
    assert_contains(&outcome.stdout, "connection refused");
    let spare = format!("spare={}", server.url());
    let resumed = resume(&scratch, &["--service", &spare]);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    assert_contains(
        &resumed.stdout,
        "continued at item 2 of 3: the earlier run got item 1 through",
    );
    assert_eq!(state.lock().unwrap().created, 3, "items 2 and 3, once each");
}

/// A resumed loop's captures are whole: the items the earlier run got through come back from
/// the journal (a secret one unsealed), the rest are taken now, in item order.
#[test]
fn a_resumed_loop_keeps_the_captures_of_its_earlier_items() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let text = looped_on_two_services(
        "looped-captures",
        r#"    capture:
      ids: $.result.id
      secrets: { json: $.result.secret, secret: true }
  - id: verify-first
    title: The first item's token, with its secret from the earlier run
    http:
      get: "{{ services.api }}/tokens/{{ ids[0] }}"
      headers: { X-Token-Secret: "{{ secrets[0] }}" }
    expect: { status: 200 }
  - id: verify-last
    title: The last item's token
    when: ids == ['tok-1', 'tok-2', 'tok-3'] and secrets | length == 3
    http:
      get: "{{ services.api }}/tokens/{{ ids[2] }}"
      headers: { X-Token-Secret: "{{ secrets[2] }}" }
    expect: { status: 200 }
"#,
    );
    stopped_after_first_item(&scratch, &text, &server, &state);
    let spare = format!("spare={}", server.url());
    let resumed = resume(&scratch, &["--service", &spare]);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    assert_contains(&resumed.stdout, "continued at item 2 of 3");
    assert_contains(&resumed.stdout, "ok        verify-first");
    assert_contains(&resumed.stdout, "ok        verify-last");
    assert_eq!(state.lock().unwrap().created, 3);
    for secret in state.lock().unwrap().live.values() {
        assert_no_secret(&resumed.stdout, secret);
        assert_no_secret(&resumed.stderr, secret);
    }
}

/// Without a key, a secret a loop captured was only fingerprinted: its earlier items' values
/// cannot come back, so the loop cannot go on from the middle, and the operator decides.
#[test]
fn a_loop_whose_earlier_secrets_cannot_come_back_is_put_to_the_operator() {
    let (server, state) = fake();
    let scratch = Scratch {
        dir: tempfile::tempdir().unwrap(),
        home: Home::bare(),
    };
    let text = looped_create(
        "looped-unsealed",
        "tokens, no-such-route",
        "    capture:\n      secrets: { json: $.result.secret, secret: true }\n",
    );
    stopped_after_first_item(&scratch, &text, &server, &state);
    put_to_operator(&scratch, &[], &state);
}

/// An item that failed before its request went out (a template that does not render for it)
/// must not make the items before it count as not sent: they are not sent again.
#[test]
fn an_item_that_failed_before_sending_does_not_repeat_the_items_before_it() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let text = r#"runbook: looped-render
title: A looped create whose second item does not render
services:
  api: http://127.0.0.1:1
inputs:
  token: { env: [MGMT_TOKEN], secret: true }
steps:
  - id: create
    title: Create one per item
    for_each: [{ route: tokens }, { other: x }]
    http:
      post: "{{ services.api }}/{{ item.route }}"
      bearer: "{{ token }}"
      json: { name: looped }
    expect: { status: 201 }
"#;
    stopped_after_first_item(&scratch, text, &server, &state);
    let resumed = resume(&scratch, &[]);
    assert_eq!(resumed.code, 1, "{}\n{}", resumed.stdout, resumed.stderr);
    assert_contains(&resumed.stdout, "continued at item 2 of 2");
    assert_eq!(state.lock().unwrap().created, 1, "item 1 is not sent again");
}

/// A run journaled before items were recorded (format 1) cannot tell which items went through:
/// a resume does not go on from the middle of its loop, it asks, as it did then.
#[test]
fn a_loop_in_a_format_1_journal_is_put_to_the_operator() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let text = looped_create("looped-format-1", "tokens, no-such-route", "");
    stopped_after_first_item(&scratch, &text, &server, &state);
    edit_journal(&scratch, |journal| {
        assert!(journal.contains(r#""record":"item_finished","step":"create","item":0"#));
        journal
            .lines()
            .filter(|line| !line.contains(r#""record":"item_finished""#))
            .map(|line| format!("{}\n", line.replacen(r#""format":2"#, r#""format":1"#, 1)))
            .collect()
    });
    put_to_operator(&scratch, &[], &state);
}

/// A journal written by a newer version may record what this one does not know: no resume.
#[test]
fn a_run_journaled_by_a_newer_version_is_not_resumed() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let text = looped_create("looped-newer", "tokens, no-such-route", "");
    stopped_after_first_item(&scratch, &text, &server, &state);
    edit_journal(&scratch, |journal| {
        journal.replacen(r#""format":2"#, r#""format":3"#, 1)
    });
    let refused = resume(&scratch, &[]);
    assert_eq!(refused.code, 4, "{}\n{}", refused.stdout, refused.stderr);
    assert_contains(
        &refused.stderr,
        "was journaled by a newer runbook (journal format 3, this one reads up to 2): resume it with that version",
    );
    assert_eq!(state.lock().unwrap().created, 1);
}

/// When the items are no longer the ones the earlier run sent (the runbook changed), going on
/// from the middle could skip or repeat the wrong ones: the operator decides.
#[test]
fn a_loop_whose_items_changed_is_put_to_the_operator() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let first = looped_create("looped-changed", "tokens, no-such-route", "");
    stopped_after_first_item(&scratch, &first, &server, &state);
    scratch.write(
        "runbook.yaml",
        looped_create("looped-changed", "other-route, tokens", ""),
    );
    let refused = put_to_operator(&scratch, &["--allow-changed"], &state);
    assert_contains(&refused.stdout, "--skip create");
}

/// A loop that failed on its first item changed nothing: like a step without a loop that failed,
/// a resume runs it again without asking.
#[test]
fn a_looped_change_that_failed_on_its_first_item_runs_again_on_resume() {
    let (server, state) = fake();
    let scratch = Scratch::new();
    let text = looped_create("looped-first", "no-such-route, tokens", "");
    let outcome = exec(&scratch, &text, &server).run();
    assert_eq!(outcome.code, 1, "{outcome:?}");
    let resumed = resume(&scratch, &[]);
    // Run again (and failing again on the same item), not refused for the operator to decide.
    assert_eq!(resumed.code, 1, "{}\n{}", resumed.stdout, resumed.stderr);
    assert!(
        !resumed.stdout.contains("--skip create"),
        "{}",
        resumed.stdout
    );
    assert_contains(&resumed.stdout, "FAILED    create");
    assert_eq!(state.lock().unwrap().created, 0);
}

#[test]
fn a_hint_of_a_looped_step_names_the_item_that_failed() {
    let (server, _state) = fake();
    let scratch = Scratch::new();
    let steps = r#"  - id: cleanup
    title: Delete each
    for_each: ["{{ token_id }}", tok-404]
    http:
      delete: "{{ services.api }}/tokens/{{ item }}"
      bearer: "{{ mgmt_token }}"
    hints:
      404: "token {{ item }} is already gone"
    rollback: Nothing to undo.
"#;
    let outcome = exec(&scratch, &rotation(steps), &server).run();
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert_contains(&outcome.stdout, "hint: token tok-404 is already gone");
}

#[test]
fn a_status_without_a_standard_reason_is_shown_as_its_number_alone() {
    let router = Router::new().route("/odd", get(|| async { StatusCode::from_u16(299).unwrap() }));
    let server = Server::start(router);
    let scratch = Scratch::new();
    let path = scratch.write(
        "odd.yaml",
        format!(
            "runbook: odd\ntitle: Odd\nsteps:\n  - id: odd\n    title: Odd\n    http: {{ get: \"{}/odd\" }}\n    expect: {{ status: 200 }}\n",
            server.url()
        ),
    );
    let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--no-journal"])
        .home(&scratch.home)
        .run();
    assert_eq!(outcome.code, 1, "{outcome:?}");
    // It used to read "got 299 " (an empty reason), and a retried 5xx "failed (599 ; …)".
    assert_contains(&outcome.stdout, "     expected status 200, got 299\n");
}

#[test]
fn json_after_a_byte_order_mark_is_read() {
    let router = Router::new().route(
        "/bom",
        get(|| async {
            (
                [("content-type", "application/json")],
                "\u{feff}{\"id\": \"after-the-mark\"}",
            )
        }),
    );
    let server = Server::start(router);
    let scratch = Scratch::new();
    let path = scratch.write(
        "bom.yaml",
        format!(
            "runbook: bom\ntitle: Bom\nsteps:\n  - id: read\n    title: Read\n    http: {{ get: \"{}/bom\" }}\n    capture:\n      id: $.id\n  - id: show\n    title: Show\n    manual: \"Found {{{{ id }}}}.\"\n",
            server.url()
        ),
    );
    let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--no-journal", "--yes"])
        .home(&scratch.home)
        .run();
    // serde_json refuses the mark: the capture used to fail with "expected value at line 1".
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_contains(&outcome.stdout, "Found after-the-mark.");
}
