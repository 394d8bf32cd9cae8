//! Durable runs: killed at every step boundary of both runbooks (SIGKILL, from outside, while the
//! emulator holds a request), then resumed to a complete rotation with nothing lost, nothing
//! done twice and no secret in any file or output; locks, keys, signals and the journal.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runbook::emulator::{BackgroundEmulator, Hold};

use crate::support::leak::{assert_no_secret_in, files_under};
use crate::support::world::{
    ACCESS, USER, assert_console_pair_stored, assert_user_token_stored, credential_env, emulator,
    secret_credentials, seeded_console_token, service_args,
};
use crate::support::{BIN, Home, Outcome, Runbook, assert_contains, root};

/// An emulator, a keyed home, and a copy of a runbook that polls quickly.
struct Rig {
    emulator: BackgroundEmulator,
    home: Home,
    runbook: PathBuf,
    /// The credentials as the operator's environment holds them when the run starts; a resume
    /// gets the same environment (a rolled token's new value is not in it).
    credentials: Vec<(String, String)>,
}

impl Rig {
    fn new(runbook: &str) -> Rig {
        let emulator = emulator();
        let home = Home::keyed();
        let text = std::fs::read_to_string(root().join(runbook))
            .unwrap()
            .replace("interval: 1s", "interval: 50ms");
        let path = home.path().join(Path::new(runbook).file_name().unwrap());
        std::fs::write(&path, text).unwrap();
        let credentials = credential_env(&emulator);
        Rig {
            emulator,
            home,
            runbook: path,
            credentials,
        }
    }

    fn services(&self) -> Vec<String> {
        service_args(&self.emulator, &self.runbook)
    }

    /// `runbook exec` as a child process, for a test to kill.
    fn spawn(&self, extra: &[&str]) -> Child {
        self.spawn_at(&self.home, &[], extra)
    }

    /// `runbook exec` as a child process with `home` as its home and `env` added to the
    /// credentials, stdin closed.
    fn spawn_at(&self, home: &Home, env: &[(&str, &str)], extra: &[&str]) -> Child {
        Command::new(BIN)
            .arg("exec")
            .arg(&self.runbook)
            .arg("--yes")
            .args(self.services())
            .args(extra)
            .env_clear()
            .envs(self.credentials.iter().map(|(name, value)| (name, value)))
            .env("HOME", home.path())
            .env("NO_COLOR", "1")
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runbook starts")
    }

    fn exec(&self, extra: &[&str]) -> Outcome {
        self.exec_at(&self.home, extra)
    }

    fn exec_at(&self, home: &Home, extra: &[&str]) -> Outcome {
        self.command_at(home, ["exec"])
            .arg(self.runbook.display().to_string())
            .arg("--yes")
            .args(self.services())
            .args(extra)
            .run()
    }

    /// `runbook ARGS` with the rig's home and credentials.
    fn command<'a>(&self, args: impl IntoIterator<Item = &'a str>) -> Runbook {
        self.command_at(&self.home, args)
    }

    /// `runbook ARGS` with this home and the rig's credentials.
    fn command_at<'a>(&self, home: &Home, args: impl IntoIterator<Item = &'a str>) -> Runbook {
        Runbook::new(args)
            .home(home)
            .envs(self.credentials.iter().map(|(name, value)| (name, value)))
    }

    fn resume(&self, run: &str, extra: &[&str]) -> Outcome {
        self.command(["resume", run, "--yes"]).args(extra).run()
    }

    fn hold(&self, hold: Hold) {
        let mut world = self.emulator.world();
        world.held = 0;
        world.faults.hold = Some(hold);
    }

    /// Holds the first `method` request whose path starts with `path`, before it applies.
    fn hold_at(&self, method: &str, path: &str) {
        self.hold(Hold {
            method: method.into(),
            path: path.into(),
            skip: 0,
            after_applying: false,
        });
    }

    /// Starts the run, kills it while the emulator holds the first `method` request to
    /// `path`, lets the emulator go on, and returns the run's id.
    fn killed_while_held(&self, method: &str, path: &str, extra: &[&str]) -> String {
        self.hold_at(method, path);
        let mut child = self.spawn(extra);
        self.wait_held(&mut child);
        kill(&mut child);
        self.release();
        self.home.only_run()
    }

    fn release(&self) {
        self.emulator.world().faults.hold = None;
    }

    /// Waits until the emulator holds a request.
    fn wait_held(&self, child: &mut Child) {
        let started = Instant::now();
        loop {
            if self.emulator.world().held > 0 {
                return;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let output = drain(child);
                panic!("runbook ended ({status}) before the request was held:\n{output}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the request was never held"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every secret of the world, for the leak checks.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = secret_credentials(&self.emulator);
        let world = self.emulator.world();
        for token in world.cloudflare().live_service_tokens() {
            secrets.push(token.client_secret().to_string());
        }
        secrets
    }
}

fn drain(child: &mut Child) -> String {
    use std::io::Read;
    let mut text = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut text);
    }
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text);
    }
    text
}

fn kill(child: &mut Child) -> String {
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
    drain(child)
}

/// Every file under the state directory, and the outputs, hold no secret in any form.
fn assert_no_secret(rig: &Rig, outputs: &[&str], secrets: &[String]) {
    let mut texts: Vec<(String, String)> = outputs
        .iter()
        .enumerate()
        .map(|(index, text)| (format!("output {index}"), text.to_string()))
        .collect();
    texts.extend(files_under(&rig.home.state()));
    assert_no_secret_in(&texts, secrets);
}

/// Kills an access-token rotation while the emulator holds the given request, resumes it, and
/// checks the world: exactly one new token, the old one gone, both stores on the new pair.
fn access_killed_at(method: &str, path: &str, skip: u32, after_applying: bool) {
    let rig = Rig::new(ACCESS);
    let account = rig.emulator.world().cloudflare().account_id().to_string();
    let path = path.replace("{account}", &account);
    let old_id = seeded_console_token(&rig.emulator.world()).id;
    let mut secrets = rig.secrets();
    rig.hold(Hold {
        method: method.into(),
        path,
        skip,
        after_applying,
    });
    let mut child = rig.spawn(&[]);
    rig.wait_held(&mut child);
    let killed = kill(&mut child);
    secrets.extend(rig.secrets());
    assert_no_secret(&rig, &[&killed], &secrets);
    rig.release();
    let run = rig.home.only_run();
    let resumed = rig.resume(&run, &[]);
    assert_eq!(
        resumed.code, 0,
        "resume failed:\n{}\n{}",
        resumed.stdout, resumed.stderr
    );

    let world = rig.emulator.world();
    let cloudflare = world.cloudflare();
    assert!(
        cloudflare.service_token(&old_id).is_none(),
        "the old token is gone"
    );
    let console: Vec<_> = cloudflare
        .live_service_tokens()
        .into_iter()
        .filter(|token| token.name.starts_with("raxx-console-svc-"))
        .collect();
    assert_eq!(console.len(), 1, "exactly one console token, the new one");
    let new = console[0];
    assert_console_pair_stored(&world, new);
    secrets.push(new.client_secret().to_string());
    drop(world);
    assert_no_secret(&rig, &[&killed, &resumed.stdout, &resumed.stderr], &secrets);
    let journal = rig.home.journal(&run);
    assert_contains(&journal, "\"record\":\"resumed\"");
    assert!(
        !journal.contains("\"sealed\""),
        "a completed run keeps no sealed value"
    );
}

/// One test per point to kill a run at: after `check;`, each `name: METHOD, PATH, SKIP,
/// AFTER_APPLYING;` is a test `name` that calls `check(METHOD, PATH, SKIP, AFTER_APPLYING)`.
macro_rules! killed_at {
    ($check:ident; $($name:ident: $method:expr, $path:expr, $skip:expr, $after:expr;)*) => {
        $(
            #[test]
            fn $name() {
                $check($method, $path, $skip, $after);
            }
        )*
    };
}

killed_at! {
    access_killed_at;
    access_killed_while_listing_tokens: "GET", "/client/v4/accounts/{account}/access/service_tokens", 0, false;
    access_killed_before_create_applies: "POST", "/client/v4/accounts/{account}/access/service_tokens", 0, false;
    access_killed_after_create_applies: "POST", "/client/v4/accounts/{account}/access/service_tokens", 0, true;
    access_killed_while_verifying_origin: "GET", "/health", 0, false;
    access_killed_mid_infisical_write: "PATCH", "/api/v4/secrets/", 1, true;
    access_killed_before_heroku_applies: "PATCH", "/apps/raxx-console-prod/config-vars", 0, false;
    access_killed_after_heroku_applies: "PATCH", "/apps/raxx-console-prod/config-vars", 0, true;
    access_killed_while_probing_console: "GET", "/api/status/sites", 0, false;
    access_killed_before_delete_applies: "DELETE", "/client/v4/accounts/{account}/access/service_tokens/", 0, false;
    access_killed_after_delete_applies: "DELETE", "/client/v4/accounts/{account}/access/service_tokens/", 0, true;
}

/// Kills a user-token roll while the emulator holds the given request, resumes it, and checks
/// the world: the old value dead, one live new value held by every store.
fn user_killed_at(method: &str, path: &str, skip: u32, after_applying: bool) {
    let rig = Rig::new(USER);
    let old_value = rig
        .emulator
        .world()
        .cloudflare()
        .user_token_value("CF_PAGES_DEPLOY")
        .unwrap()
        .to_string();
    let mut secrets = rig.secrets();
    rig.hold(Hold {
        method: method.into(),
        path: path.into(),
        skip,
        after_applying,
    });
    let mut child = rig.spawn(&["--var", "secret_name=CF_PAGES_DEPLOY"]);
    rig.wait_held(&mut child);
    let killed = kill(&mut child);
    let rolled = rig
        .emulator
        .world()
        .cloudflare()
        .user_token_value("CF_PAGES_DEPLOY")
        .unwrap()
        .to_string();
    secrets.push(rolled);
    assert_no_secret(&rig, &[&killed], &secrets);
    rig.release();
    let run = rig.home.only_run();
    let resumed = rig.resume(&run, &[]);
    assert_eq!(
        resumed.code, 0,
        "resume failed:\n{}\n{}",
        resumed.stdout, resumed.stderr
    );
    let world = rig.emulator.world();
    let new_value = world
        .cloudflare()
        .user_token_value("CF_PAGES_DEPLOY")
        .unwrap()
        .to_string();
    assert!(
        !world.cloudflare().is_live_user_token(&old_value),
        "the old value is dead"
    );
    assert!(world.cloudflare().is_live_user_token(&new_value));
    for variable in ["CF_PAGES_DEPLOY", "CLOUDFLARE_RAXX_AUTOMATION_API_TOKEN"] {
        assert_user_token_stored(&world, variable, &new_value);
    }
    drop(world);
    secrets.push(new_value);
    secrets.push(old_value);
    assert_no_secret(&rig, &[&killed, &resumed.stdout, &resumed.stderr], &secrets);
}

killed_at! {
    user_killed_at;
    user_killed_during_sanity_check: "GET", "/client/v4/user/tokens/verify", 0, false;
    user_killed_while_identifying: "GET", "/client/v4/user/tokens", 1, false;
    user_killed_before_roll_applies: "PUT", "/client/v4/user/tokens/", 0, false;
    user_killed_after_roll_applies: "PUT", "/client/v4/user/tokens/", 0, true;
    user_killed_while_verifying_new_value: "GET", "/client/v4/user/tokens/verify", 1, false;
    user_killed_mid_infisical_write: "PATCH", "/api/v4/secrets/", 0, true;
    user_killed_after_heroku_prod_applies: "PATCH", "/apps/raxx-api-prod/config-vars", 0, true;
    user_killed_before_heroku_staging_applies: "PATCH", "/apps/raxx-api-staging/config-vars", 0, false;
    user_killed_mid_github_write: "PUT", "/repos/", 0, true;
    user_killed_while_checking_api_health: "GET", "/health/dependencies", 0, false;
    user_killed_while_checking_console: "GET", "/api/status/sites", 0, false;
    user_killed_while_confirming_revocation: "GET", "/client/v4/user/tokens/verify", 2, false;
}

/// The journal records a step when it finishes, and a mutating request before it goes out: a
/// run killed in a read-only step died *after* the last step recorded, and a step the earlier
/// run skipped is skipped again, not shown as done.
#[test]
fn a_run_killed_in_a_read_only_step_died_after_the_last_step_it_recorded() {
    let rig = Rig::new(USER);
    // The second verify is `verify-new`; `roll-in-dashboard` before it was skipped.
    rig.hold(Hold {
        method: "GET".into(),
        path: "/client/v4/user/tokens/verify".into(),
        skip: 1,
        after_applying: false,
    });
    let mut child = rig.spawn(&["--var", "secret_name=CF_PAGES_DEPLOY"]);
    rig.wait_held(&mut child);
    kill(&mut child);
    rig.release();
    let runs = rig.command(["runs"]).run();
    // It said "died during step roll-in-dashboard", a step that never ran.
    assert_contains(&runs.stdout, "died after step roll-in-dashboard");
    let run = rig.home.only_run();
    let resumed = rig.resume(&run, &[]);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    assert_contains(
        &resumed.stdout,
        " 4/15  skipped   roll-in-dashboard     skipped in the earlier run\n",
    );
}

#[test]
fn a_second_run_of_the_same_rotation_is_refused_while_the_first_holds_the_lock() {
    let rig = Rig::new(ACCESS);
    let account = rig.emulator.world().cloudflare().account_id().to_string();
    rig.hold_at(
        "POST",
        &format!("/client/v4/accounts/{account}/access/service_tokens"),
    );
    let mut first = rig.spawn(&[]);
    rig.wait_held(&mut first);
    let second = rig.exec(&[]);
    assert_eq!(second.code, 4, "{}", second.stderr);
    assert!(
        second.stderr.contains(
            "another run holds the lock `cloudflare-access-service-token:CF_ACCESS_SVC_CONSOLE`"
        ),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains(&format!("(process {})", first.id())),
        "who holds it: {}",
        second.stderr
    );
    kill(&mut first);
    rig.release();
    // The holder is gone: a plain exec is still refused, but now says the lock is stale.
    let third = rig.exec(&[]);
    assert_eq!(third.code, 4);
    assert!(third.stderr.contains("stale lock"), "{}", third.stderr);
    assert!(third.stderr.contains("runbook resume"), "{}", third.stderr);
    // --force-unlock starts over, and the new run's journal says so.
    let forced = rig.exec(&["--force-unlock"]);
    assert_eq!(forced.code, 0, "{}\n{}", forced.stdout, forced.stderr);
    assert!(
        forced.stderr.contains("--force-unlock: broke the lock"),
        "{}",
        forced.stderr
    );
    let runs = rig.command(["runs", "--output", "json"]).run().json_lines();
    let newest = runs.last().unwrap()["run_id"].as_str().unwrap().to_string();
    let journal = rig.home.journal(&newest);
    assert!(
        journal.contains("\"record\":\"unlock_forced\""),
        "{journal}"
    );
}

#[test]
fn a_runbook_with_a_shown_once_secret_refuses_to_start_without_a_key() {
    let rig = Rig::new(ACCESS);
    let bare = Home::bare();
    let outcome = rig.exec_at(&bare, &[]);
    assert_eq!(outcome.code, 4, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("captures a secret shown only once (new_client_secret (step create-token))"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("run `runbook keygen` once"),
        "{}",
        outcome.stderr
    );
    let live = rig
        .emulator
        .world()
        .cloudflare()
        .live_service_tokens()
        .len();
    assert_eq!(live, 2, "nothing was created");
}

/// `--seal-to` on the command line wins over the environment's passphrase, and is checked:
/// it used to be ignored, unchecked, whenever $RUNBOOK_SEAL_PASSPHRASE was set.
#[test]
fn seal_to_wins_over_the_environment_and_is_checked() {
    let rig = Rig::new(ACCESS);
    let bare = Home::bare();
    let run = |extra: &[&str]| {
        rig.command_at(&bare, ["exec"])
            .arg(rig.runbook.display().to_string())
            .arg("--yes")
            .args(rig.services())
            .args(extra.iter().copied())
            .env("RUNBOOK_SEAL_PASSPHRASE", "a passphrase")
            .run()
    };
    let refused = run(&["--seal-to", "age1bad"]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("`age1bad` is not an age X25519 recipient (age1…)"),
        "{}",
        refused.stderr
    );
    let live = rig
        .emulator
        .world()
        .cloudflare()
        .live_service_tokens()
        .len();
    assert_eq!(live, 2, "nothing was created");
    let elsewhere = Home::bare();
    let shown = Runbook::new(["keygen"]).home(&elsewhere).run();
    let recipient = shown
        .stdout
        .split_whitespace()
        .find(|word| word.starts_with("age1"))
        .expect("keygen prints the public key")
        .to_string();
    let outcome = run(&["--seal-to", &recipient]);
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert!(
        outcome
            .all()
            .contains(&format!("the recipient {recipient}")),
        "{}",
        outcome.all()
    );
    assert!(
        !outcome.all().contains("RUNBOOK_SEAL_PASSPHRASE"),
        "{}",
        outcome.all()
    );
}

#[test]
fn keygen_writes_a_private_identity_once() {
    let home = Home::bare();
    let outcome = Runbook::new(["keygen"]).home(&home).run();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains("public key: age1"),
        "{}",
        outcome.stdout
    );
    let text = std::fs::read_to_string(home.identity()).unwrap();
    assert!(
        text.lines()
            .any(|line| line.starts_with("AGE-SECRET-KEY-1"))
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.identity())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = Runbook::new(["keygen"]).home(&home).run();
    assert_eq!(again.code, 4);
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);
}

#[test]
fn keygen_refuses_to_write_over_what_is_not_a_regular_file() {
    let home = Home::bare();
    let fifo = home.path().join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    for force in [&[][..], &["--force"][..]] {
        let outcome = Runbook::new(["keygen", "--output", fifo.to_str().unwrap()])
            .args(force)
            .home(&home)
            .run();
        assert_eq!(outcome.code, 4, "{}", outcome.stderr);
        assert_eq!(
            outcome.stderr,
            format!(
                "runbook: {} is a FIFO (named pipe), not a regular file: keygen writes the identity only to a file of its own; give --output the path of a file\n",
                fifo.display()
            )
        );
        use std::os::unix::fs::FileTypeExt;
        let kept = std::fs::metadata(&fifo).unwrap().file_type();
        assert!(kept.is_fifo(), "the FIFO is still a FIFO");
    }
    let dir = home.path().join("keys");
    std::fs::create_dir(&dir).unwrap();
    for force in [&[][..], &["--force"][..]] {
        let outcome = Runbook::new(["keygen", "--output", dir.to_str().unwrap()])
            .args(force)
            .home(&home)
            .run();
        assert_eq!(outcome.code, 4, "{}", outcome.stderr);
        assert_eq!(
            outcome.stderr,
            format!(
                "runbook: {} is a directory: give --output the path of the file to create, e.g. {}/identity.txt\n",
                dir.display(),
                dir.display()
            )
        );
        assert!(dir.is_dir());
    }
}

#[test]
fn a_passphrase_seals_and_resumes_too() {
    let rig = Rig::new(USER);
    let bare = Home::bare();
    rig.hold_at("GET", "/health/dependencies");
    let mut child = rig.spawn_at(
        &bare,
        &[("RUNBOOK_SEAL_PASSPHRASE", "correct horse battery staple")],
        &["--var", "secret_name=CF_PAGES_READ"],
    );
    rig.wait_held(&mut child);
    let killed = kill(&mut child);
    assert!(!killed.contains("correct horse battery staple"));
    rig.release();
    let runs = rig
        .command_at(&bare, ["runs", "--output", "json"])
        .run()
        .json_lines();
    let run = runs[0]["run_id"].as_str().unwrap().to_string();
    let wrong = rig
        .command_at(&bare, ["resume", &run, "--yes"])
        .env("RUNBOOK_SEAL_PASSPHRASE", "wrong")
        .run();
    assert_eq!(wrong.code, 4, "{}", wrong.stderr);
    assert!(
        wrong
            .stderr
            .contains("cannot open this run's sealed values with the passphrase in $RUNBOOK_SEAL_PASSPHRASE: it is not the passphrase the run was sealed with, or the sealed data is damaged"),
        "{}",
        wrong.stderr
    );
    let right = rig
        .command_at(&bare, ["resume", &run, "--yes"])
        .env("RUNBOOK_SEAL_PASSPHRASE", "correct horse battery staple")
        .run();
    assert_eq!(right.code, 0, "{}\n{}", right.stdout, right.stderr);
    assert!(
        right.stdout.contains("done in the earlier run"),
        "{}",
        right.stdout
    );
}

#[test]
fn resume_refuses_a_changed_runbook_and_a_different_secret() {
    let rig = Rig::new(USER);
    let run = rig.killed_while_held(
        "GET",
        "/health/dependencies",
        &["--var", "secret_name=CF_PAGES_DEPLOY"],
    );
    let original = std::fs::read_to_string(&rig.runbook).unwrap();
    std::fs::write(&rig.runbook, format!("{original}\n# an edit\n")).unwrap();
    let changed = rig.resume(&run, &[]);
    assert_eq!(changed.code, 5, "{}", changed.stderr);
    assert!(
        changed.stderr.contains("changed since run"),
        "{}",
        changed.stderr
    );
    assert!(
        changed.stderr.contains("--allow-changed"),
        "{}",
        changed.stderr
    );
    let different = rig
        .command(["resume", &run, "--yes", "--allow-changed"])
        .env("CF_ROTATION_TOKEN", "a-different-rotation-token-value")
        .run();
    assert_eq!(different.code, 4, "{}", different.stderr);
    assert!(
        different
            .stderr
            .contains("the secret input `rotation_token` is not the value the run started with"),
        "{}",
        different.stderr
    );
    let allowed = rig.resume(&run, &["--allow-changed"]);
    assert_eq!(allowed.code, 0, "{}\n{}", allowed.stdout, allowed.stderr);
    let runs = rig.command(["runs"]).run();
    assert!(runs.stdout.contains("completed"), "{}", runs.stdout);
}

/// A step the journal records must still be in the runbook: a renamed `roll` would roll the
/// token a second time (with --allow-changed), and a journal edited to name another step would
/// have the resume settle `roll` as if it had never run. Both are refused before anything is
/// sent; with the step back as it was, the resume goes on.
#[test]
fn resume_refuses_a_journal_that_speaks_of_a_step_the_runbook_lacks() {
    let rig = Rig::new(USER);
    let run = rig.killed_while_held(
        "GET",
        "/health/dependencies",
        &["--var", "secret_name=CF_PAGES_DEPLOY"],
    );
    let journal_path = rig.home.journal_path(&run);
    let journal = std::fs::read_to_string(&journal_path).unwrap();
    let rolls = |rig: &Rig| {
        rig.emulator
            .world()
            .cloudflare()
            .user_token_value("CF_PAGES_DEPLOY")
            .map(str::to_owned)
    };
    let before = rolls(&rig);

    let finished = r#""record":"step_finished","step":"roll""#;
    assert!(journal.contains(finished), "{journal}");
    std::fs::write(
        &journal_path,
        journal.replace(finished, r#""record":"step_finished","step":"rollX""#),
    )
    .unwrap();
    let edited = rig.resume(&run, &[]);
    assert_eq!(edited.code, 4, "{}\n{}", edited.stdout, edited.stderr);
    assert_eq!(
        edited.stderr,
        format!(
            "runbook: {} records step `rollX`, which {} does not have, and the runbook has not changed since the run started: the journal is damaged or was edited. Restore it, or finish by hand from `runbook show {run}`\n",
            journal_path.display(),
            rig.runbook.display()
        )
    );
    std::fs::write(&journal_path, &journal).unwrap();

    let original = std::fs::read_to_string(&rig.runbook).unwrap();
    std::fs::write(
        &rig.runbook,
        original.replace("  - id: roll\n", "  - id: roll-by-api\n"),
    )
    .unwrap();
    let renamed = rig.resume(&run, &["--allow-changed"]);
    assert_eq!(renamed.code, 4, "{}\n{}", renamed.stdout, renamed.stderr);
    assert_eq!(
        renamed.stderr,
        format!(
            "runbook: {} records step `roll`, which the changed {} no longer has: a renamed step would run again as a new one (a second credential), and a removed one would leave what it did unaccounted for. Put the step back under the id `roll` (it stays done), or start a new run\n",
            journal_path.display(),
            rig.runbook.display()
        )
    );
    assert_eq!(rolls(&rig), before, "nothing was rolled again");

    std::fs::write(&rig.runbook, &original).unwrap();
    let resumed = rig.resume(&run, &[]);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
    assert_eq!(rolls(&rig), before, "the roll was not repeated");
}

/// A resume that fails again lists each step's rollback note once: a step done in the earlier
/// run was counted twice, and "restore the previous versions" done twice would go back two.
#[test]
fn a_resume_that_fails_again_gives_each_rollback_note_once() {
    let rig = Rig::new(ACCESS);
    rig.emulator.world().faults.heroku_fail_writes = true;
    let first = rig.exec(&[]);
    assert_eq!(first.code, 1, "{}", first.stderr);
    let run = rig.home.only_run();
    let again = rig.resume(&run, &[]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    let notes = again
        .all()
        .split("Rollback notes, in the order to carry them out:")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let numbered: Vec<&str> = notes
        .lines()
        .filter_map(|line| line.trim_start().split_once(". "))
        .filter(|(number, _)| number.parse::<usize>().is_ok())
        .map(|(_, rest)| rest.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        numbered,
        [
            "propagate-heroku (the step that stopped)",
            "store-infisical",
            "verify-origin",
            "create-token"
        ],
        "{notes}"
    );
}

/// A sealed capture that cannot be opened is named, with the journal it is in; a journal
/// copied under another run's directory is refused for what it is.
#[test]
fn a_damaged_sealed_capture_and_a_moved_journal_are_named() {
    let rig = Rig::new(ACCESS);
    rig.emulator.world().faults.heroku_fail_writes = true;
    assert_eq!(rig.exec(&[]).code, 1);
    let run = rig.home.only_run();
    let journal_path = rig.home.journal_path(&run);
    let journal = std::fs::read_to_string(&journal_path).unwrap();
    let damaged: String = journal
        .lines()
        .map(|line| {
            let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(sealed) = record.get("sealed").and_then(|sealed| sealed.as_str()) {
                let mut bytes =
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sealed)
                        .unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 1;
                record["sealed"] =
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
                        .into();
            }
            record.to_string() + "\n"
        })
        .collect();
    std::fs::write(&journal_path, damaged).unwrap();
    let refused = rig.resume(&run, &[]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(
        refused.stderr.starts_with(&format!(
            "runbook: the sealed capture `new_client_secret` in {}: cannot open a sealed value: ",
            journal_path.display()
        )),
        "{}",
        refused.stderr
    );
    std::fs::write(&journal_path, &journal).unwrap();

    let copy = "20261123T000000000Z-00000000";
    let runs = journal_path.parent().unwrap().parent().unwrap();
    std::fs::create_dir(runs.join(copy)).unwrap();
    std::fs::copy(&journal_path, runs.join(copy).join("journal.jsonl")).unwrap();
    let moved = rig.command(["show", copy]).run();
    assert_eq!(moved.code, 4, "{}", moved.stderr);
    assert_eq!(
        moved.stderr,
        format!(
            "runbook: {} is the journal of run {run}, not of run {copy} whose directory holds it: it was moved or copied there. Put it back in runs/{run}/\n",
            runs.join(copy).join("journal.jsonl").display()
        )
    );
}

#[test]
fn a_rate_limit_is_waited_out_and_recorded() {
    let rig = Rig::new(USER);
    rig.emulator.world().faults.rate_limit = Some(runbook::emulator::RateLimit {
        remaining: 2,
        retry_after: "1".into(),
    });
    let started = Instant::now();
    let outcome = rig.exec(&["--var", "secret_name=CF_PAGES_DEPLOY"]);
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After was honoured"
    );
    assert!(
        outcome
            .stdout
            .contains("429 Too Many Requests; request 1 of 4); retrying in 1s"),
        "{}",
        outcome.stdout
    );
    let run = rig.home.only_run();
    let journal = rig.home.journal(&run);
    let rate_limited = journal
        .lines()
        .filter(|line| {
            line.contains("\"record\":\"retry\"") && line.contains("429 Too Many Requests")
        })
        .count();
    assert_eq!(rate_limited, 2, "{journal}");
}

#[test]
fn sigterm_stops_at_a_safe_point_and_says_how_to_resume() {
    let rig = Rig::new(USER);
    rig.hold_at("GET", "/health/dependencies");
    let mut child = rig.spawn(&["--var", "secret_name=CF_PAGES_DEPLOY"]);
    rig.wait_held(&mut child);
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    let output = drain(&mut child);
    rig.release();
    assert_eq!(status.code(), Some(130), "{output}");
    assert!(
        output.contains("ABORTED during step verify-api-health"),
        "{output}"
    );
    assert!(output.contains("runbook resume "), "{output}");
    assert!(output.contains("Rollback notes"), "{output}");
    let run = rig.home.only_run();
    let shown = rig.command(["show", &run]).run();
    assert!(
        shown.stdout.contains("(aborted at step verify-api-health)"),
        "{}",
        shown.stdout
    );
    let resumed = rig.resume(&run, &[]);
    assert_eq!(resumed.code, 0, "{}\n{}", resumed.stdout, resumed.stderr);
}

/// A stop asked for while a change is in flight lets it finish (the journal must know whether
/// it happened) and says so at once, instead of going quiet until the answer comes.
#[test]
fn a_stop_during_a_change_in_flight_says_it_waits_for_the_answer() {
    let rig = Rig::new(USER);
    rig.hold_at("PUT", "/client/v4/user/tokens/");
    let mut child = rig.spawn(&["--var", "secret_name=CF_PAGES_DEPLOY"]);
    rig.wait_held(&mut child);
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run waits for the answer"
    );
    rig.release();
    let status = child.wait().unwrap();
    let output = drain(&mut child);
    assert_eq!(status.code(), Some(130), "{output}");
    assert!(output.contains("roll: stopping once PUT "), "{output}");
    assert!(
        output.contains(
            " is answered (a change in flight is let finish, so that the run knows whether it happened)"
        ),
        "{output}"
    );
}

#[test]
fn recover_prints_only_to_a_terminal() {
    let rig = Rig::new(USER);
    let run = rig.killed_while_held(
        "GET",
        "/health/dependencies",
        &["--var", "secret_name=CF_PAGES_DEPLOY"],
    );
    let shown = rig.command(["show", &run]).run();
    assert!(shown.stdout.contains("new_value"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("sealed: `runbook recover` prints it"),
        "{}",
        shown.stdout
    );
    let outcome = rig
        .command(["recover", &run, "--capture", "new_value"])
        .run();
    assert_eq!(outcome.code, 5);
    assert!(
        outcome.stderr.contains("only to a terminal"),
        "{}",
        outcome.stderr
    );
    let value = rig
        .emulator
        .world()
        .cloudflare()
        .user_token_value("CF_PAGES_DEPLOY")
        .unwrap()
        .to_string();
    assert!(!outcome.all().contains(&value));
}

/// A runbook whose first change goes to `create` and whose check afterwards goes to `check`.
fn change_then_check(create: &str, check: &str) -> String {
    format!(
        r#"runbook: lock-after-failure
title: Change, then check
steps:
  - id: create
    title: Create something
    http:
      post: "{create}"
      json: {{ name: x }}
    rollback: Delete what was created.
  - id: check
    title: Check it
    http:
      get: "{check}"
"#
    )
}

#[test]
fn a_change_that_never_left_does_not_keep_the_lock() {
    // Nobody listens on the port: the POST is refused before anything is sent, so nothing
    // changed and the next run may start at once.
    let port = crate::support::server::closed_port();
    let scratch = crate::support::Scratch::new();
    let url = format!("http://127.0.0.1:{port}/tokens");
    let path = scratch.write("refused.yaml", change_then_check(&url, &url));
    for _ in 0..2 {
        let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--yes"])
            .home(&scratch.home)
            .run();
        assert_eq!(outcome.code, 1, "{}", outcome.stderr);
        assert!(
            outcome.all().contains("connection refused"),
            "{}",
            outcome.all()
        );
        assert!(!outcome.all().contains("stays held"), "{}", outcome.all());
        assert!(
            !outcome.all().contains("holds the lock"),
            "{}",
            outcome.all()
        );
    }
}

#[test]
fn a_failed_run_that_changed_something_keeps_the_lock_unless_it_kept_no_journal() {
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    let router = Router::new()
        .route("/tokens", post(|| async { StatusCode::CREATED }))
        .route("/health", get(|| async { StatusCode::SERVICE_UNAVAILABLE }));
    let server = crate::support::server::Server::start(router);
    let scratch = crate::support::Scratch::new();
    let path = changed_then_failing_runbook(&scratch, &server);
    let exec = |extra: &[&str]| {
        Runbook::new(["exec", path.to_str().unwrap(), "--yes"])
            .home(&scratch.home)
            .args(extra)
            .run()
    };

    // Without a journal nothing could resume the run: the lock goes with it.
    for _ in 0..2 {
        let outcome = exec(&["--no-journal"]);
        assert_eq!(outcome.code, 1, "{}", outcome.stderr);
        assert!(!outcome.all().contains("stays held"), "{}", outcome.all());
        assert!(
            !outcome.all().contains("holds the lock"),
            "{}",
            outcome.all()
        );
    }

    // With a journal the half-done rotation blocks the next one, which is told to resume it.
    let first = exec(&[]);
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(
        first
            .all()
            .contains("the lock `lock-after-failure` stays held"),
        "{}",
        first.all()
    );
    let second = exec(&[]);
    assert_eq!(second.code, 4, "{}", second.stderr);
    assert!(second.stderr.contains("stale lock"), "{}", second.stderr);
    assert!(
        second.stderr.contains("runbook resume"),
        "{}",
        second.stderr
    );
}

/// The runbook of [`change_then_check`] against `server`: it changes something at `/tokens`,
/// then checks a path the server does not have.
fn changed_then_failing_runbook(
    scratch: &crate::support::Scratch,
    server: &crate::support::server::Server,
) -> std::path::PathBuf {
    scratch.write(
        "changed.yaml",
        change_then_check(
            &format!("{}/tokens", server.url()),
            &format!("{}/nothing-here", server.url()),
        ),
    )
}

/// A server where the runbook of [`change_then_check`] changes something and then fails.
fn changed_then_failing() -> crate::support::server::Server {
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::post;
    let router = Router::new().route("/tokens", post(|| async { StatusCode::CREATED }));
    crate::support::server::Server::start(router)
}

/// A lock file that does not say who holds it (damaged, or empty) is reported as such, with
/// its path: the run neither blames itself nor a run "(unknown)"; --force-unlock breaks it.
/// Many runs started at once: exactly one takes the lock, and every other names the holder.
#[test]
fn a_lock_file_that_cannot_be_read_is_named_and_runs_started_at_once_name_the_holder() {
    let server = changed_then_failing();
    let scratch = crate::support::Scratch::new();
    let path = changed_then_failing_runbook(&scratch, &server);
    let exec = |extra: &[&str]| {
        Runbook::new(["exec", path.to_str().unwrap(), "--yes"])
            .home(&scratch.home)
            .args(extra)
            .run()
    };
    assert_eq!(exec(&[]).code, 1);
    let locks = scratch.home.state().join("locks");
    let entries: Vec<std::path::PathBuf> = std::fs::read_dir(&locks)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .collect();
    assert_eq!(entries.len(), 1, "one lock, no draft left: {entries:?}");
    let lock = &entries[0];
    std::fs::write(lock, b"\x00\xffgarbage").unwrap();
    let refused = exec(&[]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert_eq!(
        refused.stderr,
        format!(
            "runbook: the lock `lock-after-failure` is held, but its file {} cannot be read: it does not say who holds the lock (damaged, or written by something else). If no run of this rotation is going on (`runbook runs` lists the runs), start over with --force-unlock; otherwise wait for it\n",
            lock.display()
        )
    );
    let forced = exec(&["--force-unlock"]);
    assert_eq!(forced.code, 1, "{}", forced.stderr);
    assert!(
        forced
            .all()
            .contains("--force-unlock: broke the lock `lock-after-failure`, whose file"),
        "{}",
        forced.all()
    );

    // Runs started together, against a fresh state directory: one takes the lock.
    let fresh = crate::support::Scratch::new();
    let children: Vec<std::process::Child> = (0..6)
        .map(|_| {
            Command::new(BIN)
                .args(["exec", path.to_str().unwrap(), "--yes"])
                .env_clear()
                .env("HOME", fresh.home.path())
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("runbook starts")
        })
        .collect();
    let mut held = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!stderr.contains("(unknown)"), "{stderr}");
        assert!(!stderr.contains("cannot be read"), "{stderr}");
        if output.status.code() == Some(4) {
            held += 1;
            assert!(
                stderr.contains("another run holds the lock `lock-after-failure`"),
                "{stderr}"
            );
        } else {
            assert_eq!(output.status.code(), Some(1), "{stderr}");
        }
    }
    assert_eq!(held, 5, "exactly one run took the lock");
}

/// A damaged journal is named with the file and line and what to do; one that is not a
/// regular file (a FIFO put in its place) is refused at once instead of hanging every verb.
#[test]
fn a_damaged_journal_is_named_by_line_and_a_fifo_journal_hangs_nothing() {
    let server = changed_then_failing();
    let scratch = crate::support::Scratch::new();
    let path = changed_then_failing_runbook(&scratch, &server);
    let first = Runbook::new(["exec", path.to_str().unwrap(), "--yes"])
        .home(&scratch.home)
        .run();
    assert_eq!(first.code, 1, "{}", first.stderr);
    let run = scratch.home.only_run();
    let journal = scratch.home.journal_path(&run);
    let text = std::fs::read_to_string(&journal).unwrap();
    let show = || Runbook::new(["show", &run]).home(&scratch.home).run();

    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(2, "[1,2,3]");
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let damaged = show();
    assert_eq!(damaged.code, 4, "{}", damaged.stderr);
    assert!(
        damaged.stderr.starts_with(&format!(
            "runbook: {}:3: not a journal record: ",
            journal.display()
        )),
        "{}",
        damaged.stderr
    );
    assert!(
        damaged.stderr.ends_with(
            ". The journal is damaged (edited, or its disk failed): keep a copy of it, then move that line out of it and try again\n"
        ),
        "{}",
        damaged.stderr
    );

    let mut bytes = text.clone().into_bytes();
    let second_line = text.find('\n').unwrap() + 5;
    bytes[second_line] = 0xff;
    std::fs::write(&journal, bytes).unwrap();
    let not_text = show();
    assert_eq!(not_text.code, 4, "{}", not_text.stderr);
    assert_eq!(
        not_text.stderr,
        format!(
            "runbook: {}:2: not UTF-8 text, as every journal line is. The journal is damaged (edited, or its disk failed): keep a copy of it, then move that line out of it and try again\n",
            journal.display()
        )
    );

    std::fs::remove_file(&journal).unwrap();
    crate::support::idle_fifo(&journal);
    let started = Instant::now();
    for verb in ["runs", "show"] {
        let args: Vec<&str> = if verb == "runs" {
            vec!["runs"]
        } else {
            vec!["show", &run]
        };
        let outcome = Runbook::new(args).home(&scratch.home).run();
        assert!(
            outcome
                .all()
                .contains("this is a FIFO (named pipe), not a regular file"),
            "{verb}: {}",
            outcome.all()
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "nothing waited at the FIFO"
    );
}

#[test]
fn a_run_refused_by_a_lock_exits_4_and_its_resume_command_names_the_state_dir() {
    let server = changed_then_failing();
    let scratch = crate::support::Scratch::new();
    let path = changed_then_failing_runbook(&scratch, &server);
    // A space in it: the command given must still work when pasted into a shell.
    let state = scratch.dir.path().join("state dir");
    let state_dir = state.display().to_string();
    let exec = || {
        Runbook::new(["exec", path.to_str().unwrap(), "--yes"])
            .args(["--state-dir", &state_dir])
            .home(&scratch.home)
            .run()
    };
    let first = exec();
    assert_eq!(first.code, 1, "{}", first.stderr);
    let run = Runbook::new(["runs", "--output", "json", "--state-dir", &state_dir])
        .home(&scratch.home)
        .run()
        .json_lines()[0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let resume = format!("runbook resume {run} --state-dir '{state_dir}'");
    assert_contains(
        &first.stderr,
        &format!("runbook: to continue this run from where it stopped: {resume}\n"),
    );
    let second = exec();
    assert_eq!(second.code, 4, "{}", second.stderr);
    assert_contains(&second.stderr, "its process is gone (a stale lock)");
    assert_contains(&second.stderr, &format!("Continue it with `{resume}`, or"));
    // The command it gives finds the run.
    let shown = Runbook::new(["show", &run, "--state-dir", &state_dir])
        .home(&scratch.home)
        .run();
    assert_eq!(shown.code, 0, "{}", shown.stderr);
}

#[test]
fn a_state_dir_that_is_not_a_directory_is_an_input_error_for_every_verb() {
    let scratch = crate::support::Scratch::new();
    let path = scratch.write(
        "refused.yaml",
        change_then_check("http://127.0.0.1:9/tokens", "http://127.0.0.1:9/check"),
    );
    let file = scratch.write("state-file", "not a directory");
    // A FIFO anyone may write: its mode must not earn it advice to chmod it.
    let fifo = scratch.dir.path().join("state-fifo");
    let status = Command::new("mkfifo")
        .args(["-m", "666"])
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    for state in [&file, &fifo] {
        let state = state.display().to_string();
        let message = format!(
            "runbook: the state directory {state} is not a directory: pass --state-dir a directory (or leave it out for the default)\n"
        );
        let run = "20261123T014512345Z-3fa9c2d1";
        for command in [
            vec![
                "exec",
                path.to_str().unwrap(),
                "--yes",
                "--state-dir",
                &state,
            ],
            vec!["runs", "--state-dir", &state],
            vec!["show", run, "--state-dir", &state],
            vec!["resume", run, "--state-dir", &state],
        ] {
            let outcome = Runbook::new(&command).home(&scratch.home).run();
            assert_eq!(outcome.code, 4, "{command:?}: {}", outcome.stderr);
            assert_eq!(outcome.stderr, message, "{command:?}");
            assert_eq!(outcome.stdout, "", "{command:?}");
        }
        // $RUNBOOK_STATE_DIR is the same directory by another name.
        let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--yes"])
            .env("RUNBOOK_STATE_DIR", &state)
            .home(&scratch.home)
            .run();
        assert_eq!(outcome.code, 4, "{}", outcome.stderr);
        assert_eq!(outcome.stderr, message);
    }
}

#[test]
fn a_state_dir_the_user_cannot_use_is_an_input_error_that_says_so() {
    // SAFETY: geteuid has no preconditions. Root may write anywhere: nothing to test.
    if unsafe { libc::geteuid() } == 0 {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let scratch = crate::support::Scratch::new();
    let path = scratch.write(
        "refused.yaml",
        change_then_check("http://127.0.0.1:9/tokens", "http://127.0.0.1:9/check"),
    );
    let state = scratch.dir.path().join("read-only");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o500)).unwrap();
    let state_dir = state.display().to_string();
    let outcome = Runbook::new(["exec", path.to_str().unwrap(), "--yes"])
        .args(["--state-dir", &state_dir])
        .home(&scratch.home)
        .run();
    assert_eq!(outcome.code, 4, "{}", outcome.stderr);
    assert_eq!(
        outcome.stderr,
        format!(
            "runbook: cannot write the state directory {state_dir}: permission denied; use a state directory you own (--state-dir DIR) or fix its permissions\n"
        )
    );
    // Runs that cannot be read are not "no runs".
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir(state.join("runs")).unwrap();
    std::fs::set_permissions(state.join("runs"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let message = format!(
        "runbook: cannot read {state_dir}/runs in the state directory: permission denied; use a state directory you own (--state-dir DIR) or fix its permissions\n"
    );
    let run = "20261123T014512345Z-3fa9c2d1";
    for command in [
        vec!["runs", "--state-dir", &state_dir],
        vec!["show", run, "--state-dir", &state_dir],
        vec!["resume", run, "--state-dir", &state_dir],
    ] {
        let outcome = Runbook::new(&command).home(&scratch.home).run();
        assert_eq!(outcome.code, 4, "{command:?}: {}", outcome.stderr);
        assert_eq!(outcome.stderr, message, "{command:?}");
    }
    std::fs::set_permissions(state.join("runs"), std::fs::Permissions::from_mode(0o700)).unwrap();
    // Nor is one run that cannot be read: it is listed, with why.
    std::fs::create_dir(state.join("runs").join(run)).unwrap();
    std::fs::set_permissions(
        state.join("runs").join(run),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let outcome = Runbook::new(["runs", "--state-dir", &state_dir])
        .home(&scratch.home)
        .run();
    std::fs::set_permissions(
        state.join("runs").join(run),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    assert_eq!(
        outcome.stdout,
        format!(
            "(unreadable) cannot read {state_dir}/runs/{run} in the state directory: permission denied; use a state directory you own (--state-dir DIR) or fix its permissions\n"
        )
    );
}

#[test]
fn a_stale_lock_of_a_run_without_a_journal_is_not_offered_for_resume() {
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::post;
    let router = Router::new().route(
        "/tokens",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::CREATED
        }),
    );
    let server = crate::support::server::Server::start(router);
    let scratch = crate::support::Scratch::new();
    let url = format!("{}/tokens", server.url());
    let path = scratch.write("slow.yaml", change_then_check(&url, &url));
    let mut child = Command::new(BIN)
        .args(["exec", path.to_str().unwrap(), "--yes", "--no-journal"])
        .env_clear()
        .env("HOME", scratch.home.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runbook starts");
    let locks = scratch.home.state().join("locks");
    let started = Instant::now();
    let taken = |locks: &std::path::Path| {
        std::fs::read_dir(locks).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|entry| entry.file_name().to_string_lossy().ends_with(".lock"))
        })
    };
    while !taken(&locks) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the run never took its lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(&mut child);
    let next = Runbook::new(["exec", path.to_str().unwrap(), "--yes", "--no-journal"])
        .home(&scratch.home)
        .run();
    assert_eq!(next.code, 4, "{}", next.stderr);
    assert!(
        next.stderr
            .contains("stopped; its process is gone (a stale lock)"),
        "{}",
        next.stderr
    );
    assert!(
        next.stderr
            .contains("keeps no journal (--no-journal), so it cannot be resumed"),
        "{}",
        next.stderr
    );
    assert!(!next.stderr.contains("runbook resume"), "{}", next.stderr);
}
