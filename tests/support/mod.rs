//! The test builder: run the `runbook` binary with a clean environment and look at what it
//! did (exit code, stdout, stderr), and a scratch directory for runbook files.

pub mod server;

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
    env: Vec<(String, String)>,
    stdin: Option<String>,
}

#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
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
        }
    }

    pub fn arg(mut self, arg: impl AsRef<str>) -> Runbook {
        self.args.push(arg.as_ref().to_string());
        self
    }

    pub fn env(mut self, name: &str, value: impl AsRef<str>) -> Runbook {
        self.env
            .push((name.to_string(), value.as_ref().to_string()));
        self
    }

    pub fn run(self) -> Outcome {
        let mut command = Command::new(BIN);
        command
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .current_dir(root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the runbook binary starts");
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
        }
    }
}

/// A scratch directory that holds runbook files for one test.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// Writes a file and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("the file is written");
        path
    }
}

/// insta settings that hide what changes from run to run: dates, run ids, durations, ports.
pub fn stable() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d{8}T\d{6}Z-[0-9a-f]{8}", "[run-id]");
    settings.add_filter(r"\d{4}-\d{2}-\d{2}", "[date]");
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    settings.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[digest]");
    settings.add_filter(r"\b\d+(\.\d+)?(ms|s)\b", "[time]");
    settings
}
