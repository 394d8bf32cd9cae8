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
