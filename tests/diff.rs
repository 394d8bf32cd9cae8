//! `runbook diff`: a semantic diff of two versions of a runbook, for a pull request. Formatting
//! is no change; lost confirmations and secrets in risky places come first.

use std::path::Path;
use std::process::Command;

use crate::support::{Outcome, Runbook, Scratch, assert_contains, fixture, stable};

const BASE: &str = "tests/fixtures/diff/base.yaml";

fn diff(old: &str, new: &str) -> Outcome {
    let outcome = Runbook::new(["diff", old, new]).run();
    assert_eq!(
        outcome.code, 0,
        "the diff is information, not failure: {outcome:?}"
    );
    assert!(outcome.stderr.is_empty(), "{}", outcome.stderr);
    outcome
}

#[test]
fn every_kind_of_change() {
    let outcome = diff(BASE, "tests/fixtures/diff/every-change.yaml");
    let attention = outcome
        .stdout
        .split("### Steps")
        .next()
        .expect("a first section");
    for loud in [
        "**Lost its confirmation:** step `revoke` is no longer marked irreversible",
        "**Lost its confirmation:** step `confirm-dashboard` was a manual step",
        "**New irreversible step:** step `purge-cache`",
        "**Secret at risk:** step `check-login` now puts `new_token` in its URL",
        "**Secret at risk:** step `tell-workers` now puts `new_token` in its manual instructions",
        "**Secret at risk:** step `create` now puts `admin_token` in its rollback note",
        "**Secret at risk:** step `audit` now puts `new_token` in its audit context",
        "**No longer secret:** input `heroku_api_key`",
        "**Service URL changed:** `gadgets`",
    ] {
        assert!(
            attention.contains(loud),
            "missing {loud:?} in:\n{attention}"
        );
    }
    stable().bind(|| insta::assert_snapshot!("diff_every_change", outcome.stdout));
}

#[test]
fn lost_confirmations_are_listed_before_anything_else() {
    let outcome = diff(BASE, "tests/fixtures/diff/every-change.yaml");
    let first_item = outcome
        .stdout
        .lines()
        .find(|line| line.starts_with("- "))
        .expect("a list item");
    assert!(
        first_item.starts_with("- **Lost its confirmation:**"),
        "{first_item}"
    );
}

#[test]
fn reformatting_is_no_semantic_change() {
    let outcome = diff(BASE, "tests/fixtures/diff/reformatted.yaml");
    let old = std::fs::read_to_string(fixture("diff/base.yaml")).unwrap();
    let new = std::fs::read_to_string(fixture("diff/reformatted.yaml")).unwrap();
    assert_ne!(old, new, "the fixture is really reformatted");
    assert_eq!(
        outcome.stdout,
        "## Runbook diff: `tests/fixtures/diff/base.yaml` → `tests/fixtures/diff/reformatted.yaml`\n\nNo semantic changes.\n"
    );
}

#[test]
fn a_step_that_became_irreversible() {
    let outcome = diff(BASE, "tests/fixtures/diff/became-irreversible.yaml");
    assert_contains(&outcome.stdout, "**Became irreversible:** step `store`");
    stable().bind(|| insta::assert_snapshot!("diff_became_irreversible", outcome.stdout));
}

#[test]
fn a_secret_newly_in_a_url() {
    let outcome = diff(BASE, "tests/fixtures/diff/secret-in-url.yaml");
    assert_contains(
        &outcome.stdout,
        "**Secret at risk:** step `list` now puts `session` in its URL",
    );
    stable().bind(|| insta::assert_snapshot!("diff_secret_in_url", outcome.stdout));
}

#[test]
fn the_reverse_diff_is_the_mirror_image() {
    let outcome = diff("tests/fixtures/diff/became-irreversible.yaml", BASE);
    assert!(
        outcome
            .stdout
            .contains("**Lost its confirmation:** step `store` is no longer marked irreversible"),
        "{}",
        outcome.stdout
    );
    let outcome = diff("tests/fixtures/diff/secret-in-url.yaml", BASE);
    assert!(
        !outcome.stdout.contains("Secret at risk"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn json_for_tools() {
    let outcome = Runbook::new([
        "diff",
        BASE,
        "tests/fixtures/diff/every-change.yaml",
        "--format",
        "json",
    ])
    .run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let diff: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("one JSON document");
    assert_eq!(diff["changed"], true);
    assert_eq!(diff["attention"][0]["kind"], "lost_confirmation");
    assert_eq!(diff["steps"]["added"][0]["id"], "tell-workers");
    assert_eq!(diff["steps"]["removed"][0]["id"], "ping-hooks");
    assert_eq!(
        diff["steps"]["moved"],
        serde_json::json!([{"id": "store", "from": 5, "to": 3}])
    );
    let risky: Vec<&str> = diff["secret_flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|flow| flow["risk"] == true)
        .map(|flow| flow["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        risky,
        [
            "URL",
            "URL",
            "rollback note",
            "URL",
            "manual instructions",
            "audit context `.token`"
        ]
    );
    let unchanged = Runbook::new(["diff", BASE, BASE, "--format", "json"]).run();
    let unchanged: serde_json::Value = serde_json::from_str(&unchanged.stdout).unwrap();
    assert_eq!(unchanged["changed"], false);
}

/// A scratch git repository holding one committed runbook. git runs without the user's or the
/// system's configuration (no signing, hooks or templates of theirs) or a repository the
/// environment points at (as in a git hook), with an identity of its own.
fn repository_with(name: &str, contents: impl AsRef<[u8]>) -> Scratch {
    let scratch = Scratch::new();
    scratch.write(name, contents);
    let git = |arguments: &[&str]| {
        let status = Command::new("git")
            .arg("-C")
            .arg(scratch.dir.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .args(["-c", "user.name=test", "-c", "user.email=test@localhost"])
            .args(["-c", "commit.gpgsign=false"])
            .args(arguments)
            .output()
            .expect("git runs");
        assert!(status.status.success(), "git {arguments:?}: {status:?}");
    };
    git(&["init", "--quiet"]);
    git(&["add", name]);
    git(&["commit", "--quiet", "-m", "the runbook"]);
    scratch
}

fn base_text() -> String {
    std::fs::read_to_string(fixture("diff/base.yaml")).unwrap()
}

fn path(scratch: &Scratch, name: &str) -> String {
    scratch.dir.path().join(name).display().to_string()
}

#[test]
fn diff_against_git_head_of_an_unchanged_file() {
    let scratch = repository_with("rotation.yaml", base_text());
    let outcome = Runbook::new(["diff", "--git", "HEAD"])
        .arg(path(&scratch, "rotation.yaml"))
        .run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome.stdout.contains("No semantic changes."),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("`HEAD:"),
        "names the revision: {}",
        outcome.stdout
    );
}

#[test]
fn diff_against_git_head_of_the_shipped_runbook() {
    // This repository may be a worktree, and the test may run from anywhere: the revision is
    // read from the repository that holds the file. (Only the header is asserted: a local
    // edit of the runbook would rightly show as a change.)
    let outcome = Runbook::new([
        "diff",
        "--git",
        "HEAD",
        "runbooks/cloudflare-access-service-token.yaml",
    ])
    .run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome.stdout.starts_with(
            "## Runbook diff: `HEAD:runbooks/cloudflare-access-service-token.yaml` → `runbooks/cloudflare-access-service-token.yaml`"
        ),
        "{}",
        outcome.stdout
    );
}

/// A repository another user owns is refused by git ("dubious ownership"); the message is
/// git's reason and remedy, not "no repository".
#[test]
fn a_repository_git_refuses_to_read_is_not_called_missing() {
    // SAFETY: geteuid has no preconditions. Only root can give the files to another user.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let scratch = repository_with("rotation.yaml", base_text());
    fn give_away(path: &std::path::Path) {
        std::os::unix::fs::lchown(path, Some(65534), Some(65534)).unwrap();
        if path.is_dir() && !path.is_symlink() {
            for entry in std::fs::read_dir(path).unwrap() {
                give_away(&entry.unwrap().path());
            }
        }
    }
    give_away(scratch.dir.path());
    let outcome = Runbook::new(["diff", "--git", "HEAD"])
        .arg(path(&scratch, "rotation.yaml"))
        .run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    let directory = scratch.dir.path().display().to_string();
    assert_eq!(
        outcome.stderr,
        format!(
            "runbook diff: git cannot read the repository of {directory}/rotation.yaml: detected dubious ownership in repository at '{directory}'; if you trust it: `git config --global --add safe.directory {directory}`\n"
        )
    );
}

#[test]
fn diff_against_git_sees_a_working_copy_change() {
    let scratch = repository_with("rotation.yaml", base_text());
    let changed = std::fs::read_to_string(fixture("diff/secret-in-url.yaml")).unwrap();
    scratch.write("rotation.yaml", changed);
    let outcome = Runbook::new(["diff", "--git", "HEAD"])
        .arg(path(&scratch, "rotation.yaml"))
        .run();
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome.stdout.contains("**Secret at risk:** step `list`"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn diff_against_a_revision_that_does_not_exist() {
    let scratch = repository_with("rotation.yaml", base_text());
    let outcome = Runbook::new(["diff", "--git", "no-such-branch"])
        .arg(path(&scratch, "rotation.yaml"))
        .run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("the revision `no-such-branch` does not exist in the repository of"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn diff_against_a_revision_without_the_file() {
    let scratch = repository_with("rotation.yaml", base_text());
    scratch.write("new.yaml", base_text());
    let outcome = Runbook::new(["diff", "--git", "HEAD"])
        .arg(path(&scratch, "new.yaml"))
        .run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("new.yaml does not exist at revision `HEAD`"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn an_old_revision_over_the_size_limit_is_refused_without_reading_it_all() {
    // 5 MiB of comments: over the 4 MiB budget a runbook file has, however it is read.
    let huge = format!(
        "{}{}",
        "# padding\n".repeat(5 * 1024 * 1024 / 10),
        base_text()
    );
    let scratch = repository_with("rotation.yaml", huge);
    scratch.write("rotation.yaml", base_text());
    let outcome = Runbook::new(["diff", "--git", "HEAD"])
        .arg(path(&scratch, "rotation.yaml"))
        .run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(outcome.stdout.is_empty(), "{}", outcome.stdout);
    assert!(
        outcome.stderr.contains("RB004")
            && outcome.stderr.contains("HEAD:")
            && outcome
                .stderr
                .contains("runbooks are limited to 4194304 bytes"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn an_old_revision_that_is_not_utf8_is_named_not_mangled() {
    // Latin-1 "é" in a title: the old reader replaced it with U+FFFD and went on.
    let mut latin1 = base_text().into_bytes();
    let at = latin1.iter().position(|&byte| byte == b'\n').unwrap();
    latin1.splice(at..at, b" # caf\xe9".iter().copied());
    let scratch = repository_with("rotation.yaml", latin1);
    scratch.write("rotation.yaml", base_text());
    let outcome = Runbook::new(["diff", "--git", "HEAD"])
        .arg(path(&scratch, "rotation.yaml"))
        .run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(
        outcome.stderr.contains("RB003") && outcome.stderr.contains("invalid byte 0xe9 at line 1"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn diff_outside_a_git_repository() {
    let scratch = Scratch::new();
    let file = scratch.write("rotation.yaml", base_text());
    assert!(!Path::new(&scratch.dir.path().join(".git")).exists());
    let outcome = Runbook::new(["diff", "--git", "HEAD"])
        .arg(file.display().to_string())
        .run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(
        outcome.stderr.contains("is not in a git repository"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn diff_with_a_missing_file() {
    let outcome = Runbook::new(["diff", BASE, "tests/fixtures/diff/no-such-file.yaml"]).run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(outcome.stdout.is_empty());
    assert!(
        outcome.stderr.contains("cannot read the file"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn diff_with_an_invalid_runbook_prints_its_diagnostics() {
    let outcome = Runbook::new(["diff", "tests/fixtures/bad/unknown_service.yaml", BASE]).run();
    assert_eq!(outcome.code, 3, "{outcome:?}");
    assert!(outcome.stdout.is_empty());
    assert!(
        outcome
            .stderr
            .contains("error[RB015]: unknown service `cloudflair`"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn diff_needs_two_files_or_git_and_one() {
    let outcome = Runbook::new(["diff", BASE]).run();
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains("give two files"),
        "{}",
        outcome.stderr
    );
    let outcome = Runbook::new(["diff", "--git", "HEAD", BASE, BASE]).run();
    assert_eq!(outcome.code, 2, "{outcome:?}");
}

#[test]
fn resume_checks_retries_timeouts_and_allowances_are_compared() {
    let scratch = Scratch::new();
    let changed = std::fs::read_to_string(crate::support::root().join(BASE))
        .unwrap()
        .replacen(
            "    rollback: Delete token {{ new_id }}.\n",
            "    rollback: Delete token {{ new_id }}.\n    timeout: 20s\n    retryable: true\n    allow: { RB112: \"the API deduplicates by name\" }\n    resume:\n      check:\n        get: \"{{ services.gadgets }}/tokens?session={{ admin_token }}\"\n      took_effect: response.status == 200\n",
            1,
        );
    // And one the runbook allows everywhere.
    let changed = changed.replacen(
        "\nsteps:\n",
        "\nallow: { RB130: kept for later }\nsteps:\n",
        1,
    );
    let new = scratch.write("changed.yaml", &changed);
    let outcome = diff(BASE, &new.display().to_string());
    for expected in [
        "- step timeout (all attempts): added `20s`",
        "retryable",
        "allows RB112",
        "allows RB130: added `kept for later`",
        "resume check URL",
        "resume took effect",
    ] {
        assert_contains(&outcome.stdout, expected);
    }
    assert_contains(
        &outcome.stdout,
        "**Secret at risk:** step `create` now puts `admin_token` in its resume check URL",
    );
}
