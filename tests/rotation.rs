//! Both shipped runbooks, end to end against the emulator: the world afterwards (tokens,
//! Infisical, Heroku, GitHub, the audit file), no secret in any output or file, and the failure
//! paths the SOPs warn about.

use std::path::Path;

use runbook::emulator::BackgroundEmulator;

use crate::support::leak::{assert_no_secret_in, files_under};
use crate::support::world::{
    ACCESS, CONSOLE_VARIABLES, FOLDER, SEEDED_CONSOLE_TOKEN, USER, assert_console_pair_stored,
    assert_user_token_stored, credential_env, emulator, secret_credentials, seeded_console_token,
    service_args,
};
use crate::support::{Outcome, Runbook, Scratch, assert_contains, root, stable};

/// `runbook exec FILE --yes` pointed at the emulator: its URLs with `--service`, its
/// credentials in the environment, the state directory in `scratch`.
fn exec(emulator: &BackgroundEmulator, file: &Path, scratch: &Scratch) -> Runbook {
    Runbook::new(["exec"])
        .arg(file.display().to_string())
        .arg("--yes")
        .arg("--actor")
        .arg("test-operator")
        .arg("--state-dir")
        .arg(scratch.dir.path().join("state").display().to_string())
        .home(&scratch.home)
        .args(service_args(emulator, file))
        .envs(credential_env(emulator))
}

/// A shipped runbook with faster polling, for the paths where a probe never passes.
fn impatient(scratch: &Scratch, runbook: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join(runbook))
        .unwrap()
        .replace("attempts: 30", "attempts: 3")
        .replace("interval: 1s", "interval: 50ms");
    scratch.write("impatient.yaml", text)
}

/// No secret, in any form, in the output or any file of the state dir.
fn assert_nothing_leaked(outcome: &Outcome, scratch: &Scratch, secrets: &[String]) {
    let mut texts = vec![("output".to_string(), outcome.all())];
    texts.extend(files_under(&scratch.dir.path().join("state")));
    assert!(
        texts.len() >= 3,
        "the journal and the audit log are checked: {:?}",
        texts.iter().map(|(place, _)| place).collect::<Vec<_>>()
    );
    assert_no_secret_in(&texts, secrets);
}

fn audit_records(scratch: &Scratch) -> Vec<serde_json::Value> {
    let path = scratch.dir.path().join("state/audit.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("an audit line is JSON"))
        .collect()
}

#[test]
fn access_service_token_rotates_end_to_end() {
    let emulator = emulator();
    let scratch = Scratch::new();
    let (old_id, old_client_id, tokens_before) = {
        let world = emulator.world();
        let old = seeded_console_token(&world);
        (
            old.id.clone(),
            old.client_id.clone(),
            world.cloudflare().live_service_tokens().len(),
        )
    };
    let old_secret = secret_credentials(&emulator);
    let outcome = exec(&emulator, &root().join(ACCESS), &scratch).run();
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);

    let world = emulator.world();
    let cloudflare = world.cloudflare();
    let live = cloudflare.live_service_tokens();
    assert_eq!(live.len(), tokens_before, "one created, one deleted");
    assert!(
        cloudflare.service_token(&old_id).is_none(),
        "the old token is gone"
    );
    let new = live
        .iter()
        .find(|token| token.name.starts_with("raxx-console-svc-") && token.id != old_id)
        .expect("exactly one new console token");
    assert_ne!(new.client_id, old_client_id);
    assert_console_pair_stored(&world, new);
    for name in CONSOLE_VARIABLES {
        let secret = world.infisical_secret("prod", FOLDER, name).expect(name);
        assert!(secret.version() >= 2, "{name} keeps its history");
    }
    let records = audit_records(&scratch);
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record["action"], "secret.rotate.completed");
    assert_eq!(record["actor"], "test-operator");
    assert_eq!(record["context"]["secret_name"], "CF_ACCESS_SVC_CONSOLE");
    assert_eq!(record["context"]["old_token_id"], old_id.as_str());
    assert_eq!(record["context"]["new_token_id"], new.id.as_str());
    assert_eq!(record["context"]["method"], "programmatic");
    assert_eq!(record["runbook"]["name"], "cloudflare-access-service-token");
    assert!(
        record["runbook"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(record["run_id"].is_string() && record["time"].is_string());
    let mut all = old_secret;
    all.push(new.client_secret().to_string());
    drop(world);
    assert_nothing_leaked(&outcome, &scratch, &all);
}

fn roll(name: &str, legacy: &str) {
    let emulator = emulator();
    let scratch = Scratch::new();
    let old_value = emulator
        .world()
        .cloudflare()
        .user_token_value(name)
        .unwrap()
        .to_string();
    let before = secret_credentials(&emulator);
    let outcome = exec(&emulator, &root().join(USER), &scratch)
        .arg("--var")
        .arg(format!("secret_name={name}"))
        .run();
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);

    let world = emulator.world();
    let new_value = world
        .cloudflare()
        .user_token_value(name)
        .unwrap()
        .to_string();
    assert_ne!(new_value, old_value);
    assert!(
        !world.cloudflare().is_live_user_token(&old_value),
        "the old value is dead"
    );
    assert!(world.cloudflare().is_live_user_token(&new_value));
    for variable in [name, legacy] {
        assert_user_token_stored(&world, variable, &new_value);
        let console = world
            .heroku_app("raxx-console-prod")
            .unwrap()
            .config_var(variable);
        if name == "CF_ACCESS_MGMT" {
            assert_eq!(console, Some(new_value.as_str()), "console {variable}");
        } else {
            assert_ne!(
                console,
                Some(new_value.as_str()),
                "the console does not use {variable}"
            );
        }
    }
    drop(world);
    let records = audit_records(&scratch);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["context"]["secret_name"], name);
    assert_eq!(records[0]["context"]["method"], "programmatic");
    assert!(records[0]["context"]["rotated_at"].is_string());
    let mut all = before;
    all.push(new_value);
    all.push(old_value);
    assert_nothing_leaked(&outcome, &scratch, &all);
}

#[test]
fn user_api_token_rolls_cf_pages_deploy() {
    roll("CF_PAGES_DEPLOY", "CLOUDFLARE_RAXX_AUTOMATION_API_TOKEN");
}

#[test]
fn user_api_token_rolls_cf_access_mgmt() {
    roll("CF_ACCESS_MGMT", "CLOUDFLARE_ACCESS_MGMT_TOKEN");
}

#[test]
fn user_api_token_rolls_cf_pages_read() {
    roll("CF_PAGES_READ", "CLOUDFLARE_PAGES_READ_TOKEN");
}

#[test]
fn the_dashboard_fallback_takes_the_value_the_operator_rolled() {
    let emulator = emulator();
    let scratch = Scratch::new();
    // Stands in for the operator pressing Roll in the dashboard: the test rolls first, and the
    // run gets the new value both as the current one (so the sanity check passes) and as the
    // one the operator pastes (CF_NEW_TOKEN_VALUE, the ask's environment fallback).
    let rolled = {
        let token = emulator
            .world()
            .cloudflare()
            .user_token("CF_PAGES_DEPLOY")
            .unwrap()
            .id
            .clone();
        let rotation = emulator
            .world()
            .cloudflare()
            .user_token_value("CF_ROTATION_TOKEN")
            .unwrap()
            .to_string();
        let url = format!("{}/client/v4/user/tokens/{token}/value", emulator.url());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let answer: serde_json::Value = reqwest::Client::new()
                .put(url)
                .bearer_auth(rotation)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["result"].as_str().unwrap().to_string()
        })
    };
    let outcome = exec(&emulator, &root().join(USER), &scratch)
        .arg("--var")
        .arg("secret_name=CF_PAGES_DEPLOY")
        .arg("--var")
        .arg("method=dashboard")
        .env("CF_PAGES_DEPLOY", &rolled)
        .env("CF_NEW_TOKEN_VALUE", &rolled)
        .run();
    // The "old" value given to the run is alive (it is the new one), so the final check that
    // the old value is revoked must fail: exactly what it is there to catch.
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("roll-in-dashboard"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("manual step roll-in-dashboard"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .contains("skipped: `method == 'api'` is false"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("FAILED    confirm-old-revoked"),
        "{}",
        outcome.stdout
    );
    let world = emulator.world();
    assert_eq!(
        world
            .infisical_secret("prod", FOLDER, "CF_PAGES_DEPLOY")
            .unwrap()
            .current_value(),
        rolled
    );
}

#[test]
fn origin_403_stops_before_anything_is_propagated() {
    let emulator = emulator();
    let scratch = Scratch::new();
    let (old_id, old_client_id, infisical_version, release) = {
        let mut world = emulator.world();
        let old = seeded_console_token(&world);
        // A policy scoped by client id that lists only the old token.
        world.faults.origin_policy_client_ids = Some(vec![old.client_id.clone()]);
        let version = world
            .infisical_secret("prod", FOLDER, "CF_ACCESS_SVC_CONSOLE")
            .unwrap()
            .version();
        let release = world
            .heroku_app("raxx-console-prod")
            .unwrap()
            .releases()
            .len();
        (old.id.clone(), old.client_id.clone(), version, release)
    };
    let outcome = exec(&emulator, &root().join(ACCESS), &scratch).run();
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("FAILED    verify-origin"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("hint: The Access policy does not admit the new token. If the policy is scoped by client_id"),
        "{}",
        outcome.stdout
    );
    let world = emulator.world();
    assert!(
        world.cloudflare().service_token(&old_id).is_some(),
        "the old token is untouched"
    );
    assert!(
        world.origin_admits(
            &old_client_id,
            world
                .cloudflare()
                .service_token(&old_id)
                .unwrap()
                .client_secret()
        )
    );
    assert_eq!(
        world
            .infisical_secret("prod", FOLDER, "CF_ACCESS_SVC_CONSOLE")
            .unwrap()
            .version(),
        infisical_version,
        "nothing propagated to Infisical"
    );
    assert_eq!(
        world
            .heroku_app("raxx-console-prod")
            .unwrap()
            .releases()
            .len(),
        release,
        "nor to Heroku"
    );
    let new = world
        .cloudflare()
        .live_service_tokens()
        .into_iter()
        .find(|token| {
            token.id != old_id
                && token.name.starts_with("raxx-console-svc-")
                && token.name != SEEDED_CONSOLE_TOKEN
        })
        .expect("the new token exists")
        .clone();
    let notes = outcome
        .stdout
        .split("Rollback notes")
        .nth(1)
        .expect("rollback notes");
    assert!(
        notes.contains(&format!("delete the new token\n       {}", new.id))
            || notes.contains(&new.id),
        "{notes}"
    );
    assert!(
        notes.contains(&format!("service_tokens/{}", new.id)),
        "the note names the token to delete: {notes}"
    );
}

#[test]
fn a_failed_infisical_write_fails_the_step_and_says_what_was_written() {
    let emulator = emulator();
    let scratch = Scratch::new();
    emulator.world().faults.infisical_fail_writes = true;
    let old_id = seeded_console_token(&emulator.world()).id;
    let outcome = exec(&emulator, &root().join(ACCESS), &scratch).run();
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("FAILED    store-infisical"),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stdout.contains("infisical prod /MooseQuest/cloudflare: updating CF_ACCESS_SVC_CONSOLE in prod /MooseQuest/cloudflare: 500"), "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("nothing was written"),
        "{}",
        outcome.stdout
    );
    assert!(
        emulator
            .world()
            .cloudflare()
            .service_token(&old_id)
            .is_some()
    );
    assert!(
        audit_records(&scratch).is_empty(),
        "no audit record for a failed rotation"
    );
}

#[test]
fn an_unhealthy_console_keeps_the_old_token() {
    let emulator = emulator();
    let scratch = Scratch::new();
    emulator.world().faults.console_unhealthy = true;
    let old_id = seeded_console_token(&emulator.world()).id;
    let file = impatient(&scratch, ACCESS);
    let outcome = exec(&emulator, &file, &scratch).run();
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("FAILED    verify-console-health"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("gave up after 3 attempt(s)"),
        "{}",
        outcome.stdout
    );
    assert!(
        !outcome.stdout.contains("delete-old-token  "),
        "the delete never ran: {}",
        outcome.stdout
    );
    assert!(
        emulator
            .world()
            .cloudflare()
            .service_token(&old_id)
            .is_some(),
        "the old token is kept"
    );
    assert!(
        outcome.stdout.contains("do not delete the old one"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_roll_whose_new_value_does_not_verify_stops_before_propagating() {
    let emulator = emulator();
    let scratch = Scratch::new();
    emulator
        .world()
        .faults
        .cloudflare_roll_answers_unusable_value = true;
    let old_value = emulator
        .world()
        .cloudflare()
        .user_token_value("CF_PAGES_DEPLOY")
        .unwrap()
        .to_string();
    let version = emulator
        .world()
        .infisical_secret("prod", FOLDER, "CF_PAGES_DEPLOY")
        .unwrap()
        .version();
    let outcome = exec(&emulator, &root().join(USER), &scratch)
        .arg("--var")
        .arg("secret_name=CF_PAGES_DEPLOY")
        .run();
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("FAILED    verify-new"),
        "{}",
        outcome.stdout
    );
    let world = emulator.world();
    assert!(
        !world.cloudflare().is_live_user_token(&old_value),
        "the roll did happen"
    );
    assert_eq!(
        world
            .infisical_secret("prod", FOLDER, "CF_PAGES_DEPLOY")
            .unwrap()
            .version(),
        version
    );
    let notes = outcome
        .stdout
        .split("Rollback notes")
        .nth(1)
        .expect("rollback notes");
    assert!(notes.contains("re-roll"), "{notes}");
}

#[test]
fn both_runbooks_check_and_their_plans_are_stable() {
    let outcome = Runbook::new(["check", ACCESS, USER]).run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let plan = Runbook::new(["plan", USER, "--var", "secret_name=CF_PAGES_READ"]).run();
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    stable().bind(|| insta::assert_snapshot!("plan_user_api_token", plan.stdout));
}

/// `runbook exec FILE --emulate --yes EXTRA` with the scratch home's default state directory.
fn rehearse(file: &Path, extra: &[&str], scratch: &Scratch) -> Outcome {
    Runbook::new(["exec"])
        .arg(file.display().to_string())
        .args(["--emulate", "--yes"])
        .args(extra.iter().copied())
        .home(&scratch.home)
        .run()
}

/// The README's main job: both shipped runbooks rotate against the in-process emulator, and
/// each appends its audit record, apart from real runs' state.
#[test]
fn the_readme_main_job_rehearses_both_rotations() {
    let scratch = Scratch::new();
    let access = rehearse(&root().join(ACCESS), &[], &scratch);
    assert_eq!(access.code, 0, "{}\n{}", access.stdout, access.stderr);
    let user = rehearse(
        &root().join(USER),
        &["--var", "secret_name=CF_PAGES_DEPLOY"],
        &scratch,
    );
    assert_eq!(user.code, 0, "{}\n{}", user.stdout, user.stderr);
    let rehearsals = scratch.home.state().join("emulated");
    let audit = std::fs::read_to_string(rehearsals.join("audit.jsonl")).unwrap();
    let actions: Vec<String> = audit
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            record["context"]["secret_name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(actions, ["CF_ACCESS_SVC_CONSOLE", "CF_PAGES_DEPLOY"]);
    assert!(
        !scratch.home.state().join("audit.jsonl").exists(),
        "a rehearsal writes nothing to the real audit log"
    );
    assert_eq!(
        std::fs::read_dir(rehearsals.join("runs")).unwrap().count(),
        2
    );
}

/// A rehearsal that fails after changing the emulator's world keeps no lock (the world is
/// gone with the emulator, and nothing could resume it), so the next rehearsal runs; and it
/// never shows among, or holds up, real runs.
#[test]
fn a_failed_rehearsal_holds_up_nothing() {
    let scratch = Scratch::new();
    let failing = std::fs::read_to_string(root().join(ACCESS)).unwrap().replacen(
        "        CF-Access-Client-Secret: \"{{ new_client_secret }}\"\n    expect:\n      status: 200",
        "        CF-Access-Client-Secret: \"{{ new_client_secret }}\"\n    expect:\n      status: 299",
        1,
    );
    let file = scratch.write("failing.yaml", failing);
    for attempt in 1..=2 {
        let failed = rehearse(&file, &[], &scratch);
        assert_eq!(
            failed.code, 1,
            "attempt {attempt}:\n{}\n{}",
            failed.stdout, failed.stderr
        );
        assert_contains(&failed.stdout, "FAILED    verify-origin");
        assert_contains(
            &failed.stderr,
            "runbook: an --emulate rehearsal cannot be resumed (its emulator ended with it): fix what stopped it and run it again",
        );
        assert!(!failed.stderr.contains("stays held"), "{}", failed.stderr);
        assert!(
            !failed.stderr.contains("runbook resume"),
            "{}",
            failed.stderr
        );
    }
    let runs = Runbook::new(["runs"]).home(&scratch.home).run();
    assert_eq!(runs.code, 0);
    let rehearsals = scratch.home.state().join("emulated");
    assert_eq!(
        runs.stdout,
        format!(
            "no runs in {}\n(2 --emulate rehearsal(s) are kept apart: runbook runs --state-dir {})\n",
            scratch.home.state().display(),
            rehearsals.display()
        )
    );
    let listed = Runbook::new(["runs", "--state-dir"])
        .arg(rehearsals.display().to_string())
        .home(&scratch.home)
        .run();
    assert_eq!(listed.code, 0);
    assert_eq!(listed.stdout.lines().count(), 2, "{}", listed.stdout);
    assert_contains(&listed.stdout, "failed at step verify-origin");
}

/// GitHub keeps `updated_at` in whole seconds and never ahead of its clock (the emulator's
/// `github_whole_second_clock`): a second write of a secret in the second of the first must
/// still be confirmed, so the provider waits for the next second rather than report the write
/// as lost.
#[test]
fn a_github_secret_written_twice_in_one_second_is_confirmed_both_times() {
    let emulator = emulator();
    emulator.world().faults.github_whole_second_clock = true;
    let scratch = Scratch::new();
    let step = |id: &str, value: &str| {
        format!(
            "  - id: {id}\n    title: Write CF_TWICE ({id})\n    propagate:\n      values:\n        CF_TWICE: \"{{{{ {value} }}}}\"\n      targets:\n        - github: {{ repository: \"{{{{ github_repository }}}}\", token: \"{{{{ github_token }}}}\" }}\n"
        )
    };
    let text = format!(
        "runbook: twice\ntitle: One Actions secret written twice\nservices:\n  github: https://api.github.com\ninputs:\n  github_token: {{ env: [GITHUB_TOKEN], secret: true }}\n  github_repository: {{ env: [GITHUB_REPOSITORY] }}\n  first: {{ env: [TWICE_FIRST], secret: true }}\n  second: {{ env: [TWICE_SECOND], secret: true }}\nsteps:\n{}{}",
        step("first-write", "first"),
        step("second-write", "second")
    );
    let file = scratch.write("twice.yaml", text);
    let outcome = exec(&emulator, &file, &scratch)
        .env("TWICE_FIRST", "first-value-of-cf-twice")
        .env("TWICE_SECOND", "second-value-of-cf-twice")
        .run();
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    let world = emulator.world();
    let stored = world.github_secret("CF_TWICE").expect("written");
    assert_eq!(stored.value(), "second-value-of-cf-twice");
    assert!(stored.updated_at <= jiff::Timestamp::now());
    assert_eq!(
        outcome
            .stdout
            .matches("1 updated, 0 created; each sealed for the current key and confirmed by updated_at")
            .count()
            + outcome
                .stdout
                .matches("0 updated, 1 created; each sealed for the current key and confirmed by updated_at")
                .count(),
        2,
        "{}",
        outcome.stdout
    );
}
