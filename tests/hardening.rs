//! What the review of the first full version found, each pinned down: values typed in at a
//! manual step survive a crash, a resume keeps the lock of an unfinished rotation, an answer
//! with an unexpected status cannot show the secret it carries, and a looped step's captures
//! come back as a list.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::support::server::Server;
use crate::support::{Outcome, Runbook, Scratch};

/// How many times each route was called, and whether `/finish` answers yet.
#[derive(Default)]
struct Calls {
    finish_ready: bool,
    seen: Vec<String>,
}

type Shared = Arc<Mutex<Calls>>;

fn exec(scratch: &Scratch, path: &std::path::Path, env: &[(&str, &str)]) -> Outcome {
    let mut command = Runbook::new(["exec", path.to_str().unwrap(), "--yes"]).home(&scratch.home);
    for (name, value) in env {
        command = command.env(name, value);
    }
    command.run()
}

/// `/finish` answers 503 until the test says it is ready; it records the header it got.
fn finishing_server(shared: &Shared) -> Server {
    let router = Router::new()
        .route("/create", post(|| async { StatusCode::CREATED }))
        .route(
            "/finish",
            post(
                |State(state): State<Shared>, headers: HeaderMap| async move {
                    let mut calls = state.lock().unwrap();
                    let key = headers
                        .get("x-key")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    calls.seen.push(key);
                    if calls.finish_ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                },
            ),
        )
        .with_state(shared.clone());
    Server::start(router)
}

#[test]
fn a_value_typed_in_at_a_manual_step_is_sealed_and_restored_on_resume() {
    const PASTED: &str = "pasted-once-canary-5f1e9b27c4d8";
    let shared = Shared::default();
    let server = finishing_server(&shared);
    let scratch = Scratch::new();
    let path = scratch.write(
        "pasted.yaml",
        format!(
            r#"runbook: pasted
title: A value rolled in a dashboard
steps:
  - id: roll-in-dashboard
    title: Roll the token in the dashboard
    manual:
      instructions: Roll it, and paste the new value.
      ask:
        new_value: {{ description: the new value, secret: once, env: [PASTED_VALUE] }}
  - id: store
    title: Store the new value
    http:
      post: "{}/finish"
      headers: {{ X-Key: "{{{{ new_value }}}}" }}
    rollback: Roll again in the dashboard.
"#,
            server.url()
        ),
    );
    let first = exec(&scratch, &path, &[("PASTED_VALUE", PASTED)]);
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(!first.all().contains(PASTED));
    let run = scratch.home.only_run();
    let journal = scratch.home.journal(&run);
    assert!(
        !journal.contains(PASTED),
        "the journal holds the value in plaintext"
    );
    let capture = journal
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|record| record["record"] == "capture" && record["name"] == "new_value")
        .expect("the typed-in value is journaled");
    assert!(capture["sealed"].is_string(), "{capture}");

    // The operator's environment no longer has the value: it comes back from the journal.
    shared.lock().unwrap().finish_ready = true;
    let resumed = Runbook::new(["resume", &run, "--yes"])
        .home(&scratch.home)
        .run();
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    assert!(!resumed.all().contains(PASTED));
    let seen = shared.lock().unwrap().seen.clone();
    assert_eq!(seen, vec![PASTED.to_string(), PASTED.to_string()]);
}

#[test]
fn a_resume_that_fails_before_changing_anything_keeps_the_lock() {
    let shared = Shared::default();
    let server = finishing_server(&shared);
    let scratch = Scratch::new();
    let path = scratch.write(
        "half-done.yaml",
        format!(
            r#"runbook: half-done
title: Create, then finish
steps:
  - id: create
    title: Create the new credential
    http:
      post: "{url}/create"
    rollback: Delete the new credential.
  - id: finish
    title: Finish
    http:
      post: "{url}/finish"
    rollback: Nothing to undo.
"#,
            url = server.url()
        ),
    );
    let first = exec(&scratch, &path, &[]);
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(first.stderr.contains("stays held"), "{}", first.stderr);
    let run = scratch.home.only_run();

    // The resume fails too, at the step that was not done: the rotation is still half done
    // (the earlier attempt created a credential), so the lock must stay.
    let resumed = Runbook::new(["resume", &run, "--yes"])
        .home(&scratch.home)
        .run();
    assert_eq!(resumed.code, 1, "{}", resumed.stderr);
    assert!(resumed.stderr.contains("stays held"), "{}", resumed.stderr);
    let fresh = exec(&scratch, &path, &[]);
    assert_eq!(fresh.code, 4, "{}", fresh.stderr);
    assert!(
        fresh
            .stderr
            .contains("another run holds the lock `half-done`"),
        "{}",
        fresh.stderr
    );
}

#[test]
fn an_unexpected_status_never_shows_the_secret_the_answer_carries() {
    const SECRET: &str = "body-secret-canary-8c2d41aa90e3";
    let router = Router::new().route(
        "/roll",
        // 200 where the runbook expects 201, with the new value as the whole body.
        post(|| async { (StatusCode::OK, SECRET) }),
    );
    let server = Server::start(router);
    let scratch = Scratch::new();
    let path = scratch.write(
        "roll.yaml",
        format!(
            r#"runbook: roll
title: Roll a token
steps:
  - id: roll
    title: Roll the token
    http:
      post: "{}/roll"
    expect: {{ status: 201 }}
    capture:
      new_value: {{ body: true, secret: once }}
    rollback: Roll again.
  - id: store
    title: Store it
    manual:
      instructions: Store the new value.
"#,
            server.url()
        ),
    );
    let outcome = exec(&scratch, &path, &[]);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains("expected status 201, got 200 OK"),
        "{}",
        outcome.stdout
    );
    assert!(!outcome.all().contains(SECRET), "the secret was shown");
    let run = scratch.home.only_run();
    let journal = scratch.home.journal(&run);
    assert!(!journal.contains(SECRET));
    // The API may never show it again: it is kept, sealed, for `runbook recover`.
    assert!(
        journal.contains("\"name\":\"new_value\"") && journal.contains("\"sealed\""),
        "{journal}"
    );
}

/// A run id is a name in the state directory, never a path: `../` would reach a journal in a
/// directory whose privacy nobody checked.
#[test]
fn a_run_id_that_is_a_path_is_refused_before_any_journal_is_read() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "note.yaml",
        "runbook: note\ntitle: Note\nsteps:\n  - id: note\n    title: Note\n    manual: Write it down.\n",
    );
    let outcome = exec(&scratch, &path, &[]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let run = scratch.home.only_run();
    let shown = Runbook::new(["show", &run]).home(&scratch.home).run();
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    // The same journal, reached by a path: it was read and shown (exit 0) before.
    for id in [
        format!("../runs/{run}"),
        format!("runs/../{run}"),
        "/etc/passwd".to_string(),
        ".".to_string(),
    ] {
        for verb in ["show", "resume"] {
            let outcome = Runbook::new([verb, id.as_str()]).home(&scratch.home).run();
            assert_eq!(outcome.code, 4, "{verb} {id}: {}", outcome.all());
            assert!(
                outcome.stderr.contains(&format!(
                    "runbook: `{id}` is not a run id: run ids look like 20261123T204403974Z-0b295bcf, a name inside the state directory, never a path (`runbook runs` lists them)"
                )),
                "{verb} {id}: {}",
                outcome.stderr
            );
        }
    }
}

/// What a failure quotes of an answer (its first line, a redirect's target without its query)
/// is masked before it is cut: a part of a secret is no longer the secret's form.
#[test]
fn an_answer_is_masked_whole_before_a_message_quotes_part_of_it() {
    const MULTILINE: &str = "first-line-canary-41\nsecond-line-canary-42";
    const SPACED: &str = "  spaced-canary-77  ";
    const REDIRECT: &str = "redirect-canary?tail-canary-99";
    const INNER: &str = "inner-canary-5150";
    let router = Router::new()
        .route(
            "/multiline",
            post(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    format!("error: invalid token {MULTILINE}\n"),
                )
            }),
        )
        .route(
            "/spaced",
            post(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    format!("error: invalid token {SPACED}\n"),
                )
            }),
        )
        .route(
            "/redirect",
            post(|| async {
                (
                    StatusCode::FOUND,
                    [("location", format!("http://127.0.0.1:1/x/{REDIRECT}"))],
                )
            }),
        )
        .route(
            "/object",
            get(|| async {
                axum::Json(serde_json::json!({"result": {"id": "tok-1", "client_secret": INNER}}))
            }),
        )
        .route(
            "/inner",
            post(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    format!("error: secret {INNER} rejected\n"),
                )
            }),
        );
    let server = Server::start(router);
    let scratch = Scratch::new();
    for (route, expected) in [
        (
            "multiline",
            "got 400 Bad Request: the body says: error: invalid token ***",
        ),
        (
            "spaced",
            "got 400 Bad Request: the body says: error: invalid token ***",
        ),
        (
            "redirect",
            "got 302 Found: a redirect to http://127.0.0.1:1/x/***, not followed",
        ),
        (
            "object",
            "got 400 Bad Request: the body says: error: secret *** rejected",
        ),
    ] {
        let path = scratch.write(
            "echo.yaml",
            format!(
                r#"runbook: echo
title: Echo
inputs:
  token: {{ env: [THE_TOKEN], secret: true }}
steps:
  - id: whole
    title: Read a secret object
    http: {{ get: "{url}/object" }}
    capture:
      whole: {{ json: $.result, secret: true }}
  - id: send
    title: Send
    http:
      post: "{url}/{post}"
      json: {{ token: "{{{{ token }}}}", whole: "{{{{ whole }}}}" }}
      read_only: true
"#,
                url = server.url(),
                post = if route == "object" { "inner" } else { route },
            ),
        );
        let token = match route {
            "multiline" => MULTILINE,
            "spaced" => SPACED,
            "redirect" => REDIRECT,
            _ => "unused-token-canary",
        };
        let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--output", "json"])
            .home(&scratch.home)
            .env("THE_TOKEN", token)
            .run();
        assert_eq!(outcome.code, 1, "{route}: {}", outcome.stderr);
        assert!(
            outcome.stdout.contains(expected),
            "{route}: {}",
            outcome.stdout
        );
        let run = scratch.home.only_run();
        let journal = scratch.home.journal(&run);
        for canary in [
            "canary-41",
            "canary-42",
            "canary-77",
            "canary-99",
            "canary?",
            INNER,
        ] {
            assert!(
                !outcome.all().contains(canary),
                "{route}: {canary} was shown"
            );
            assert!(!journal.contains(canary), "{route}: {canary} was journaled");
        }
        std::fs::remove_dir_all(scratch.home.state()).unwrap();
    }
}

#[test]
fn a_looped_steps_captures_come_back_as_a_list_on_resume() {
    #[derive(serde::Deserialize)]
    struct Ids {
        ids: String,
    }
    let shared = Shared::default();
    let router = Router::new()
        .route(
            "/tokens",
            post(|body: String| async move {
                let name: serde_json::Value = serde_json::from_str(&body).unwrap();
                let id = format!("id-{}", name["name"].as_str().unwrap());
                (
                    StatusCode::CREATED,
                    axum::Json(serde_json::json!({"id": id})),
                )
            }),
        )
        .route(
            "/check",
            get(
                |State(state): State<Shared>, Query(query): Query<Ids>| async move {
                    let mut calls = state.lock().unwrap();
                    calls.seen.push(query.ids);
                    // 409, not a 5xx: a GET is retried on a 5xx, and the count matters here.
                    if calls.finish_ready {
                        StatusCode::OK
                    } else {
                        StatusCode::CONFLICT
                    }
                },
            ),
        )
        .with_state(shared.clone());
    let server = Server::start(router);
    let scratch = Scratch::new();
    let path = scratch.write(
        "looped.yaml",
        format!(
            r#"runbook: looped
title: Create several, then check them all
steps:
  - id: create
    title: Create one token per name
    for_each: [a, b, c]
    http:
      post: "{url}/tokens"
      json: {{ name: "{{{{ item }}}}" }}
    capture:
      ids: $.id
    rollback: Delete the tokens.
  - id: check
    title: Check them all
    http:
      get: "{url}/check"
      query: {{ ids: "{{{{ ids | join(',') }}}}" }}
"#,
            url = server.url()
        ),
    );
    let first = exec(&scratch, &path, &[]);
    assert_eq!(first.code, 1, "{}", first.stderr);
    let run = scratch.home.only_run();
    shared.lock().unwrap().finish_ready = true;
    let resumed = Runbook::new(["resume", &run, "--yes"])
        .home(&scratch.home)
        .run();
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    let seen = shared.lock().unwrap().seen.clone();
    assert_eq!(seen, vec!["id-a,id-b,id-c", "id-a,id-b,id-c"]);
}

#[test]
fn a_service_override_with_credentials_is_refused_without_echoing_them() {
    let outcome = Runbook::new([
        "plan",
        "runbooks/cloudflare-access-service-token.yaml",
        "--service",
        "cloudflare=https://admin:override-password-canary@api.example.test/client/v4",
    ])
    .run();
    assert_eq!(outcome.code, 4, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("--service cloudflare=…: a base URL carries no credentials"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.all().contains("override-password-canary"));
}

const SECRET_DEFAULT: &str = r#"runbook: fp
title: Fingerprints
inputs:
  api_key: { env: [API_KEY], secret: true, default: "old-default-canary-111" }
vars:
  label: "rotation-{{ run_id }}"
steps:
  - id: use
    title: Use the key
    http:
      get: https://api.example.test/check
      bearer: "{{ api_key }}"
      headers: { X-Label: "{{ label }}" }
  - id: audit
    title: Record it
    audit:
      action: key.used
      context: { note: plain }
"#;

#[test]
fn diff_never_shows_a_secret_inputs_default_and_a_fingerprint_is_no_risk() {
    let scratch = Scratch::new();
    let old = scratch.write("old.yaml", SECRET_DEFAULT);
    let new = scratch.write(
        "new.yaml",
        SECRET_DEFAULT
            .replace("old-default-canary-111", "new-default-canary-222")
            .replace(
                "context: { note: plain }",
                r#"context: { note: plain, fp: "{{ api_key | fingerprint }}" }"#,
            ),
    );
    for format in ["markdown", "json"] {
        let outcome = Runbook::new([
            "diff",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
            "--format",
            format,
        ])
        .run();
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        let all = outcome.all();
        assert!(!all.contains("default-canary"), "{format}: {all}");
        assert!(
            all.contains("(secret, not shown; fingerprint "),
            "{format}: {all}"
        );
        // The change still shows: the two fingerprints differ.
        assert!(
            all.contains("3a159eb9") && all.contains("4920f4b7"),
            "{all}"
        );
        // `| fingerprint` is what an audit record should hold, not a secret flowing into it.
        assert!(!all.contains("Needs attention"), "{format}: {all}");
        assert!(!all.to_lowercase().contains("risk"), "{format}: {all}");
    }
}

#[test]
fn render_sets_run_id_before_a_var_that_reads_it() {
    let scratch = Scratch::new();
    let path = scratch.write("fp.yaml", SECRET_DEFAULT);
    let outcome = Runbook::new(["render", path.to_str().unwrap()]).run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let run_id = outcome
        .stdout
        .find("RUN_ID=\"$(date -u +%Y%m%dT%H%M%SZ)\"")
        .expect("RUN_ID is set");
    let label = outcome
        .stdout
        .find("LABEL=\"rotation-$RUN_ID\"")
        .expect("LABEL reads it");
    assert!(run_id < label, "{}", outcome.stdout);
    assert!(!outcome.stdout.contains("old-default-canary-111"));
}

/// A value a template makes of a secret (`{{ token | lower }}`, a slice, a replace) is masked
/// like the secret: a server that echoes it, or an expectation that quotes it, showed it.
#[test]
fn what_a_template_makes_of_a_secret_is_masked_like_the_secret() {
    const TOKEN: &str = "cf-7Hq2-Lm9X-pR4t-Zz81-Wd3K";
    let router = Router::new().route(
        "/echo",
        post(|headers: HeaderMap, body: String| async move {
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            let bearer = headers["authorization"]
                .to_str()
                .unwrap()
                .trim_start_matches("Bearer ")
                .to_string();
            axum::Json(serde_json::json!({
                "echo": [bearer, body["key"], body["prefix"]],
                "ok": false,
            }))
        }),
    );
    let server = Server::start(router);
    let scratch = Scratch::new();
    let path = scratch.write(
        "derived.yaml",
        format!(
            r#"runbook: derived
title: Derived
inputs:
  token: {{ env: [THE_TOKEN], secret: true }}
steps:
  - id: call
    title: Call
    http:
      post: "{}/echo"
      bearer: "{{{{ token | lower }}}}"
      json: {{ key: "{{{{ token | replace('-', '') }}}}", prefix: "{{{{ token[:8] }}}}" }}
      read_only: true
    expect:
      json:
        $.echo[0]: "x"
        $.echo[1]: "x"
        $.echo[2]: "x"
        $.ok: "{{{{ token | upper }}}}"
"#,
            server.url()
        ),
    );
    let outcome = exec(&scratch, &path, &[("THE_TOKEN", TOKEN)]);
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    for expected in [
        "$.echo[0]: expected == \"x\", got \"***\"",
        "$.echo[1]: expected == \"x\", got \"***\"",
        "$.echo[2]: expected == \"x\", got \"***\"",
    ] {
        crate::support::assert_contains(&outcome.stdout, expected);
    }
    let journal = scratch.home.journal(&scratch.home.only_run());
    for form in [
        TOKEN.to_lowercase(),
        TOKEN.replace('-', ""),
        TOKEN[..8].to_string(),
        TOKEN.to_uppercase(),
    ] {
        assert!(
            !outcome.all().contains(&form),
            "{form} was shown:\n{}",
            outcome.stdout
        );
        assert!(!journal.contains(&form), "{form} was journaled:\n{journal}");
    }
}

/// A rehearsal reaches its emulator and nothing else: a URL written out in full is refused
/// before it is resolved (it would carry the environment's credential to the real service),
/// and an audit record goes to the rehearsal's own state directory, whatever `file:` says.
#[test]
fn a_rehearsal_reaches_only_the_emulator_and_writes_only_its_state() {
    let scratch = Scratch::new();
    let elsewhere = scratch.dir.path().join("elsewhere.jsonl");
    let path = scratch.write(
        "rehearse.yaml",
        format!(
            r#"runbook: rehearse
title: Rehearse
inputs:
  tok: {{ env: [CF_TOK], secret: true }}
services:
  cloudflare: https://api.cloudflare.com/client/v4
steps:
  - id: audit
    title: Record it
    audit: {{ action: rehearsed, file: "{}" }}
  - id: literal
    title: Verify at a literal URL
    http: {{ get: "https://api.cloudflare.com/client/v4/user/tokens/verify", bearer: "{{{{ tok }}}}" }}
"#,
            elsewhere.display()
        ),
    );
    let state = scratch.dir.path().join("state");
    let outcome = Runbook::new([
        "exec",
        path.to_str().unwrap(),
        "--emulate",
        "--yes",
        "--state-dir",
    ])
    .arg(state.display().to_string())
    .home(&scratch.home)
    .env("CF_TOK", "real-token-canary-77")
    .run();
    assert_eq!(outcome.code, 1, "{}\n{}", outcome.stdout, outcome.stderr);
    crate::support::assert_contains(
        &outcome.stdout,
        "the request cannot be sent: https://api.cloudflare.com is not one of the services a rehearsal reaches (--emulate sends nothing anywhere else): write the URL as {{ services.NAME }}/…, or pass --service NAME=URL",
    );
    assert!(!elsewhere.exists(), "the audit record left the rehearsal");
    let written = crate::support::leak::files_under(&state);
    assert!(
        written
            .iter()
            .any(|(file, text)| file.ends_with("elsewhere.jsonl")
                && text.contains("\"action\":\"rehearsed\"")),
        "{:?}",
        written.iter().map(|(file, _)| file).collect::<Vec<_>>()
    );
    assert!(!outcome.all().contains("real-token-canary-77"));
}

/// Only what is made of the secret is masked: not the plain values a template that reads a
/// secret also writes (`{{ run_id }}`), not words like `false`, and not `| fingerprint`, which
/// is meant to be shown (the audit record keeps it).
#[test]
fn plain_values_beside_a_secret_in_a_template_stay_visible() {
    let router = Router::new().route(
        "/echo",
        post(|| async { axum::Json(serde_json::json!({"ok": true})) }),
    );
    let server = Server::start(router);
    let scratch = Scratch::new();
    let path = scratch.write(
        "beside.yaml",
        format!(
            r#"runbook: beside
title: Beside
inputs:
  token: {{ env: [THE_TOKEN], secret: true }}
steps:
  - id: call
    title: Call
    http:
      post: "{}/echo"
      headers: {{ Idempotency-Key: "{{{{ run_id }}}}-{{{{ token | sha256 }}}}" }}
      json: {{ flag: "{{{{ 'false' if token else 'true' }}}}" }}
    rollback: Nothing to undo.
  - id: audit
    title: Record it
    audit:
      action: key.used
      context: {{ fp: "{{{{ token | fingerprint }}}}" }}
"#,
            server.url()
        ),
    );
    let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--output", "json"])
        .home(&scratch.home)
        .env("THE_TOKEN", "beside-token-canary-66")
        .run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let events = outcome.json_lines();
    let run_id = events[0]["run_id"].as_str().unwrap().to_string();
    assert_eq!(run_id, scratch.home.only_run());
    let finished = events.last().unwrap();
    assert_eq!(finished["mutated"], true, "{finished}");
    let audit = std::fs::read_to_string(scratch.home.state().join("audit.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(record["run_id"], run_id.as_str(), "{record}");
    let fingerprint = record["context"]["fp"].as_str().unwrap();
    assert!(
        fingerprint.len() == 8 && fingerprint.bytes().all(|byte| byte.is_ascii_hexdigit()),
        "{record}"
    );
    assert!(!outcome.all().contains("beside-token-canary-66"));
}

/// A generic store target reads the propagated value as `value`: what it makes of it is
/// masked too.
#[test]
fn what_a_store_target_makes_of_the_value_is_masked() {
    const TOKEN: &str = "cf-7Hq2-Lm9X-pR4t-Zz81-Wd3K";
    let router = Router::new().route(
        "/vars/{name}",
        axum::routing::put(|body: String| async move {
            (StatusCode::BAD_REQUEST, format!("bad value: {body}\n"))
        }),
    );
    let server = Server::start(router);
    let scratch = Scratch::new();
    let path = scratch.write(
        "store.yaml",
        format!(
            r#"runbook: store
title: Store
inputs:
  token: {{ env: [THE_TOKEN], secret: true }}
steps:
  - id: push
    title: Push
    propagate:
      values: {{ API_TOKEN: "{{{{ token }}}}" }}
      targets:
        - http: {{ put: "{}/vars/{{{{ name }}}}", body: "{{{{ value | lower }}}}" }}
    rollback: Put the old value back.
"#,
            server.url()
        ),
    );
    let outcome = exec(&scratch, &path, &[("THE_TOKEN", TOKEN)]);
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    crate::support::assert_contains(&outcome.stdout, "bad value: ***");
    let journal = scratch.home.journal(&scratch.home.only_run());
    assert!(
        !outcome.all().contains(&TOKEN.to_lowercase()),
        "{}",
        outcome.stdout
    );
    assert!(!journal.contains(&TOKEN.to_lowercase()), "{journal}");
}

/// The strings inside a secret object are masked in what is shown and in the journal's text,
/// but a plain capture equal to one (the id beside the secret) is journaled as it is: a
/// resume binds what the journal says, and `***` would name nothing.
#[test]
fn a_plain_capture_beside_a_secret_object_is_journaled_as_it_is() {
    const INNER: &str = "inner-canary-9090";
    let router = Router::new()
        .route(
            "/object",
            get(|| async {
                axum::Json(
                    serde_json::json!({"result": {"id": "token-id-4711", "client_secret": INNER}}),
                )
            }),
        )
        .route(
            "/fail",
            post(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    format!("error: secret {INNER} of token-id-4711\n"),
                )
            }),
        );
    let server = Server::start(router);
    let scratch = Scratch::new();
    let path = scratch.write(
        "beside.yaml",
        format!(
            r#"runbook: beside
title: Beside
steps:
  - id: read
    title: Read
    http: {{ get: "{url}/object" }}
    capture:
      whole: {{ json: $.result, secret: true }}
      token_id: $.result.id
  - id: send
    title: Send
    http: {{ post: "{url}/fail", json: {{ id: "{{{{ token_id }}}}", whole: "{{{{ whole }}}}" }}, read_only: true }}
"#,
            url = server.url()
        ),
    );
    let outcome = exec(&scratch, &path, &[]);
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    assert!(
        outcome
            .stdout
            .contains("the body says: error: secret *** of ***"),
        "{}",
        outcome.stdout
    );
    let journal = scratch.home.journal(&scratch.home.only_run());
    assert!(
        journal.contains(r#""name":"token_id","secret":false,"value":"token-id-4711""#),
        "{journal}"
    );
    assert!(journal.contains("error: secret *** of ***"), "{journal}");
    assert!(!journal.contains(INNER), "{journal}");
    assert!(!outcome.all().contains(INNER));
}

/// JSON numbers are read as 64-bit integers or floats: an id beyond 64 bits would come out
/// rounded, and a request built with it would name another object. Such a capture fails.
#[test]
fn an_integer_too_large_for_64_bits_is_not_captured_rounded() {
    let router = Router::new()
        .route(
            "/big",
            get(|| async {
                (
                    [("content-type", "application/json")],
                    r#"{"id": 12345678901234567890123}"#,
                )
            }),
        )
        .route(
            "/float",
            get(|| async { ([("content-type", "application/json")], r#"{"id": 1e22}"#) }),
        );
    let server = Server::start(router);
    let scratch = Scratch::new();
    for (route, code) in [("big", 1), ("float", 0)] {
        let path = scratch.write(
            "big.yaml",
            format!(
                "runbook: big\ntitle: Big\nsteps:\n  - id: read\n    title: Read\n    http: {{ get: \"{}/{route}\" }}\n    capture: {{ id: $.id }}\n  - id: use\n    title: Use\n    manual: Look at {{{{ id }}}}.\n",
                server.url()
            ),
        );
        let outcome = exec(&scratch, &path, &[]);
        assert_eq!(outcome.code, code, "{route}: {}", outcome.stdout);
        if code == 1 {
            crate::support::assert_contains(
                &outcome.stdout,
                "capture `id`: $.id is an integer too large for 64 bits, read as the approximation 1.2345678901234568e+22; it cannot be used exactly (capture a field the API gives as a string)",
            );
        }
    }
}

/// A store's read-back is a GET like any other: a 503 is waited out and the GET sent again,
/// and the target's line says so. It failed the step at once before.
#[test]
fn a_store_read_back_that_gets_503_is_sent_again_and_said() {
    let reads = Arc::new(Mutex::new(0u32));
    let router = Router::new()
        .route(
            "/apps/app-prod/config-vars",
            axum::routing::patch(|| async { axum::Json(serde_json::json!({})) }).get(
                |State(reads): State<Arc<Mutex<u32>>>| async move {
                    let mut reads = reads.lock().unwrap();
                    *reads += 1;
                    if *reads == 1 {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            axum::Json(serde_json::json!({})),
                        )
                    } else {
                        (
                            StatusCode::OK,
                            axum::Json(serde_json::json!({"TOKEN": "store-value-canary-31"})),
                        )
                    }
                },
            ),
        )
        .with_state(reads.clone());
    let server = Server::start(router);
    let scratch = Scratch::new();
    let path = scratch.write(
        "store.yaml",
        format!(
            r#"runbook: store
title: Store
inputs:
  heroku_key: {{ env: [HEROKU_API_KEY], secret: true }}
  value: {{ env: [NEW_VALUE], secret: true }}
services:
  heroku: {}
steps:
  - id: push
    title: Push
    propagate:
      values: {{ TOKEN: "{{{{ value }}}}" }}
      targets:
        - heroku: {{ app: app-prod, token: "{{{{ heroku_key }}}}" }}
    rollback: Set the old value back.
"#,
            server.url()
        ),
    );
    let outcome = exec(
        &scratch,
        &path,
        &[
            ("HEROKU_API_KEY", "heroku-key-canary-32"),
            ("NEW_VALUE", "store-value-canary-31"),
        ],
    );
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert_eq!(*reads.lock().unwrap(), 2);
    assert!(
        outcome.stdout.contains(&format!(
            "retried: GET {}/apps/app-prod/config-vars: 503 Service Unavailable; sent again",
            server.url()
        )),
        "{}",
        outcome.stdout
    );
    assert!(!outcome.all().contains("canary-3"), "a secret was shown");
}

/// A step with its own `retry` still waits as long as the server asks (Retry-After), when
/// that is longer than its interval: it would otherwise spend its attempts being refused.
#[test]
fn a_polling_step_waits_as_long_as_the_server_asks() {
    let calls = Arc::new(Mutex::new(0u32));
    let router = Router::new()
        .route(
            "/status",
            get(|State(calls): State<Arc<Mutex<u32>>>| async move {
                let mut calls = calls.lock().unwrap();
                *calls += 1;
                if *calls == 1 {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after", "1")],
                        "slow down",
                    )
                        .into_response()
                } else {
                    axum::Json(serde_json::json!({"ok": true})).into_response()
                }
            }),
        )
        .with_state(calls.clone());
    let server = Server::start(router);
    let scratch = Scratch::new();
    let path = scratch.write(
        "poll.yaml",
        format!(
            "runbook: poll\ntitle: Poll\nsteps:\n  - id: poll\n    title: Poll\n    http: {{ get: \"{}/status\" }}\n    retry: {{ attempts: 3, interval: 10ms, until: \"response.json.ok\" }}\n",
            server.url()
        ),
    );
    let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--output", "json"])
        .home(&scratch.home)
        .run();
    assert_eq!(outcome.code, 0, "{}", outcome.stdout);
    let retrying: Vec<serde_json::Value> = outcome
        .json_lines()
        .into_iter()
        .filter(|event| event["event"] == "step_retrying")
        .collect();
    assert_eq!(retrying.len(), 1, "{retrying:?}");
    assert_eq!(retrying[0]["wait_ms"], 1000, "{retrying:?}");
}

/// A step with its own `retry` is sent again at its pace only: a poll of 3 attempts against a
/// service that is down makes 3 requests, not 3 × 4.
#[test]
fn a_polling_step_against_a_dead_service_gives_up_after_its_own_attempts() {
    let port = crate::support::server::closed_port();
    let scratch = Scratch::new();
    let path = scratch.write(
        "poll.yaml",
        format!(
            r#"runbook: poll
title: Poll
steps:
  - id: poll
    title: Poll
    http: {{ get: "http://127.0.0.1:{port}/status" }}
    retry: {{ attempts: 3, interval: 100ms, until: "response.json.ok" }}
"#
        ),
    );
    let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--output", "json"])
        .home(&scratch.home)
        .run();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    let finished = outcome
        .json_lines()
        .into_iter()
        .find(|event| event["event"] == "step_finished")
        .expect("the step finished");
    assert_eq!(
        finished["requests"].as_array().unwrap().len(),
        3,
        "{finished}"
    );
}

#[test]
fn render_shows_the_loop_item_of_a_propagate_step_as_a_variable() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "loop.yaml",
        r#"runbook: loop
title: Loop
inputs:
  heroku_key: { env: [HEROKU_API_KEY], secret: true }
  value: { env: [NEW_VALUE], secret: true }
services:
  heroku: https://api.heroku.com
steps:
  - id: push
    title: Push to every app
    description: Sets TOKEN_{{ item }} on each app.
    for_each: [prod, staging]
    propagate:
      values: { "TOKEN_{{ item }}": "{{ value }}" }
      targets:
        - heroku: { app: "app-{{ item }}", token: "{{ heroku_key }}" }
    rollback: Set the old value back.
"#,
    );
    let outcome = Runbook::new(["render", path.to_str().unwrap()]).run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(!outcome.stdout.contains("{{ item }}"), "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("Sets `TOKEN_$ITEM` on each app."),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .contains("\"https://api.heroku.com/apps/app-$ITEM/config-vars\""),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_state_directory_other_users_can_write_is_refused_before_anything_is_written() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new();
    let shared = scratch.dir.path().join("shared-state");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let path = scratch.write(
        "note.yaml",
        "runbook: note\ntitle: Note\nsteps:\n  - id: note\n    title: Note\n    manual: Write it down.\n",
    );
    let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--yes", "--state-dir"])
        .arg(shared.display().to_string())
        .home(&scratch.home)
        .run();
    // Anyone could have swapped a journal there for one a resume would trust.
    assert_eq!(outcome.code, 4, "{outcome:?}");
    crate::support::assert_contains(
        &outcome.stderr,
        &format!(
            "the state directory {} can be written by other users (mode 1777)",
            shared.display()
        ),
    );
    assert!(!outcome.stdout.contains("1/1"), "{}", outcome.stdout);
    assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 0);
    // Once only its owner can write it, the same run goes ahead.
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o700)).unwrap();
    let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--yes", "--state-dir"])
        .arg(shared.display().to_string())
        .home(&scratch.home)
        .run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
}

/// What a server answers and what a step captures reach the terminal with every control
/// character written out: an error body cannot clear the screen, retitle the window or draw a
/// fake line, and a captured id cannot rewrite the request line a rollback note shows.
#[test]
fn control_characters_from_a_server_are_written_out_not_acted_on() {
    let router = Router::new()
        .route(
            "/tokens",
            post(|| async {
                (
                    StatusCode::CREATED,
                    [("content-type", "application/json")],
                    "{\"id\":\"x\\u001b[2J\\u001b[31mEVIL\\u001b[0m\\r\"}",
                )
            }),
        )
        .route(
            "/check",
            get(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    "bad \u{1b}[2J\u{1b}[H\u{1b}[32mALL GOOD\u{1b}[0m \u{1b}]0;pwned-title\u{7} \r fake line",
                )
            }),
        );
    let server = Server::start(router);
    let scratch = Scratch::new();
    let text = format!(
        "runbook: escapes\ntitle: Escapes\nsteps:\n  - id: create\n    title: Create\n    http:\n      post: \"{0}/tokens\"\n      json: {{ a: 1 }}\n    capture:\n      token_id: $.id\n    rollback: \"Delete {{{{ token_id }}}}\"\n  - id: check\n    title: Check\n    http:\n      get: \"{0}/check\"\n",
        server.url()
    );
    let path = scratch.write("escapes.yaml", text);
    let outcome = exec(&scratch, &path, &[]);
    assert_eq!(outcome.code, 1, "{}", outcome.all());
    let shown = outcome.all();
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
    assert!(!shown.contains('\u{7}'), "{shown:?}");
    assert!(!shown.contains('\r'), "{shown:?}");
    assert!(
        shown.contains(
            "bad \\u001b[2J\\u001b[H\\u001b[32mALL GOOD\\u001b[0m \\u001b]0;pwned-title\\u0007 \\u000d fake line"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("Delete x\\u001b[2J\\u001b[31mEVIL\\u001b[0m\n"),
        "{shown}"
    );
}
