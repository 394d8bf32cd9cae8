//! The safety checks of `runbook check`: every rule has a runbook that trips it (its diagnostic
//! snapshotted, with its code) and one that passes; warnings can be allowed with a reason, errors
//! cannot; the shipped runbooks pass with no warning at all.

use crate::support::{Runbook, Scratch, stable};

/// A runbook skeleton: services, secret and plain inputs, then `steps`.
fn runbook(steps: &str) -> String {
    format!(
        r#"runbook: lint-case
title: A case for one rule
services:
  api: https://api.example.com
inputs:
  token: {{ env: [TOKEN], secret: true }}
  account: {{ env: [ACCOUNT] }}
  mode: {{ env: [MODE], choices: [a, b], default: a }}
steps:
{steps}"#
    )
}

/// Checks a runbook: (exit code, stderr).
fn check(name: &str, text: &str) -> (i32, String) {
    let scratch = Scratch::new();
    let path = scratch.write(&format!("{name}.yaml"), text);
    let outcome = Runbook::new(["check"])
        .arg(path.display().to_string())
        .run();
    let stderr = outcome
        .stderr
        .replace(&path.display().to_string(), &format!("{name}.yaml"));
    (outcome.code, stderr)
}

/// A case must report exactly `code` (and be an error or warning as said), and its fix must be
/// clean.
fn case(code: &str, error: bool, failing: &str, passing: &str) {
    let (status, stderr) = check(code, &runbook(failing));
    let kind = if error { "error" } else { "warning" };
    assert!(
        stderr.contains(&format!("{kind}[{code}]")),
        "{code} not reported:\n{stderr}"
    );
    assert_eq!(
        status,
        if error { 3 } else { 0 },
        "{code}: exit code\n{stderr}"
    );
    stable().bind(|| insta::assert_snapshot!(format!("lint_{code}"), stderr));
    let (status, stderr) = check(&format!("{code}-fixed"), &runbook(passing));
    assert_eq!(status, 0, "{code}: the fixed runbook fails:\n{stderr}");
    assert!(
        stderr.is_empty(),
        "{code}: the fixed runbook still warns:\n{stderr}"
    );
}

const USE_ACCOUNT_AND_MODE: &str = r#"  - id: use-inputs
    title: Use the inputs
    http:
      get: "{{ services.api }}/accounts/{{ account }}?mode={{ mode }}"
      bearer: "{{ token }}"
"#;

#[test]
fn rb101_a_capture_that_may_not_be_set() {
    let failing = format!(
        r#"{USE_ACCOUNT_AND_MODE}  - id: maybe
    title: Only sometimes
    when: mode == 'a'
    http: {{ get: "{{{{ services.api }}}}/x", bearer: "{{{{ token }}}}" }}
    capture: {{ thing: $.id }}
  - id: use
    title: Use it
    http: {{ get: "{{{{ services.api }}}}/things/{{{{ thing }}}}", bearer: "{{{{ token }}}}" }}
"#
    );
    let passing = format!(
        r#"{USE_ACCOUNT_AND_MODE}  - id: when-a
    title: One way
    when: mode == 'a'
    http: {{ get: "{{{{ services.api }}}}/x", bearer: "{{{{ token }}}}" }}
    capture: {{ thing: $.id }}
  - id: when-b
    title: The other
    when: mode == 'b'
    http: {{ get: "{{{{ services.api }}}}/y", bearer: "{{{{ token }}}}" }}
    capture: {{ thing: $.id }}
  - id: use
    title: Use it
    http: {{ get: "{{{{ services.api }}}}/things/{{{{ thing }}}}", bearer: "{{{{ token }}}}" }}
"#
    );
    case("RB101", false, &failing, &passing);
}

#[test]
fn rb102_a_secret_in_a_url() {
    let failing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: leak\n    title: Leak\n    http:\n      get: \"{{{{ services.api }}}}/verify\"\n      query: {{ token: \"{{{{ token }}}}\" }}\n"
    );
    let passing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: leak\n    title: No leak\n    http:\n      get: \"{{{{ services.api }}}}/verify\"\n      headers: {{ X-Token: \"{{{{ token }}}}\" }}\n"
    );
    case("RB102", true, &failing, &passing);
}

#[test]
fn rb103_a_secret_in_text_for_people() {
    let failing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: tell\n    title: Tell\n    manual: Paste {{{{ token }}}} into the console.\n"
    );
    let passing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: tell\n    title: Tell\n    manual: Paste the token (fingerprint {{{{ token | fingerprint }}}}) into the console.\n    allow: {{ RB103: unused }}\n"
    );
    // `| fingerprint` is not enough in text for people: only the audit context accepts it.
    let (status, stderr) = check("RB103-fingerprint", &runbook(&passing));
    assert_eq!(status, 3, "{stderr}");
    assert!(
        stderr.contains("RB103 is an error and cannot be allowed"),
        "{stderr}"
    );
    let passing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: tell\n    title: Tell\n    manual: Paste the new token from Infisical into the console.\n"
    );
    case("RB103", true, &failing, &passing);
}

#[test]
fn rb103_a_secret_in_the_audit_context_needs_a_fingerprint() {
    let failing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: audit\n    title: Audit\n    audit:\n      action: test\n      context: {{ token: \"{{{{ token }}}}\" }}\n"
    );
    let passing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: audit\n    title: Audit\n    audit:\n      action: test\n      context: {{ token: \"{{{{ token | fingerprint }}}}\" }}\n"
    );
    let (status, stderr) = check("RB103-audit", &runbook(&failing));
    assert_eq!(status, 3);
    assert!(
        stderr.contains("record `{{ token | fingerprint }}` instead"),
        "{stderr}"
    );
    let (status, stderr) = check("RB103-audit-fixed", &runbook(&passing));
    assert_eq!(status, 0, "{stderr}");
}

#[test]
fn rb103_a_loop_over_a_secret_would_show_its_items() {
    // Each item is on the step's line, in `--output json` and in the journal.
    for for_each in [
        "\"{{ token | split('/') | list }}\"",
        "[\"a\", \"{{ token[:4] }}\"]",
    ] {
        let failing = format!(
            "{USE_ACCOUNT_AND_MODE}  - id: loop\n    title: Loop\n    for_each: {for_each}\n    http: {{ get: \"{{{{ services.api }}}}/items\" }}\n"
        );
        let (status, stderr) = check("RB103-for-each", &runbook(&failing));
        assert_eq!(status, 3, "{stderr}");
        assert!(
            stderr.contains(
                "error[RB103]: secret `token` flows into the `for_each` items of step `loop`"
            ),
            "{stderr}"
        );
        assert!(
            stderr.contains("help: loop over names or ids, and use the secret inside the step (in a header or the body)"),
            "{stderr}"
        );
    }
    let passing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: loop\n    title: Loop\n    for_each: [a, b]\n    http: {{ get: \"{{{{ services.api }}}}/items/{{{{ item }}}}\", bearer: \"{{{{ token }}}}\" }}\n"
    );
    let (status, stderr) = check("RB103-for-each-fixed", &runbook(&passing));
    assert_eq!(status, 0, "{stderr}");
    // Its fingerprint tells values apart without showing one, as in the audit context.
    let fingerprinted = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: loop\n    title: Loop\n    for_each: [\"{{{{ token | fingerprint }}}}\"]\n    http: {{ get: \"{{{{ services.api }}}}/items/{{{{ item }}}}\" }}\n"
    );
    let (status, stderr) = check("RB103-for-each-fingerprint", &runbook(&fingerprinted));
    assert_eq!(status, 0, "{stderr}");
}

#[test]
fn rb103_a_propagated_name_made_of_a_secret() {
    let failing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: push\n    title: Push\n    propagate:\n      values: {{ \"N_{{{{ token | upper }}}}\": \"{{{{ token }}}}\" }}\n      targets:\n        - http: {{ put: \"{{{{ services.api }}}}/vars/{{{{ name }}}}\", json: {{ value: \"{{{{ value }}}}\" }} }}\n    rollback: Put the old value back.\n"
    );
    let (status, stderr) = check("RB103-propagate-name", &runbook(&failing));
    assert_eq!(status, 3, "{stderr}");
    assert!(
        stderr.contains(
            "error[RB103]: secret `token` flows into the name of a value propagated by step `push`"
        ),
        "{stderr}"
    );
    let passing = failing.replace("N_{{ token | upper }}", "API_TOKEN");
    let (status, stderr) = check("RB103-propagate-name-fixed", &runbook(&passing));
    assert_eq!(status, 0, "{stderr}");
}

#[test]
fn rb105_a_credential_written_into_the_runbook() {
    let failing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: literal\n    title: Literal\n    http: {{ get: \"{{{{ services.api }}}}/me\", bearer: \"abc123\" }}\n  - id: push\n    title: Push\n    propagate:\n      values: {{ A: \"{{{{ account }}}}\" }}\n      targets:\n        - http: {{ put: \"{{{{ services.api }}}}/vars/{{{{ name }}}}\", headers: {{ Authorization: \"token e\" }}, json: {{ value: \"{{{{ value }}}}\" }} }}\n    rollback: Put the old value back.\n"
    );
    let (status, stderr) = check("RB105", &runbook(&failing));
    assert_eq!(status, 3, "{stderr}");
    assert!(
        stderr.contains(
            "error[RB105]: the Authorization header of step `literal` is written into the runbook"
        ),
        "{stderr}"
    );
    // A one-letter token also masked every `e` of the output.
    assert!(
        stderr.contains(
            "error[RB105]: the Authorization header of step `push` is written into the runbook"
        ),
        "{stderr}"
    );
    let passing = failing
        .replace("bearer: \"abc123\"", "bearer: \"{{ token }}\"")
        .replace("\"token e\"", "\"token {{ token }}\"");
    let (status, stderr) = check("RB105-fixed", &runbook(&passing));
    assert_eq!(status, 0, "{stderr}");
}

#[test]
fn rb104_a_secret_field_captured_as_plain() {
    let failing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: create\n    title: Create\n    http: {{ post: \"{{{{ services.api }}}}/keys\", bearer: \"{{{{ token }}}}\" }}\n    capture: {{ key: $.result.client_secret }}\n    rollback: Delete the key.\n  - id: use\n    title: Use\n    http: {{ get: \"{{{{ services.api }}}}/me\", headers: {{ X-Key: \"{{{{ key }}}}\" }} }}\n"
    );
    let passing = failing.replace(
        "capture: { key: $.result.client_secret }",
        "capture: { key: { json: $.result.client_secret, secret: true } }",
    );
    case("RB104", false, &failing, &passing);
}

#[test]
fn rb110_a_delete_without_confirmation() {
    let failing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: remove\n    title: Remove\n    http: {{ delete: \"{{{{ services.api }}}}/keys/1\", bearer: \"{{{{ token }}}}\" }}\n    rollback: It cannot be undone.\n"
    );
    let passing = failing.replace(
        "    rollback:",
        "    irreversible: The key stops working at once.\n    rollback:",
    );
    case("RB110", false, &failing, &passing);
}

#[test]
fn rb111_revoking_before_the_new_credential_is_verified_and_propagated() {
    let create = "  - id: create\n    title: Create\n    http: { post: \"{{ services.api }}/keys\", bearer: \"{{ token }}\" }\n    capture: { key: { json: $.secret, secret: true } }\n    rollback: Delete the new key.\n";
    let revoke = "  - id: revoke-old\n    title: Revoke the old key\n    irreversible: The old key dies.\n    http: { delete: \"{{ services.api }}/keys/old\", bearer: \"{{ token }}\" }\n    rollback: Create another.\n";
    let verify = "  - id: verify\n    title: Verify\n    http: { get: \"{{ services.api }}/me\", headers: { X-Key: \"{{ key }}\" } }\n";
    let store = "  - id: store\n    title: Store\n    propagate:\n      values: { KEY: \"{{ key }}\" }\n      targets:\n        - http: { put: \"{{ services.api }}/vault/{{ name }}\", json: { value: \"{{ value }}\" } }\n    rollback: Restore the vault's previous version.\n";
    let failing = format!("{USE_ACCOUNT_AND_MODE}{create}{revoke}{verify}{store}");
    let passing = format!("{USE_ACCOUNT_AND_MODE}{create}{verify}{store}{revoke}");
    case("RB111", false, &failing, &passing);
}

#[test]
fn rb112_retrying_a_post() {
    let failing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: create\n    title: Create\n    http: {{ post: \"{{{{ services.api }}}}/jobs\", bearer: \"{{{{ token }}}}\" }}\n    retry: {{ attempts: 3 }}\n    rollback: Cancel the jobs.\n"
    );
    let passing = failing.replace("    retry: { attempts: 3 }\n", "");
    case("RB112", false, &failing, &passing);
}

#[test]
fn rb113_a_resume_check_on_a_loop() {
    let passing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: create\n    title: Create\n    for_each: [one, two]\n    http: {{ post: \"{{{{ services.api }}}}/jobs/{{{{ item }}}}\", bearer: \"{{{{ token }}}}\" }}\n    rollback: Cancel the jobs.\n"
    );
    let failing = format!(
        "{passing}    resume:\n      check: {{ get: \"{{{{ services.api }}}}/jobs/{{{{ item }}}}\", bearer: \"{{{{ token }}}}\" }}\n      took_effect: response.status == 200\n"
    );
    case("RB113", false, &failing, &passing);
}

#[test]
fn rb120_a_change_without_a_rollback_note() {
    let failing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: create\n    title: Create\n    http: {{ post: \"{{{{ services.api }}}}/jobs\", bearer: \"{{{{ token }}}}\" }}\n"
    );
    let passing = format!("{failing}    rollback: Cancel the job.\n");
    case("RB120", false, &failing, &passing);
    // Or accepted, with the reason, on that step only.
    let allowed =
        format!("{failing}    allow: {{ RB120: \"a dry-run endpoint, nothing changes\" }}\n");
    let (status, stderr) = check("RB120-allowed", &runbook(&allowed));
    assert_eq!(status, 0, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let no_reason = format!("{failing}    allow: {{ RB120: \"\" }}\n");
    let (status, stderr) = check("RB120-no-reason", &runbook(&no_reason));
    assert_eq!(status, 3);
    assert!(
        stderr.contains("error[RB031]: allowing RB120 needs a reason"),
        "{stderr}"
    );
}

#[test]
fn rb121_a_shown_once_secret_nobody_stores() {
    let create = "  - id: create\n    title: Create\n    http: { post: \"{{ services.api }}/keys\", bearer: \"{{ token }}\" }\n    capture: { key: { json: $.secret, secret: once } }\n    rollback: Delete the new key.\n  - id: verify\n    title: Verify\n    http: { get: \"{{ services.api }}/me\", headers: { X-Key: \"{{ key }}\" } }\n";
    let store = "  - id: store\n    title: Store\n    propagate:\n      values: { KEY: \"{{ key }}\" }\n      targets:\n        - http: { put: \"{{ services.api }}/vault/{{ name }}\", json: { value: \"{{ value }}\" } }\n    rollback: Restore the vault's previous version.\n";
    let failing = format!("{USE_ACCOUNT_AND_MODE}{create}");
    let passing = format!("{USE_ACCOUNT_AND_MODE}{create}{store}");
    case("RB121", false, &failing, &passing);
}

#[test]
fn rb130_an_unused_input() {
    let failing = "  - id: only-token\n    title: Only the token\n    http: { get: \"{{ services.api }}/me\", bearer: \"{{ token }}\" }\n";
    case("RB130", false, failing, USE_ACCOUNT_AND_MODE);
}

#[test]
fn rb131_an_unused_capture() {
    let failing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: read\n    title: Read\n    http: {{ get: \"{{{{ services.api }}}}/me\", bearer: \"{{{{ token }}}}\" }}\n    capture: {{ user: $.id }}\n"
    );
    let passing = format!(
        "{failing}  - id: use\n    title: Use\n    http: {{ get: \"{{{{ services.api }}}}/users/{{{{ user }}}}\", bearer: \"{{{{ token }}}}\" }}\n"
    );
    case("RB131", false, &failing, &passing);
}

#[test]
fn rb132_a_step_that_never_runs() {
    let failing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: never\n    title: Never\n    when: \"false\"\n    http: {{ get: \"{{{{ services.api }}}}/me\", bearer: \"{{{{ token }}}}\" }}\n"
    );
    let passing = failing.replace("when: \"false\"", "when: mode == 'b'");
    case("RB132", false, &failing, &passing);
}

#[test]
fn rb133_a_capture_silently_replaced() {
    let failing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: first\n    title: First\n    http: {{ get: \"{{{{ services.api }}}}/a\", bearer: \"{{{{ token }}}}\" }}\n    capture: {{ id: $.id }}\n  - id: second\n    title: Second\n    http: {{ get: \"{{{{ services.api }}}}/b/{{{{ id }}}}\", bearer: \"{{{{ token }}}}\" }}\n    capture: {{ id: $.id }}\n  - id: third\n    title: Third\n    http: {{ get: \"{{{{ services.api }}}}/c/{{{{ id }}}}\", bearer: \"{{{{ token }}}}\" }}\n"
    );
    let passing = failing
        .replace(
            "    capture: { id: $.id }\n  - id: third",
            "    capture: { other_id: $.id }\n  - id: third",
        )
        .replace("/c/{{ id }}", "/c/{{ other_id }}");
    case("RB133", false, &failing, &passing);
}

#[test]
fn rb140_plain_http_to_another_host() {
    let failing = format!(
        "{USE_ACCOUNT_AND_MODE}  - id: plain\n    title: Plain\n    http: {{ get: \"http://status.example.com/health\" }}\n"
    );
    let passing = failing.replace(
        "http://status.example.com/health",
        "http://127.0.0.1:8080/health",
    );
    case("RB140", false, &failing, &passing);
}

#[test]
fn unknown_codes_cannot_be_allowed() {
    let text = format!("{USE_ACCOUNT_AND_MODE}    allow: {{ RB12: typo }}\n");
    let (status, stderr) = check("allow-unknown", &runbook(&text));
    assert_eq!(status, 3);
    assert!(stderr.contains("`RB12` is not a check's code"), "{stderr}");
}

#[test]
fn deny_warnings_fails_on_a_warning() {
    let scratch = Scratch::new();
    let text = runbook(
        "  - id: only-token\n    title: Only the token\n    http: { get: \"{{ services.api }}/me\", bearer: \"{{ token }}\" }\n",
    );
    let path = scratch.write("warned.yaml", text);
    let plain = Runbook::new(["check"])
        .arg(path.display().to_string())
        .run();
    assert_eq!(plain.code, 0);
    assert!(
        plain.stdout.contains("(1 step, 2 warnings)"),
        "{}",
        plain.stdout
    );
    let strict = Runbook::new(["check", "--deny-warnings"])
        .arg(path.display().to_string())
        .run();
    assert_eq!(strict.code, 3);
    let json = Runbook::new(["check", "--format", "json"])
        .arg(path.display().to_string())
        .run();
    let lines = json.json_lines();
    assert_eq!(lines[0]["valid"], true);
    assert_eq!(lines[0]["diagnostics"][0]["severity"], "warning");
    assert_eq!(lines[0]["diagnostics"][0]["code"], "RB130");
}

#[test]
fn the_shipped_runbooks_pass_with_no_warnings() {
    let outcome = Runbook::new([
        "check",
        "--deny-warnings",
        "runbooks/cloudflare-access-service-token.yaml",
        "runbooks/cloudflare-user-api-token.yaml",
    ])
    .run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stderr.is_empty(), "{}", outcome.stderr);
}
