//! The benchmark: `runbook exec` of generated rotations against a local server, and `runbook
//! check` of a 1,000-step runbook. Run with `cargo bench`; the numbers go in the README.
//!
//! A rotation is three HTTP steps: POST create (JSON body, bearer) capturing an id and a secret,
//! GET with the captured values as headers, DELETE by the captured id. Time is wall-clock of
//! the whole process (start-up included), the median of several runs; memory is the peak
//! resident set of the process (getrusage of the child). The same rotations written by hand
//! with reqwest run as a process of their own after each run of the runbook, placed the same
//! way, for the floor this machine allows at that moment.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_runbook");
const TOKEN: &str = "bench-management-token-0123456789abcdef";

#[derive(Default)]
struct Store {
    next: AtomicU64,
    live: Mutex<HashMap<String, String>>,
}

/// The fake's address and the id of the thread that serves it (to place it on a core).
struct Server {
    base: String,
    thread: libc::pid_t,
}

fn server() -> Server {
    let store = Arc::new(Store::default());
    let router =
        Router::new()
            .route(
                "/tokens",
                post(
                    |State(store): State<Arc<Store>>, Json(body): Json<Value>| async move {
                        let id = store.next.fetch_add(1, Ordering::Relaxed).to_string();
                        let secret = format!("secret-{id}-{}", body["name"].as_str().unwrap_or(""));
                        store
                            .live
                            .lock()
                            .unwrap()
                            .insert(id.clone(), secret.clone());
                        (
                            StatusCode::CREATED,
                            Json(json!({"success": true, "result": {"id": id, "secret": secret}})),
                        )
                    },
                ),
            )
            .route(
                "/tokens/{id}",
                get(
                    |State(store): State<Arc<Store>>,
                     Path(id): Path<String>,
                     headers: HeaderMap| async move {
                        let live = store.live.lock().unwrap();
                        let given = headers
                            .get("x-token-secret")
                            .and_then(|value| value.to_str().ok());
                        if live.get(&id).map(String::as_str) == given {
                            (
                                StatusCode::OK,
                                Json(json!({"success": true, "result": {"status": "active"}})),
                            )
                        } else {
                            (StatusCode::UNAUTHORIZED, Json(json!({"success": false})))
                        }
                    },
                )
                .delete(
                    |State(store): State<Arc<Store>>, Path(id): Path<String>| async move {
                        store.live.lock().unwrap().remove(&id);
                        Json(json!({"success": true, "result": {"id": id}}))
                    },
                ),
            )
            .with_state(store);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let thread = unsafe { libc::gettid() };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            sender
                .send((listener.local_addr().unwrap(), thread))
                .unwrap();
            // Like any production server: answer at once, without Nagle's delay.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, router).await.unwrap();
        });
    });
    let (address, thread) = receiver.recv().unwrap();
    Server {
        base: format!("http://{address}"),
        thread,
    }
}

/// How many cores the machine has (not how many this thread may use now).
fn cores() -> usize {
    usize::try_from(unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).unwrap_or(1)
}

/// Which cores a thread (0: the calling one) may run on: one, or all of them.
fn place(thread: libc::pid_t, core: Option<usize>) {
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for candidate in 0..cores() {
            if core.is_none_or(|core| core == candidate) {
                libc::CPU_SET(candidate, &mut set);
            }
        }
        libc::sched_setaffinity(thread, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Where the client (the runbook process, or the hand-written loop) and the server run.
#[derive(Clone, Copy, PartialEq)]
enum Placement {
    /// Wherever the scheduler puts them.
    Free,
    /// Both on core 0: a request and its answer wake a thread on the same core.
    OneCore,
    /// Server on core 0, client on core 1: every request and every answer wakes the other core.
    TwoCores,
}

impl Placement {
    fn server_core(self) -> Option<usize> {
        match self {
            Placement::Free => None,
            Placement::OneCore | Placement::TwoCores => Some(0),
        }
    }

    fn client_core(self) -> Option<usize> {
        match self {
            Placement::Free => None,
            Placement::OneCore => Some(0),
            Placement::TwoCores => Some(1),
        }
    }
}

fn rotations(count: usize) -> String {
    let mut text = String::from(
        "runbook: bench\ntitle: Benchmark rotations\nservices:\n  api: http://127.0.0.1:1\ninputs:\n  token: { env: [BENCH_TOKEN], secret: true }\nallow:\n  RB110: throwaway tokens of a benchmark\n  RB120: throwaway tokens of a benchmark\nsteps:\n",
    );
    for n in 0..count {
        text.push_str(&format!(
            r#"  - id: create-{n}
    title: Create token {n}
    http:
      post: "{{{{ services.api }}}}/tokens"
      bearer: "{{{{ token }}}}"
      json: {{ name: "rotation-{n}", duration: 8760h }}
    expect: {{ status: 201 }}
    capture:
      id_{n}: $.result.id
      secret_{n}: {{ json: $.result.secret, secret: true }}
  - id: verify-{n}
    title: Verify token {n}
    http:
      get: "{{{{ services.api }}}}/tokens/{{{{ id_{n} }}}}"
      headers:
        X-Token-Id: "{{{{ id_{n} }}}}"
        X-Token-Secret: "{{{{ secret_{n} }}}}"
    expect: {{ status: 200, json: {{ $.result.status: active }} }}
  - id: delete-{n}
    title: Delete token {n}
    http:
      delete: "{{{{ services.api }}}}/tokens/{{{{ id_{n} }}}}"
      bearer: "{{{{ token }}}}"
    expect: {{ status: 200 }}
"#
        ));
    }
    text
}

fn check_steps(count: usize) -> String {
    let mut text = String::from(
        "runbook: big\ntitle: A 1,000-step runbook\nservices:\n  api: https://api.example.com\ninputs:\n  account: { env: [ACCOUNT], pattern: \"[0-9a-f]{32}\" }\n  token: { env: [TOKEN], secret: true }\nsteps:\n",
    );
    for n in 0..count {
        text.push_str(&format!(
            "  - id: step-{n}\n    title: Step {n}\n    http:\n      post: \"{{{{ services.api }}}}/accounts/{{{{ account }}}}/items\"\n      bearer: \"{{{{ token }}}}\"\n      json: {{ name: \"item-{n}\", index: {n} }}\n    expect:\n      status: 201\n      json:\n        $.success: true\n        $.result.name: {{ matches: \"^item-\" }}\n    capture:\n      item_{n}: $.result.id\n    rollback: Delete item {{{{ item_{n} }}}}.\n"
        ));
    }
    text
}

/// Runs the binary once: (wall time, CPU time, peak RSS in KiB, exit code).
// The child is reaped by wait4 (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn measure(
    program: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    core: Option<usize>,
) -> (Duration, Duration, u64, i32) {
    let started = Instant::now();
    let mut command = Command::new(program);
    if core.is_some() {
        use std::os::unix::process::CommandExt;
        // sched_setaffinity is a plain system call: safe between fork and exec.
        unsafe {
            command.pre_exec(move || {
                place(0, core);
                Ok(())
            });
        }
    }
    command
        .args(args)
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command.spawn().expect("the binary starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // wait4 reports the child's own peak RSS (ru_maxrss, KiB on Linux).
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let cpu = |time: libc::timeval| {
        Duration::from_secs(time.tv_sec as u64) + Duration::from_micros(time.tv_usec as u64)
    };
    let cpu_time = cpu(usage.ru_utime) + cpu(usage.ru_stime);
    (elapsed, cpu_time, usage.ru_maxrss as u64, code)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// What [`bench_exec`] measured: medians over the runs.
struct Measured {
    /// Wall time of the whole `runbook exec` process.
    time: Duration,
    /// Its CPU time (user and system).
    cpu: Duration,
    /// Its peak resident set, KiB.
    peak: u64,
    /// The hand-written client's wall time, when it ran alongside.
    floor: Option<Duration>,
    /// The median of runbook / hand-written over the pairs of runs.
    ratio: Option<f64>,
}

/// `exec` over `count` rotations, `runs` times, with the journal on (in `dir`) or off. With
/// `alongside`, each run of the runbook is followed by a run of the hand-written client (a
/// process of its own, placed the same way), so that each pair sees the same machine: this VM's
/// speed drifts by tens of percent within minutes, and a ratio of medians taken minutes apart
/// would carry that drift.
fn bench_exec(
    server: &Server,
    dir: &std::path::Path,
    count: usize,
    runs: usize,
    journal: bool,
    placement: Placement,
    alongside: bool,
) -> Measured {
    let base = &server.base;
    place(server.thread, placement.server_core());
    let path = dir.join(format!("rotations-{count}.yaml"));
    std::fs::write(&path, rotations(count)).unwrap();
    let service = format!("api={base}");
    let path = path.display().to_string();
    let state = dir.join("state").display().to_string();
    let this = std::env::current_exe().unwrap();
    let count_arg = count.to_string();
    let (mut times, mut cpu_times, mut floors, mut ratios) = (vec![], vec![], vec![], vec![]);
    let mut peak = 0;
    for _ in 0..runs {
        let mut args = vec!["exec", path.as_str(), "--service", service.as_str()];
        if !journal {
            args.push("--no-journal");
        }
        let (elapsed, cpu, rss, code) = measure(
            BIN.as_ref(),
            &args,
            &[
                ("BENCH_TOKEN", TOKEN),
                ("RUNBOOK_STATE_DIR", state.as_str()),
            ],
            placement.client_core(),
        );
        assert_eq!(code, 0, "the benchmark runbook must succeed");
        times.push(elapsed);
        cpu_times.push(cpu);
        peak = peak.max(rss);
        if alongside {
            let (floor, _, _, code) = measure(
                &this,
                &["--hand-written", base, &count_arg],
                &[],
                placement.client_core(),
            );
            assert_eq!(code, 0, "the hand-written client must succeed");
            floors.push(floor);
            ratios.push(elapsed.as_secs_f64() / floor.as_secs_f64());
        }
    }
    ratios.sort_by(f64::total_cmp);
    Measured {
        time: median(times),
        cpu: median(cpu_times),
        peak,
        floor: alongside.then(|| median(floors)),
        ratio: ratios.get(ratios.len() / 2).copied(),
    }
}

/// The same rotations written by hand with reqwest: the floor this machine and this server
/// allow, to compare the engine with. Runs as a process of its own (`--hand-written BASE
/// COUNT`), so that its time, like the runbook's, is the whole process's.
fn hand_written(base: &str, count: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .tls_certs_only(std::iter::empty())
            .build()
            .unwrap();
        for n in 0..count {
            let body = json!({"name": format!("rotation-{n}"), "duration": "8760h"});
            let created = client
                .post(format!("{base}/tokens"))
                .bearer_auth(TOKEN)
                .body(body.to_string())
                .header("content-type", "application/json")
                .send()
                .await
                .unwrap();
            assert_eq!(created.status(), 201);
            let created: Value = serde_json::from_slice(&created.bytes().await.unwrap()).unwrap();
            let id = created["result"]["id"].as_str().unwrap().to_string();
            let secret = created["result"]["secret"].as_str().unwrap().to_string();
            let verified = client
                .get(format!("{base}/tokens/{id}"))
                .header("x-token-id", &id)
                .header("x-token-secret", &secret)
                .send()
                .await
                .unwrap();
            assert_eq!(verified.status(), 200);
            verified.bytes().await.unwrap();
            let deleted = client
                .delete(format!("{base}/tokens/{id}"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(deleted.status(), 200);
            deleted.bytes().await.unwrap();
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, base, count] = args.as_slice()
        && flag == "--hand-written"
    {
        hand_written(base, count.parse().expect("a count of rotations"));
        return;
    }
    if std::env::args().any(|arg| arg == "--serve") {
        // For profiling by hand: serve the fake and print its URL until killed.
        println!("{}", server().base);
        loop {
            std::thread::park();
        }
    }
    let quick = std::env::args().any(|arg| arg == "--quick");
    let runs = if quick { 3 } else { 21 };
    let dir = tempfile::tempdir().unwrap();
    let server = server();
    let placements: &[Placement] = if cores() >= 2 {
        &[Placement::Free, Placement::OneCore, Placement::TwoCores]
    } else {
        &[Placement::Free]
    };
    let per_rotation = |total: Duration| total.as_secs_f64() * 1000.0 / 200.0;

    println!("runbook benchmark ({runs} runs each, median wall time of the whole process)");
    println!("the journal is on (fdatasync before every mutating request) unless said otherwise\n");
    // Without the journal first: the journal's writes are still being flushed to disk for a
    // while after its runs end, which would slow whatever runs next.
    println!(
        "per rotation (N = 200, total / 200), without the journal, by where the client and the server run:"
    );
    let mut bare_free = (Duration::ZERO, Duration::ZERO);
    for &placement in placements {
        let bare = bench_exec(&server, dir.path(), 200, runs, false, placement, true);
        if placement == Placement::Free {
            bare_free = (bare.time, bare.cpu);
        }
        println!(
            "  {:<34} runbook {:>6.3} ms ({:.3} ms CPU); hand-written reqwest client {:>6.3} ms; runbook / client {:.2}",
            match placement {
                Placement::Free => "anywhere (the scheduler decides):",
                Placement::OneCore => "both on one core:",
                Placement::TwoCores => "on two cores:",
            },
            per_rotation(bare.time),
            per_rotation(bare.cpu),
            per_rotation(bare.floor.unwrap_or_default()),
            bare.ratio.unwrap_or_default(),
        );
    }
    place(server.thread, None);
    let single = bench_exec(&server, dir.path(), 1, runs, true, Placement::Free, false);
    let (one, one_rss) = (single.time, single.peak);
    let journaled = bench_exec(&server, dir.path(), 200, runs, true, Placement::Free, false);
    let (many, many_cpu, many_rss) = (journaled.time, journaled.cpu, journaled.peak);
    let marginal = (many.as_secs_f64() - one.as_secs_f64()) * 1000.0 / 199.0;
    println!(
        "exec, N = 1 rotation (3 HTTP steps):     {:>8.2} ms   peak RSS {:>5.1} MiB",
        ms(one),
        mib(one_rss)
    );
    println!(
        "exec, N = 200 rotations (600 HTTP steps): {:>8.2} ms   peak RSS {:>5.1} MiB",
        ms(many),
        mib(many_rss)
    );
    println!(
        "  per rotation (total / 200):             {:>8.3} ms",
        per_rotation(many)
    );
    println!("  per rotation (marginal, (T200-T1)/199): {marginal:>8.3} ms");
    println!(
        "  CPU time of runbook per rotation:       {:>8.3} ms",
        per_rotation(many_cpu)
    );
    println!(
        "  journal cost per rotation:              {:>8.3} ms ({:.3} ms CPU)",
        per_rotation(many) - per_rotation(bare_free.0),
        per_rotation(many_cpu) - per_rotation(bare_free.1)
    );

    let big = dir.path().join("check-1000.yaml");
    std::fs::write(&big, check_steps(1000)).unwrap();
    let big = big.display().to_string();
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..runs {
        let (elapsed, _, rss, code) = measure(BIN.as_ref(), &["check", &big], &[], None);
        assert_eq!(code, 0, "the 1,000-step runbook must be valid");
        times.push(elapsed);
        peak = peak.max(rss);
    }
    println!(
        "check, 1,000 steps:                       {:>8.2} ms   peak RSS {:>5.1} MiB",
        ms(median(times)),
        mib(peak)
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
