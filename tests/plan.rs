//! `runbook plan`: every step in order with its resolved request, without touching the network;
//! unknown values as placeholders, secrets masked.

use crate::support::{Runbook, stable};

const RUNBOOK: &str = "runbooks/cloudflare-access-service-token.yaml";
const MGMT: &str = "plan-canary-mgmt-token-0123456789";

#[test]
fn plan_of_the_access_service_token_runbook() {
    let outcome = Runbook::new([
        "plan",
        RUNBOOK,
        "--var",
        "account_id=0123456789abcdef0123456789abcdef",
    ])
    .env("CF_ACCESS_MGMT", MGMT)
    .run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(!outcome.all().contains(MGMT));
    assert!(
        outcome.stdout.contains("mgmt_token               ***"),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stdout.contains("<old_token_id>"));
    stable().bind(|| insta::assert_snapshot!("plan_access_service_token", outcome.stdout));
}

#[test]
fn plan_needs_no_network_and_no_inputs() {
    // Every service points at a port nobody listens on; the plan does not care.
    let outcome = Runbook::new([
        "plan",
        RUNBOOK,
        "--service",
        "cloudflare=http://127.0.0.1:9",
    ])
    .run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome
            .stdout
            .contains("GET http://127.0.0.1:9/accounts/<account_id>/access/service_tokens"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .contains("MISSING: set $CF_ACCESS_MGMT or $CLOUDFLARE_ACCESS_MGMT_TOKEN"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn plan_as_json_lines() {
    let outcome = Runbook::new(["plan", RUNBOOK, "--output", "json"])
        .env("CLOUDFLARE_ACCESS_MGMT_TOKEN", MGMT)
        .run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(!outcome.all().contains(MGMT));
    let events = outcome.json_lines();
    assert_eq!(events[0]["event"], "plan");
    let mgmt = events[0]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|input| input["name"] == "mgmt_token")
        .unwrap();
    assert_eq!(mgmt["display"], "***");
    assert_eq!(
        mgmt["source"],
        serde_json::json!({"from": "env", "name": "CLOUDFLARE_ACCESS_MGMT_TOKEN"})
    );
    let steps: Vec<&serde_json::Value> = events
        .iter()
        .filter(|event| event["event"] == "plan_step")
        .collect();
    assert_eq!(steps.len(), 8);
    assert_eq!(steps[1]["effect"], "mutating");
    assert_eq!(steps[6]["id"], "delete-old-token");
    assert_eq!(steps[6]["effect"], "irreversible");
    assert_eq!(
        steps[1]["captures"][2],
        serde_json::json!({"name": "new_client_secret", "secret": "once"})
    );
}

#[test]
fn plan_rejects_an_input_that_fails_its_pattern() {
    let outcome = Runbook::new(["plan", RUNBOOK, "--var", "old_token_id=nope"]).run();
    assert_eq!(outcome.code, 4);
    assert!(outcome.stderr.contains("input `old_token_id`: `nope` from --var old_token_id does not match the pattern [0-9a-f-]{36}"), "{}", outcome.stderr);
}

/// A value the operator is asked for and a var that reads a secret are secrets in the plan too.
#[test]
fn plan_marks_asked_and_var_secrets_as_secret() {
    let scratch = crate::support::Scratch::new();
    let path = scratch.write(
        "asked.yaml",
        r#"runbook: asked
title: Asked secrets
inputs:
  base: {env: [SECRET_BASE], secret: true}
vars:
  derived: "{{ base }}-suffix"
steps:
  - id: ask
    title: Copy the key from the dashboard
    manual:
      instructions: Open the dashboard and copy the key.
      ask:
        pasted: {description: the key, secret: true}
  - id: use
    title: Use the pasted key
    http:
      get: https://api.example.test/check
      bearer: "{{ pasted }}"
      headers: {X-Derived: "{{ derived }}"}
"#,
    );
    let outcome = Runbook::new(["plan", path.to_str().unwrap(), "--output", "json"]).run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let events = outcome.json_lines();
    let step = events
        .iter()
        .find(|event| event["event"] == "plan_step" && event["id"] == "use")
        .expect("the plan has the step");
    let uses = step["uses"].as_array().expect("uses is a list");
    for name in ["pasted", "derived"] {
        let used = uses.iter().find(|used| used["name"] == name).expect(name);
        assert_eq!(used["secret"], true, "{name}: {used}");
    }
}
