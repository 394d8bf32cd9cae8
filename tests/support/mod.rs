//! The test builder: run the `runbook` binary with a clean environment and look at what it
//! did (exit code, stdout, stderr), and a scratch directory for runbook files.

pub mod leak;
pub mod server;
pub mod world;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_runbook");

/// The repository root, where `runbooks/` and `schemas/` live.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// One invocation of the binary.
pub struct Runbook {
    args: Vec<String>,
    env: Vec<(String, std::ffi::OsString)>,
    stdin: Option<String>,
    home: Option<PathBuf>,
    stdout: Stdout,
}

/// Where the binary's stdout goes.
enum Stdout {
    /// Kept for [`Outcome::stdout`].
    Captured,
    /// Written to this file (a device such as `/dev/full`).
    File(PathBuf),
    /// A pipe whose reader is gone, like `| head` after it had enough.
    Closed,
}

/// A home directory for runs: `~/.local/state/runbook` holds journals, locks and the audit
/// log, and `~/.config/runbook/identity.txt` the key that seals shown-once secrets.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    /// A home with a sealing key, as after `runbook keygen`.
    pub fn keyed() -> Home {
        let home = Home::bare();
        runbook::journal::seal::keygen(&home.identity(), false).expect("keygen");
        home
    }

    /// A home with no key.
    pub fn bare() -> Home {
        Home {
            dir: tempfile::tempdir().expect("a temporary home"),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn identity(&self) -> PathBuf {
        self.dir.path().join(".config/runbook/identity.txt")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join(".local/state/runbook")
    }

    /// The one run in this home's state directory (`runbook runs`).
    pub fn only_run(&self) -> String {
        let outcome = Runbook::new(["runs", "--output", "json"]).home(self).run();
        let runs = outcome.json_lines();
        assert_eq!(runs.len(), 1, "{}", outcome.stdout);
        runs[0]["run_id"].as_str().unwrap().to_string()
    }

    /// Where a run's journal is.
    pub fn journal_path(&self, run: &str) -> PathBuf {
        self.state().join("runs").join(run).join("journal.jsonl")
    }

    /// A run's journal, as it is on disk.
    pub fn journal(&self, run: &str) -> String {
        let path = self.journal_path(run);
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The home the run used when the test gave none (kept until the outcome is dropped).
    _home: Option<tempfile::TempDir>,
}

impl Outcome {
    /// Both streams, for assertions that something appears nowhere.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("not JSON: {line}: {error}"))
            })
            .collect()
    }
}

impl Runbook {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(args: I) -> Runbook {
        Runbook {
            args: args
                .into_iter()
                .map(|arg| arg.as_ref().to_string())
                .collect(),
            env: Vec::new(),
            stdin: None,
            home: None,
            stdout: Stdout::Captured,
        }
    }

    /// Sends stdout to `path` (opened for writing), e.g. `/dev/full`.
    pub fn stdout_to(mut self, path: impl Into<PathBuf>) -> Runbook {
        self.stdout = Stdout::File(path.into());
        self
    }

    /// Gives stdout a pipe whose reading end is closed as soon as the binary starts.
    pub fn stdout_closed(mut self) -> Runbook {
        self.stdout = Stdout::Closed;
        self
    }

    /// Runs with this home directory (its state and key); by default each run gets a fresh,
    /// keyless one.
    pub fn home(mut self, home: &Home) -> Runbook {
        self.home = Some(home.path().to_path_buf());
        self
    }

    pub fn arg(mut self, arg: impl AsRef<str>) -> Runbook {
        self.args.push(arg.as_ref().to_string());
        self
    }

    /// Appends every argument, in order.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, args: I) -> Runbook {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_string()));
        self
    }

    pub fn env(mut self, name: &str, value: impl AsRef<str>) -> Runbook {
        self.env.push((name.to_string(), value.as_ref().into()));
        self
    }

    /// Sets an environment variable to bytes that need not be UTF-8.
    pub fn env_bytes(mut self, name: &str, value: &[u8]) -> Runbook {
        use std::os::unix::ffi::OsStrExt;
        self.env
            .push((name.to_string(), std::ffi::OsStr::from_bytes(value).into()));
        self
    }

    /// Sets every variable, in order (a later one wins over an earlier one of the same name).
    pub fn envs<I, K, V>(mut self, variables: I) -> Runbook
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        self.env.extend(
            variables
                .into_iter()
                .map(|(name, value)| (name.as_ref().to_string(), value.as_ref().into())),
        );
        self
    }

    pub fn run(self) -> Outcome {
        let fresh = match &self.home {
            Some(_) => None,
            None => Some(tempfile::tempdir().expect("a temporary home")),
        };
        let home = self.home.clone().unwrap_or_else(|| {
            fresh
                .as_ref()
                .map(|dir| dir.path().to_path_buf())
                .unwrap_or_default()
        });
        let mut command = Command::new(BIN);
        command
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("NO_COLOR", "1")
            .current_dir(root())
            .stdin(Stdio::piped())
            .stderr(Stdio::piped());
        match &self.stdout {
            Stdout::Captured | Stdout::Closed => command.stdout(Stdio::piped()),
            Stdout::File(path) => command.stdout(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .expect("the file for stdout opens"),
            ),
        };
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the runbook binary starts");
        if let Stdout::Closed = self.stdout {
            drop(child.stdout.take());
        }
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let input = self.stdin.unwrap_or_default();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let output = child.wait_with_output().expect("the runbook binary runs");
        let _ = writer.join();
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            _home: fresh,
        }
    }
}

/// A scratch directory that holds runbook files for one test, and a home with a key for the
/// runs of the test.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub home: Home,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("a temporary directory"),
            home: Home::keyed(),
        }
    }

    /// Writes a file and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("the file is written");
        path
    }
}

/// Makes a FIFO (a named pipe) at `path`.
pub fn make_fifo(path: &std::path::Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A FIFO at `path` that nothing reads or writes. Should the program under test wait at it for
/// a writer or a reader, one comes after 20 s and leaves at once, so that the test fails
/// instead of hanging.
pub fn idle_fifo(path: &std::path::Path) {
    make_fifo(path);
    let rescue = path.to_path_buf();
    std::thread::spawn(move || {
        use std::os::unix::fs::OpenOptionsExt;
        std::thread::sleep(std::time::Duration::from_secs(20));
        // Each fails or goes at once when nobody waits on the other side.
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&rescue);
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&rescue);
    });
}

/// Asserts that `text` (a command's output) contains `needle`, and shows the whole text when it
/// does not. Never use it for a secret: a failure prints the text it looked in.
#[track_caller]
pub fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}

/// insta settings that hide what changes from run to run: dates, run ids, durations, ports.
pub fn stable() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d{8}T\d{9}Z-[0-9a-f]{8}", "[run-id]");
    settings.add_filter(r"\d{4}-\d{2}-\d{2}", "[date]");
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    settings.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[digest]");
    settings.add_filter(r"\b\d+(\.\d+)?(ms|s)\b", "[time]");
    settings
}
