//! `runbook render`: the Markdown SOP of a runbook. The shipped runbooks' SOPs are committed
//! in docs/ and must match; every shell block in them is valid bash, and the quoting really
//! delivers values to curl untouched.

use std::collections::HashMap;
use std::process::Command;

use crate::support::{Runbook, Scratch, assert_contains, fixture, root, stable};

const SHIPPED: &[(&str, &str)] = &[
    (
        "runbooks/cloudflare-access-service-token.yaml",
        "docs/cloudflare-access-service-token.md",
    ),
    (
        "runbooks/cloudflare-user-api-token.yaml",
        "docs/cloudflare-user-api-token.md",
    ),
];
const EVERY_FEATURE: &str = "tests/fixtures/render/every-feature.yaml";

fn render(file: &str) -> String {
    let outcome = Runbook::new(["render", file]).run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(outcome.stderr.is_empty(), "{}", outcome.stderr);
    outcome.stdout
}

/// Every ```sh block of a Markdown document, list-item indentation removed.
fn shell_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, Vec<String>)> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut current {
            None if trimmed == "```sh" => current = Some((indent, Vec::new())),
            None => {}
            Some(_) if trimmed == "```" => {
                if let Some((_, lines)) = current.take() {
                    blocks.push(lines.join("\n") + "\n");
                }
            }
            Some((block_indent, lines)) => {
                lines.push(line.get(*block_indent..).unwrap_or("").to_string())
            }
        }
    }
    assert!(current.is_none(), "an unclosed sh block");
    blocks
}

#[test]
fn sop_of_the_access_service_token_runbook() {
    let sop = render(SHIPPED[0].0);
    stable().bind(|| insta::assert_snapshot!("sop_access_service_token", sop));
}

#[test]
fn sop_of_the_user_api_token_runbook() {
    let sop = render(SHIPPED[1].0);
    stable().bind(|| insta::assert_snapshot!("sop_user_api_token", sop));
}

#[test]
fn sop_of_a_runbook_with_every_feature() {
    let sop = render(EVERY_FEATURE);
    for shown in [
        "for ITEM in eu-west us-east \"$WIDGET_REGION\"; do",
        "Only when `scope == 'blue' and region != 'none'`.",
        "Repeat up to 12 times",
        "read -rsp 'approval_code: ' APPROVAL_CODE; echo",
        "- **Infisical** `prod` `/widgets`",
        "- **Heroku** app `widgets-$WIDGET_SCOPE`",
        "- **GitHub Actions** secrets of environment `production` of `acme/widgets`",
        "- **HTTP** PUT",
        "action `widget.key.rotated`",
        "`approval` reads a secret: the record holds it masked",
        "If it fails with 429: Too many searches; wait a minute.",
        "--data-urlencode \"name=$KEY_NAME\"",
        "--url-query \"region=$WIDGET_REGION\"",
        "> **Irreversible.** The old key stops working everywhere at once.",
    ] {
        assert!(sop.contains(shown), "missing {shown:?} in:\n{sop}");
    }
    stable().bind(|| insta::assert_snapshot!("sop_every_feature", sop));
}

#[test]
fn a_secret_default_never_reaches_the_sop() {
    let sop = render(EVERY_FEATURE);
    let source = std::fs::read_to_string(fixture("render/every-feature.yaml")).unwrap();
    assert!(
        source.contains("pepper-canary-0417"),
        "the fixture has the canary"
    );
    assert!(!sop.contains("pepper-canary-0417"), "{sop}");
    assert_contains(
        &sop,
        "SIGNING_SALT has a default in the runbook (a secret: not shown)",
    );
}

#[test]
fn committed_sops_match_the_runbooks() {
    for (runbook, doc) in SHIPPED {
        let committed = std::fs::read_to_string(root().join(doc))
            .unwrap_or_else(|error| panic!("{doc} cannot be read: {error}"));
        assert!(
            committed == render(runbook),
            "{doc} is out of date: run `cargo run -- render {runbook} -o {doc}`"
        );
    }
}

#[test]
fn every_shell_block_is_valid_bash() {
    let mut checked = 0;
    for file in [SHIPPED[0].0, SHIPPED[1].0, EVERY_FEATURE] {
        for block in shell_blocks(&render(file)) {
            let output = Command::new("bash")
                .args(["-n", "-c", &block])
                .output()
                .expect("bash runs");
            assert!(
                output.status.success(),
                "{file}: bash -n rejects\n{block}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            checked += 1;
        }
    }
    // 7 + 14 + 12 blocks: a renderer that stopped writing them would not pass unnoticed.
    assert_eq!(checked, 33);
}

/// Runs a rendered block with `curl` replaced by a function that records its arguments, and
/// returns them, an `@/dev/fd/N` argument (what the shell's own printf wrote for curl to read)
/// as what curl reads there. None of `secrets` may be among the arguments as given: another
/// user could read them in `ps`.
fn curl_arguments(block: &str, variables: &[(&str, &str)], secrets: &[&str]) -> Vec<String> {
    let scratch = Scratch::new();
    let record = scratch.dir.path().join("arguments");
    let given = scratch.dir.path().join("given");
    let script = format!(
        "curl() {{ printf '%s\\0' \"$@\" > \"$GIVEN\"; for a in \"$@\"; do case \"$a\" in @/dev/fd/*) printf '%s\\0' \"$(cat \"${{a#@}}\")\";; *) printf '%s\\0' \"$a\";; esac; done > \"$RECORD\"; echo '{{}}'; }}\n{block}"
    );
    let mut command = Command::new("bash");
    command
        .args(["-c", &script])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RECORD", &record)
        .env("GIVEN", &given);
    for (name, value) in variables {
        command.env(name, value);
    }
    let output = command.output().expect("bash runs");
    assert!(
        output.status.success(),
        "{block}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let as_given = String::from_utf8(std::fs::read(&given).expect("curl was called")).unwrap();
    for secret in secrets {
        assert!(
            !as_given.contains(secret),
            "a secret in curl's arguments: {as_given:?}"
        );
    }
    let recorded = std::fs::read(&record).expect("curl was called");
    String::from_utf8(recorded)
        .expect("UTF-8 arguments")
        .split('\0')
        .filter(|argument| !argument.is_empty())
        .map(str::to_string)
        .collect()
}

fn data_argument(arguments: &[String]) -> serde_json::Value {
    let position = arguments
        .iter()
        .position(|argument| argument == "--data" || argument == "--data-binary")
        .expect("a --data or --data-binary argument");
    serde_json::from_str(&arguments[position + 1]).expect("the body is JSON")
}

#[test]
fn json_bodies_reach_curl_with_values_untouched() {
    let sop = render(EVERY_FEATURE);
    let block = shell_blocks(&sop)
        .into_iter()
        .find(|block| block.contains("/regions/$WIDGET_REGION/keys"))
        .expect("the create step's block");
    // Everything the shell would otherwise interpret. (A `"` or `\\` would need JSON
    // escaping, which the splice does not do: tokens, ids and names never hold one.)
    let awkward = "it's $HOME `date` !x *";
    let arguments = curl_arguments(
        &block,
        &[
            ("WIDGET_ADMIN_TOKEN", "admin-token"),
            ("WIDGET_REGION", "blue-eu"),
            ("WIDGET_SCOPE", "BLUE"),
            ("KEY_NAME", "WIDGET_KEY_BLUE"),
            ("LABEL", awkward),
            ("OLD_KEY_ID", "old 1"),
        ],
        &["admin-token"],
    );
    assert!(arguments.contains(&"Authorization: Bearer admin-token".to_string()));
    assert!(
        arguments.contains(&"https://widgets.example.com/api/v2/regions/blue-eu/keys".to_string())
    );
    let body = data_argument(&arguments);
    assert_eq!(body["label"], awkward);
    assert_eq!(body["replaces"], "old 1");
    assert_eq!(body["tags"], serde_json::json!(["rotation", "blue"]));
    assert_eq!(
        body["limits"],
        serde_json::json!({"per_minute": 600, "burst": null})
    );
    assert_eq!(
        body["check"], "V0lER0VUX0tFWV9CTFVF",
        "base64 of WIDGET_KEY_BLUE"
    );
    let name = body["name"].as_str().unwrap();
    assert!(name.starts_with("WIDGET_KEY_BLUE-20"), "{name}");
}

#[test]
fn heroku_patch_sends_every_name_with_its_value() {
    let sop = render(SHIPPED[0].0);
    let block = shell_blocks(&sop)
        .into_iter()
        .find(|block| block.contains("-X PATCH"))
        .expect("the Heroku block");
    let secret = "s3cr$t `x` !y";
    let arguments = curl_arguments(
        &block,
        &[
            ("HEROKU_API_KEY", "heroku-key"),
            ("CF_ACCESS_SVC_HEROKU_APP", "raxx-console-prod"),
            ("SECRET_NAME", "CF_ACCESS_SVC_CONSOLE"),
            ("LEGACY_NAME", "CF_ACCESS_SERVICE_TOKEN_CONSOLE"),
            ("NEW_CLIENT_ID", "client.access"),
            ("NEW_CLIENT_SECRET", secret),
        ],
        &["heroku-key", secret],
    );
    assert!(
        arguments
            .contains(&"https://api.heroku.com/apps/raxx-console-prod/config-vars".to_string())
    );
    let pair = format!("client.access:{secret}");
    assert_eq!(
        data_argument(&arguments),
        serde_json::json!({"CF_ACCESS_SVC_CONSOLE": pair, "CF_ACCESS_SERVICE_TOKEN_CONSOLE": pair})
    );
}

#[test]
fn the_setup_block_resolves_inputs_new_name_first_then_legacy() {
    let sop = render(SHIPPED[0].0);
    let setup = shell_blocks(&sop).remove(0);
    let script = format!(
        "{setup}\nprintf '%s|' \"$CF_ACCESS_MGMT\" \"$CF_ACCOUNT_ID\" \"$OLD_TOKEN_ID\" \"$SECRET_NAME\" \"$SITE_ID\""
    );
    let environment: HashMap<&str, &str> = [
        ("CLOUDFLARE_ACCESS_MGMT_TOKEN", "legacy-mgmt"),
        ("CF_ACCOUNT_ID", "new-account"),
        ("CLOUDFLARE_ACCOUNT_ID", "legacy-account"),
        ("CF_ACCESS_SVC_SCOPE", "VAULT"),
        ("CF_ACCESS_SVC_VAULT_TOKEN_ID", "vault-token-id"),
        ("INFISICAL_UNIVERSAL_AUTH_CLIENT_ID", "x"),
        ("INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", "x"),
        ("INFISICAL_PROJECT_ID", "x"),
        ("HEROKU_API_KEY", "x"),
        ("RAXX_OPS_SESSION", "x"),
        ("LEGACY_NAME", "set by hand"),
    ]
    .into_iter()
    .collect();
    let output = Command::new("bash")
        .args(["-c", &script])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&environment)
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "legacy-mgmt|new-account|vault-token-id|CF_ACCESS_SVC_VAULT|vault-prod|"
    );
}

#[test]
fn render_writes_the_out_file() {
    let scratch = Scratch::new();
    let out = scratch.dir.path().join("sop.md");
    let outcome = Runbook::new(["render", SHIPPED[1].0, "-o"])
        .arg(out.display().to_string())
        .run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(outcome.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), render(SHIPPED[1].0));
}

#[test]
fn render_of_a_missing_file_says_so() {
    let outcome = Runbook::new(["render", "runbooks/no-such-runbook.yaml"]).run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(outcome.stdout.is_empty());
    assert!(
        outcome.stderr.contains("cannot read the file"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn render_of_an_invalid_runbook_prints_its_diagnostics() {
    let outcome = Runbook::new(["render", "tests/fixtures/bad/unknown_service.yaml"]).run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(outcome.stdout.is_empty());
    assert!(
        outcome.stderr.contains("unknown service `cloudflair`"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn render_to_a_missing_directory_says_so_as_an_input_error() {
    let outcome = Runbook::new([
        "render",
        SHIPPED[0].0,
        "-o",
        "/nonexistent-directory/sop.md",
    ])
    .run();
    assert_eq!(outcome.code, 4, "{outcome:?}");
    assert_eq!(
        outcome.stderr,
        "runbook: cannot write /nonexistent-directory/sop.md: the directory /nonexistent-directory does not exist; create it, or give a path in an existing directory\n"
    );
}

#[test]
fn render_refuses_to_write_to_a_directory_a_fifo_or_a_device() {
    let scratch = Scratch::new();
    let dir = scratch.dir.path().display().to_string();
    let outcome = Runbook::new(["render", SHIPPED[0].0, "-o", &dir]).run();
    assert_eq!(outcome.code, 4, "{outcome:?}");
    let stem = std::path::Path::new(SHIPPED[0].0)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        outcome.stderr,
        format!(
            "runbook: cannot write {dir}: it is a directory; give --out the path of a file, e.g. {dir}/{stem}.md\n"
        )
    );
    // With no reader, writing to a FIFO would wait forever.
    let fifo = scratch.dir.path().join("sop.md");
    crate::support::idle_fifo(&fifo);
    let fifo = fifo.display().to_string();
    for (out, kind) in [
        (fifo.as_str(), "a FIFO (named pipe)"),
        ("/dev/full", "a character device"),
    ] {
        let outcome = Runbook::new(["render", SHIPPED[0].0, "-o", out]).run();
        assert_eq!(outcome.code, 4, "{out}: {outcome:?}");
        assert_eq!(
            outcome.stderr,
            format!(
                "runbook: cannot write {out}: it is {kind}, not a regular file; give --out the path of a file, or leave --out out to print the SOP\n"
            )
        );
    }
}

#[test]
fn render_refuses_to_write_over_the_runbook_it_renders() {
    let scratch = Scratch::new();
    let original = std::fs::read_to_string(SHIPPED[0].0).unwrap();
    let path = scratch.write("self.yaml", &original);
    let link = scratch.dir.path().join("link.yaml");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let spelled_otherwise = scratch.dir.path().join(".").join("self.yaml");
    for out in [&path, &link, &spelled_otherwise] {
        let out = out.display().to_string();
        let outcome = Runbook::new(["render", path.to_str().unwrap(), "-o", &out]).run();
        assert_eq!(outcome.code, 4, "{out}: {outcome:?}");
        assert_eq!(
            outcome.stderr,
            format!(
                "runbook: cannot write {out}: it is the runbook being rendered, and the SOP would replace it; give --out another file, e.g. self.md\n"
            )
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
    }
}
