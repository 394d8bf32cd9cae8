//! The README's promises: its example runbook is valid, and CI runs its test command.

use crate::support::{Runbook, Scratch, root};

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md exists")
}

#[test]
fn the_format_example_is_a_valid_runbook() {
    let readme = readme();
    let start = readme
        .find("```yaml\n")
        .expect("the README has a YAML example")
        + "```yaml\n".len();
    let end = start + readme[start..].find("```").expect("the example ends");
    let scratch = Scratch::new();
    let path = scratch.write("example.yaml", &readme[start..end]);
    let outcome = Runbook::new(["check"])
        .arg(path.display().to_string())
        .run();
    assert_eq!(
        outcome.code, 0,
        "the README example does not check:\n{}",
        outcome.stderr
    );
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = readme();
    let command = readme
        .lines()
        .find(|line| line.starts_with("cargo test"))
        .expect("the README gives the test command");
    let ci = std::fs::read_to_string(root().join(".ci/run")).expect(".ci/run exists");
    assert!(
        ci.lines().any(|line| line.trim() == command),
        "{command:?} is not in .ci/run"
    );
}

#[test]
fn every_safety_check_is_documented() {
    let readme = readme();
    for (code, error, _) in runbook::runbook::lint::RULES {
        let severity = if *error { "error" } else { "warning" };
        assert!(
            readme.contains(&format!("| {code} | {severity} |")),
            "{code} is missing from the README's table of checks"
        );
    }
}

#[test]
fn the_exit_codes_are_the_same_in_the_readme_and_in_help() {
    let readme = readme();
    let start = readme
        .find("## Exit codes")
        .expect("the README has exit codes");
    let section = &readme[start..];
    let from_readme: Vec<String> = section
        .lines()
        .skip_while(|line| !line.starts_with("| 0 |"))
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let code = cells[0].trim_start_matches("| ");
            let meaning = cells[1..].join(" | ");
            let meaning = meaning.trim_end_matches(" |").replace('`', "");
            format!("{code} {meaning}")
        })
        .collect();
    let from_help: Vec<String> = runbook::exit::TABLE
        .lines()
        .skip(1)
        .map(|line| {
            let (code, meaning) = line.trim().split_once(' ').expect("code and meaning");
            format!("{code} {}", meaning.trim())
        })
        .collect();
    assert_eq!(from_readme, from_help);
}
