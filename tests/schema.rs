//! The JSON Schema: `runbook schema` prints it, and the committed copy matches.

use crate::support::{Runbook, root};

#[test]
fn committed_schema_matches_the_generated_one() {
    let outcome = Runbook::new(["schema"]).run();
    assert_eq!(outcome.code, 0);
    let committed = std::fs::read_to_string(root().join("schemas/runbook.schema.json"))
        .expect("schemas/runbook.schema.json exists");
    assert!(
        committed == outcome.stdout,
        "schemas/runbook.schema.json is out of date: run `cargo run -- schema > schemas/runbook.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).expect("the schema is JSON");
    assert_eq!(schema["title"], "runbook");
    assert!(schema["properties"]["steps"].is_object());
}

/// Editors show a property's description and examples on hover and completion:
/// every property the schema names has both, so an author never meets a bare key.
#[test]
fn every_property_has_a_description_and_an_example() {
    fn walk(node: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
        match node {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Object(properties)) = map.get("properties") {
                    for (name, property) in properties {
                        let has = |key: &str| {
                            property.get(key).is_some_and(|value| match value {
                                serde_json::Value::String(text) => !text.trim().is_empty(),
                                serde_json::Value::Array(items) => !items.is_empty(),
                                _ => false,
                            })
                        };
                        if !has("description") {
                            missing.push(format!("{path}/properties/{name}: description"));
                        }
                        if !has("examples") {
                            missing.push(format!("{path}/properties/{name}: examples"));
                        }
                    }
                }
                for (key, value) in map {
                    walk(value, &format!("{path}/{key}"), missing);
                }
            }
            serde_json::Value::Array(items) => {
                for (index, value) in items.iter().enumerate() {
                    walk(value, &format!("{path}/{index}"), missing);
                }
            }
            _ => {}
        }
    }
    let outcome = Runbook::new(["schema"]).run();
    assert_eq!(outcome.code, 0);
    let schema: serde_json::Value =
        serde_json::from_str(&outcome.stdout).expect("the schema is JSON");
    let mut missing = Vec::new();
    walk(&schema, "#", &mut missing);
    assert!(missing.is_empty(), "properties without help: {missing:#?}");
    // Sanity: the walk really reaches nested definitions.
    let text = outcome.stdout;
    assert!(
        text.contains("\"bearer\""),
        "the schema names the http step's fields"
    );
}

/// Shell completions name every verb; bash can load them.
#[test]
fn completions_cover_every_verb_and_load_in_bash() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let outcome = Runbook::new(["completions", shell]).run();
        assert_eq!(outcome.code, 0, "{shell}: {}", outcome.stderr);
        for verb in [
            "check", "plan", "exec", "resume", "runs", "show", "recover", "render", "diff",
        ] {
            assert!(
                outcome.stdout.contains(verb),
                "{shell} completions lack {verb}"
            );
        }
    }
    let bash = Runbook::new(["completions", "bash"]).run().stdout;
    let loaded = std::process::Command::new("bash")
        .args(["--norc", "-c", "eval \"$1\" && complete -p runbook", "bash"])
        .arg(&bash)
        .output()
        .expect("bash runs");
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    assert!(String::from_utf8_lossy(&loaded.stdout).contains("_runbook"));

    let unknown = Runbook::new(["completions", "tcsh"]).run();
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("possible values: bash"),
        "{}",
        unknown.stderr
    );
}
