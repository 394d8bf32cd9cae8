//! The checker on hostile or careless runbooks: secrets that reach a URL through a propagate
//! target's `{{ value }}`, credentials in a base URL, names the schema refuses, condition keys
//! that are misspelt or not ASCII, and a runbook with thousands of warnings.

use crate::support::{Runbook, Scratch};

/// A runbook with a secret and a plain input, one service, then `steps`.
fn runbook(services: &str, steps: &str) -> String {
    format!(
        r#"runbook: hardening-case
title: A checker hardening case
services:
{services}
inputs:
  token: {{ env: [TOKEN], secret: true }}
  account: {{ env: [ACCOUNT] }}
steps:
{steps}"#
    )
}

const API: &str = "  api: https://api.example.com";

/// Checks a runbook file: the outcome, with the scratch path in stderr replaced by `name`.
fn check(name: &str, text: &str, args: &[&str]) -> (i32, String, String) {
    let scratch = Scratch::new();
    let path = scratch.write(name, text);
    let outcome = args
        .iter()
        .fold(
            Runbook::new(["check"]).arg(path.display().to_string()),
            |runbook, arg| runbook.arg(arg),
        )
        .run();
    let path = path.display().to_string();
    (
        outcome.code,
        outcome.stdout.replace(&path, name),
        outcome.stderr.replace(&path, name),
    )
}

fn assert_no_panic(stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "the checker panicked:\n{stderr}"
    );
}

/// A propagate step writing `values` through an HTTP target that sends `put`.
fn propagate(values: &str, put: &str) -> String {
    format!(
        "  - id: store
    title: Store
    propagate:
      values: {{ {values} }}
      targets:
        - http: {{ put: \"{put}\", json: {{ value: \"{{{{ value }}}}\" }} }}
    rollback: Restore the vault's previous version.
"
    )
}

#[test]
fn a_secret_value_in_a_propagate_targets_url_is_refused() {
    let failing = propagate(
        "KEY: \"{{ token }}\"",
        "{{ services.api }}/v1/secret/{{ name }}?v={{ value }}",
    );
    let (code, _, stderr) = check("rb102.yaml", &runbook(API, &failing), &[]);
    assert_no_panic(&stderr);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("error[RB102]"), "{stderr}");
    assert!(
        stderr.contains("secret `value` flows into a URL in step `store`"),
        "{stderr}"
    );

    // In the body it is fine.
    let passing = propagate(
        "KEY: \"{{ token }}\"",
        "{{ services.api }}/v1/secret/{{ name }}",
    );
    let (code, _, stderr) = check("rb102-fixed.yaml", &runbook(API, &passing), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("RB102"), "{stderr}");

    // A value that is not a secret may go in the URL.
    let plain = propagate(
        "ACCOUNT: \"{{ account }}\"",
        "{{ services.api }}/v1/config/{{ name }}?v={{ value }}",
    );
    let text = runbook(API, &plain);
    let (code, _, stderr) = check("rb102-plain.yaml", &text, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("RB102"), "{stderr}");
}

#[test]
fn a_secret_value_in_a_propagate_targets_query_is_refused() {
    let failing = "  - id: store
    title: Store
    propagate:
      values: { KEY: \"{{ token }}\" }
      targets:
        - http:
            put: \"{{ services.api }}/v1/secret/{{ name }}\"
            query: { v: \"{{ value | urlencode }}\" }
    rollback: Restore the vault's previous version.
";
    let (code, _, stderr) = check("rb102-query.yaml", &runbook(API, failing), &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("error[RB102]"), "{stderr}");
}

#[test]
fn a_base_url_with_credentials_is_refused() {
    let steps = "  - id: read
    title: Read
    http: { get: \"{{ services.api }}/me\", bearer: \"{{ token }}\" }
";
    for url in [
        "https://admin:hunter2@api.example.com",
        "https://admin@api.example.com/v1",
        "https://:hunter2@api.example.com",
    ] {
        let text = runbook(&format!("  api: {url}"), steps);
        let (code, _, stderr) = check("credentials.yaml", &text, &[]);
        assert_no_panic(&stderr);
        assert_eq!(code, 3, "{url}: {stderr}");
        assert!(stderr.contains("error[RB"), "{url}: {stderr}");
        assert!(
            stderr.contains("a base URL carries no credentials; put the credential in an input with `secret: true` and send it in a header"),
            "{url}: {stderr}"
        );
        assert!(stderr.contains("credentials in the URL"), "{url}: {stderr}");
        // Reported once: the service's uses are not unknown for it.
        assert!(!stderr.contains("unknown service"), "{url}: {stderr}");
        assert_eq!(stderr.matches("error[").count(), 1, "{url}: {stderr}");
    }
    // Without them, the same runbook is valid.
    let (code, _, stderr) = check("no-credentials.yaml", &runbook(API, steps), &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn step_ids_and_runbook_names_are_what_the_schema_says() {
    let steps = "  - id: read_me
    title: Read
    http: { get: \"{{ services.api }}/me\", bearer: \"{{ token }}\" }
";
    let (code, _, stderr) = check("underscore.yaml", &runbook(API, steps), &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("invalid step id `read_me`"), "{stderr}");
    assert!(
        stderr.contains("lowercase letters, digits and dashes"),
        "{stderr}"
    );

    let text = runbook(API, &steps.replace("read_me", "read-me"))
        .replace("runbook: hardening-case", "runbook: hardening_case");
    let (code, _, stderr) = check("underscore-name.yaml", &text, &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("invalid runbook name `hardening_case`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("lowercase letters, digits and dashes"),
        "{stderr}"
    );

    let text = runbook(API, &steps.replace("read_me", "read-me-2"));
    let (code, _, stderr) = check("dashes.yaml", &text, &[]);
    assert_eq!(code, 0, "{stderr}");
}

/// A step whose `expect.json` holds `conditions` (a block mapping under `$.result`).
fn expecting(conditions: &str) -> String {
    runbook(
        API,
        &format!(
            "  - id: read
    title: Read
    http: {{ get: \"{{{{ services.api }}}}/me\", bearer: \"{{{{ token }}}}\" }}
    expect:
      json:
        $.result:
{conditions}"
        ),
    )
}

#[test]
fn a_condition_key_that_is_not_ascii_is_reported_not_a_panic() {
    for conditions in [
        "          é: 1\n",
        "          ünknown: 1\n          exists: true\n",
        "          exists: true\n          é: 1\n",
        "          \"é\": { \"ü\": 1 }\n",
        "          length: { \"€\": 1 }\n",
    ] {
        let text = expecting(conditions);
        let (code, _, stderr) = check("multibyte.yaml", &text, &[]);
        assert_no_panic(&stderr);
        assert_eq!(code, 3, "{conditions}: {stderr}");
        assert!(
            stderr.contains("unknown operator"),
            "{conditions}: {stderr}"
        );
        let (code, stdout, stderr) = check("multibyte.yaml", &text, &["--format", "json"]);
        assert_no_panic(&stderr);
        assert_eq!(code, 3, "{conditions}: {stderr}");
        assert!(
            stdout.contains("unknown operator"),
            "{conditions}: {stdout}"
        );
    }
}

#[test]
fn a_misspelt_operator_gets_the_caret() {
    let text = expecting("          exists: true\n          lenght: 1\n");
    let (code, _, stderr) = check("misspelt.yaml", &text, &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("unknown operator `lenght` (did you mean `length`?)"),
        "{stderr}"
    );
    // The caret sits under `lenght`, on its line.
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines
        .iter()
        .position(|line| line.ends_with("lenght: 1"))
        .unwrap_or_else(|| panic!("the line is not shown:\n{stderr}"));
    let column = lines[at].find("lenght").expect("the key");
    let caret = lines[at + 1];
    assert_eq!(
        caret.find('^'),
        Some(column),
        "the caret is not under `lenght`:\n{stderr}"
    );
    // miette draws `^^^|^^`: the bar is where the label hangs.
    let underline = caret[column..]
        .chars()
        .take_while(|c| matches!(c, '^' | '|'))
        .count();
    assert_eq!(underline, "lenght".len(), "{stderr}");

    // The JSON report points at the same place.
    let (_, stdout, _) = check("misspelt.yaml", &text, &["--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON");
    let diagnostic = &report["diagnostics"][0];
    let line_number = text
        .lines()
        .position(|line| line.ends_with("lenght: 1"))
        .expect("the line")
        + 1;
    assert_eq!(diagnostic["line"], line_number, "{stdout}");
    assert_eq!(
        diagnostic["column"],
        text.lines()
            .nth(line_number - 1)
            .unwrap()
            .find("lenght")
            .unwrap()
            + 1,
        "{stdout}"
    );
}

#[test]
fn an_audit_context_may_carry_fingerprints_with_whitespace_control() {
    let audit = |context: &str| {
        runbook(
            API,
            &format!(
                "  - id: read
    title: Read
    http: {{ get: \"{{{{ services.api }}}}/me\", bearer: \"{{{{ token }}}}\" }}
  - id: record
    title: Record
    audit:
      action: token.checked
      context: {{ {context} }}
"
            ),
        )
    };
    let (code, _, stderr) = check(
        "fingerprint.yaml",
        &audit("token: \"{{- token | fingerprint -}}\", account: \"{{ account }}\""),
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = check(
        "leak.yaml",
        &audit("token: \"{{ token | fingerprint }} {{ token }}\""),
        &[],
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("error[RB103]"), "{stderr}");
    // A key is a text too.
    let (code, _, stderr) = check("leak-key.yaml", &audit("\"{{ token }}\": seen"), &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("error[RB103]"), "{stderr}");
}

#[test]
fn thousands_of_warnings_are_reported_where_they_stand() {
    const STEPS: usize = 1500;
    let mut steps = String::new();
    for n in 0..STEPS {
        steps.push_str(&format!(
            "  - id: step-{n}
    title: Step {n}
    http: {{ get: \"{{{{ services.api }}}}/items/{n}\", bearer: \"{{{{ token }}}}\" }}
    capture:
      unused_{n}: $.id
"
        ));
    }
    let text = runbook(API, &steps).replace("  account: { env: [ACCOUNT] }\n", "");
    let (code, stdout, stderr) = check("many.yaml", &text, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("{STEPS} warnings")), "{stdout}");
    assert_eq!(stderr.matches("warning[RB131]").count(), STEPS);
    // The last one, with its line and column.
    let line = text
        .lines()
        .position(|line| line.contains(&format!("unused_{}:", STEPS - 1)))
        .expect("the capture")
        + 1;
    // The caret is on the capture's path.
    let column = text.lines().nth(line - 1).unwrap().find("$.id").unwrap() + 1;
    assert!(
        stderr.contains(&format!("[many.yaml:{line}:{column}]")),
        "no header for line {line}, column {column}:\n{}",
        &stderr[stderr.len().saturating_sub(2000)..]
    );
    assert!(
        stderr.contains(&format!("{line} |       unused_{}: $.id", STEPS - 1)),
        "{}",
        &stderr[stderr.len().saturating_sub(2000)..]
    );

    let (_, stdout, _) = check("many.yaml", &text, &["--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON");
    let diagnostics = report["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diagnostics.len(), STEPS);
    assert!(
        diagnostics
            .iter()
            .any(|diagnostic| diagnostic["line"] == line && diagnostic["column"] == column),
        "{line}:{column} missing"
    );
}

#[test]
fn an_input_whose_default_reads_a_secret_must_be_secret_itself() {
    let text = r#"runbook: derived-secret
title: An input that defaults to a secret
services:
  api: https://api.example.com
inputs:
  token: { env: [TOKEN], secret: true }
  copy: { env: [COPY], default: "{{ token[:8] }}" }
steps:
  - id: use
    title: Use it
    http:
      get: "{{ services.api }}/items/{{ copy }}"
      bearer: "{{ token }}"
"#;
    let (code, _, stderr) = check("derived.yaml", text, &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(
            "error[RB028]: input `copy` is not secret, but its value comes from the secret `token`"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("derived.yaml:7:"), "{stderr}");
    assert!(stderr.contains("add `secret: true` to `copy`"), "{stderr}");
    // Marked secret, it passes (and RB102 then guards the URL, as for any secret).
    let fixed = text.replace(
        "default: \"{{ token[:8] }}\" }",
        "default: \"{{ token[:8] }}\", secret: true }",
    );
    let (code, _, stderr) = check("derived.yaml", &fixed, &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("error[RB102]"), "{stderr}");
    assert!(!stderr.contains("RB028"), "{stderr}");
}

#[test]
fn a_secret_cut_short_in_a_url_is_still_a_secret_in_a_url() {
    let steps = "  - id: use\n    title: Use it\n    http:\n      get: \"{{ services.api }}/items/{{ token[:8] }}\"\n      headers: { X-Account: \"{{ account }}\" }\n";
    let (code, _, stderr) = check("sliced.yaml", &runbook(API, steps), &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("error[RB102]: secret `token` flows into a URL in step `use`"),
        "{stderr}"
    );
}
