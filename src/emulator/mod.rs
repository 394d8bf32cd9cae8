//! A stateful local emulator of every API the rotation runbooks call (Cloudflare, the
//! Access-protected origin, the console and API health probes, Infisical, Heroku and GitHub), so
//! a runbook can run end to end, and fail in realistic ways, without touching a real account.
//!
//! All services share one listener on 127.0.0.1: the real hosts differ only by name and their
//! paths do not collide. The seeded world is random on every start; [`Emulator::credentials`]
//! hands its credentials to a run, and [`Emulator::world`] lets tests check what the run did.

// Handler helpers return the vendor's error response as their `Err`: it is sent as it is, once,
// on a path that is not hot, so boxing it would only add noise at every call site.
#![allow(clippy::result_large_err)]

mod admin;
mod cloudflare;
mod github;
mod heroku;
mod http;
mod infisical;
mod random;
mod raxx;
mod seed;
mod world;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use tokio::sync::oneshot;

pub use cloudflare::state::{CloudflareAccount, PagesProject, Permission, ServiceToken, UserToken};
pub use github::state::{GithubRepository, GithubSecret, SealingKey, SecretStore};
pub use heroku::state::{Dyno, HerokuAccount, HerokuApp, Release};
pub use infisical::state::{Caller, Environment, InfisicalProject, SecretVersion, StoredSecret};
pub use world::{Faults, Hold, RateLimit, World};

/// How to start the emulator.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// How long Heroku dynos stay `starting` (and the app's health endpoints answer 503) after a
    /// config change.
    pub restart_window: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> EmulatorConfig {
        EmulatorConfig {
            port: 0,
            restart_window: Duration::from_millis(1500),
        }
    }
}

/// What every handler shares: the world, behind one lock that is never held across an await.
#[derive(Clone)]
pub(crate) struct AppState {
    world: Arc<Mutex<World>>,
}

impl AppState {
    /// Locks the world. A handler that panicked cannot leave it half-changed in a way that
    /// matters more than the emulator staying up, so a poisoned lock is taken over.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running emulator. It stops serving when dropped.
pub struct Emulator {
    address: SocketAddr,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Emulator {
    /// Seeds a fresh world and serves it on 127.0.0.1:`config.port`, on the current tokio
    /// runtime.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).await?;
        let address = listener.local_addr()?;
        let state = AppState {
            world: Arc::new(Mutex::new(seed::world(config.restart_window))),
        };
        let router = router(state.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let serving = axum::serve(listener, router).with_graceful_shutdown(async move {
                // A dropped sender means the same as a sent stop.
                let _ = stopped.await;
            });
            if let Err(error) = serving.await {
                tracing::warn!(%error, "the emulator stopped serving");
            }
        });
        tracing::info!(%address, "emulator listening");
        Ok(Emulator {
            address,
            state,
            shutdown: Some(shutdown),
        })
    }

    /// Starts on its own thread with its own tokio runtime (for synchronous tests); stops when
    /// the returned handle is dropped.
    pub fn start_in_background(config: EmulatorConfig) -> std::io::Result<BackgroundEmulator> {
        BackgroundEmulator::start(config)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The base URL of each runbook service: cloudflare (with `/client/v4`), origin, console,
    /// api, infisical, heroku and github.
    pub fn service_urls(&self) -> Vec<(&'static str, String)> {
        let url = self.url();
        vec![
            ("cloudflare", format!("{url}/client/v4")),
            ("origin", url.clone()),
            ("console", url.clone()),
            ("api", url.clone()),
            ("infisical", url.clone()),
            ("heroku", url.clone()),
            ("github", url),
        ]
    }

    /// The seeded credentials as environment variables, to hand to a runbook run. Values are
    /// read now, so a rolled token shows its new value.
    pub fn credentials(&self) -> Vec<(String, SecretString)> {
        let world = self.world();
        let cloudflare = world.cloudflare();
        let token = |name: &str| {
            cloudflare
                .user_token_value(name)
                .unwrap_or_default()
                .to_owned()
        };
        let service_token_id = |name: &str| {
            cloudflare
                .service_token_named(name)
                .map(|token| token.id.clone())
                .unwrap_or_default()
        };
        let infisical = world.infisical();
        let pairs = [
            ("CF_ACCESS_MGMT", token(seed::ACCESS_MANAGEMENT)),
            ("CF_PAGES_DEPLOY", token(seed::PAGES_DEPLOY)),
            ("CF_PAGES_READ", token(seed::PAGES_READ)),
            ("CF_ROTATION_TOKEN", token(seed::ROTATION)),
            ("CF_ACCOUNT_ID", cloudflare.account_id().to_owned()),
            (
                "CF_ACCESS_SVC_TOKEN_ID",
                service_token_id(seed::CONSOLE_SERVICE_TOKEN),
            ),
            (
                "CF_ACCESS_SVC_CONSOLE_TOKEN_ID",
                service_token_id(seed::CONSOLE_SERVICE_TOKEN),
            ),
            (
                "CF_ACCESS_SVC_VAULT_TOKEN_ID",
                service_token_id(seed::VAULT_SERVICE_TOKEN),
            ),
            (
                "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID",
                infisical.identity_client_id.clone(),
            ),
            (
                "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET",
                infisical.identity_client_secret.clone(),
            ),
            ("INFISICAL_PROJECT_ID", infisical.project_id().to_owned()),
            ("HEROKU_API_KEY", world.heroku().api_key.clone()),
            ("GITHUB_TOKEN", world.github().token.clone()),
            ("GITHUB_REPOSITORY", world.github().full_name()),
            ("RAXX_OPS_SESSION", world.ops_session().to_owned()),
        ];
        pairs
            .into_iter()
            .map(|(name, value)| (name.to_owned(), SecretString::from(value)))
            .collect()
    }

    /// The shared world: read it to check server-side effects, or flip `faults`. Do not hold
    /// the guard across an `.await`.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.state.world()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The server may already be gone; nothing is left to stop then.
            let _ = shutdown.send(());
        }
    }
}

/// An emulator on its own thread and runtime. Dereferences to [`Emulator`]; dropping it stops
/// the server and joins the thread.
pub struct BackgroundEmulator {
    emulator: Option<Emulator>,
    stop_runtime: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundEmulator {
    fn start(config: EmulatorConfig) -> std::io::Result<BackgroundEmulator> {
        let (started, on_start) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("runbook-emulator".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = started.send(Err(error));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let (stop_runtime, stopped) = oneshot::channel::<()>();
                    let outcome = Emulator::start(config)
                        .await
                        .map(|emulator| (emulator, stop_runtime));
                    let failed = outcome.is_err();
                    if started.send(outcome).is_ok() && !failed {
                        // Dropping the runtime after this cancels the server and its connections.
                        let _ = stopped.await;
                    }
                });
            })?;
        let (emulator, stop_runtime) = on_start.recv().map_err(|_| {
            std::io::Error::other("the emulator thread ended before it started serving")
        })??;
        Ok(BackgroundEmulator {
            emulator: Some(emulator),
            stop_runtime: Some(stop_runtime),
            thread: Some(thread),
        })
    }
}

impl std::ops::Deref for BackgroundEmulator {
    type Target = Emulator;

    fn deref(&self) -> &Emulator {
        // Present from construction until drop.
        self.emulator
            .as_ref()
            .expect("the emulator lives as long as its handle")
    }
}

impl Drop for BackgroundEmulator {
    fn drop(&mut self) {
        drop(self.emulator.take());
        if let Some(stop_runtime) = self.stop_runtime.take() {
            let _ = stop_runtime.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs the emulator in the foreground for `runbook emulator`: prints where it listens, the
/// service URLs and `export NAME=value` lines (`RUNBOOK_EMULATOR_URL`, then the seeded
/// credentials), then serves until Ctrl-C. Everything but the exports is a `#` comment, so the
/// output can be `eval`ed by a shell.
pub async fn run_standalone(config: EmulatorConfig) -> std::io::Result<()> {
    use secrecy::ExposeSecret;
    use std::io::Write;

    use crate::render::shell::single_quote;

    let emulator = Emulator::start(config).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "# runbook emulator listening on {}", emulator.url())?;
    writeln!(
        out,
        "# state: {0}/_emulator/state  faults: POST {0}/_emulator/faults",
        emulator.url()
    )?;
    for (service, url) in emulator.service_urls() {
        writeln!(out, "# service {service:<10} {url}")?;
    }
    writeln!(
        out,
        "export RUNBOOK_EMULATOR_URL={}",
        single_quote(&emulator.url())
    )?;
    for (name, value) in emulator.credentials() {
        writeln!(out, "export {name}={}", single_quote(value.expose_secret()))?;
    }
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c().await?;
    drop(emulator);
    Ok(())
}

fn router(state: AppState) -> Router {
    Router::new()
        .merge(cloudflare::routes())
        .merge(raxx::routes())
        .merge(infisical::routes())
        .merge(heroku::routes())
        .merge(github::routes())
        .merge(admin::routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), faults))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// The faults that act on any request: rate limiting, and holding a request so a test can kill
/// its client at a precise point.
async fn faults(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with("/_emulator/") {
        return next.run(request).await;
    }
    let method = request.method().as_str().to_owned();
    let (limited, hold) = {
        let mut world = state.world();
        let limited = match world.faults.rate_limit.as_mut() {
            Some(limit) if limit.remaining > 0 => {
                limit.remaining -= 1;
                Some(limit.retry_after.clone())
            }
            _ => None,
        };
        let hold = match world.faults.hold.clone() {
            Some(hold)
                if limited.is_none()
                    && hold.method.eq_ignore_ascii_case(&method)
                    && path.starts_with(&hold.path) =>
            {
                if world.hold_passed < hold.skip {
                    world.hold_passed += 1;
                    None
                } else {
                    world.held += 1;
                    Some(hold)
                }
            }
            _ => None,
        };
        (limited, hold)
    };
    if let Some(retry_after) = limited {
        let body = axum::Json(
            serde_json::json!({"message": "rate limited", "errors": [{"code": 10429, "message": "Too many requests"}]}),
        );
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after)],
            body,
        )
            .into_response();
    }
    let Some(hold) = hold else {
        return next.run(request).await;
    };
    let response = if hold.after_applying {
        Some(next.run(request).await)
    } else {
        None
    };
    // Held until the rule is cleared (or changed).
    loop {
        if state.world().faults.hold.as_ref() != Some(&hold) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    response.unwrap_or_else(|| {
        (StatusCode::SERVICE_UNAVAILABLE, "held, never applied\n").into_response()
    })
}

/// Logs method, path and status only: headers, queries and bodies can hold secrets.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::debug!(%method, %path, status = response.status().as_u16(), "emulator request");
    response
}

/// A known path with a method it does not take. Cloudflare says so (405, code 7001); the others
/// answer as for a path they do not know, as GitHub, Heroku and Infisical's router do.
async fn method_not_allowed(request: Request) -> Response {
    if request.uri().path().starts_with("/client/v4") {
        cloudflare::failure(
            StatusCode::METHOD_NOT_ALLOWED,
            7001,
            "Method not allowed for this endpoint",
        )
    } else {
        unknown_route(request).await
    }
}

/// A 404 in the shape of the service the path belongs to.
async fn unknown_route(request: Request) -> Response {
    let path = request.uri().path();
    if path.starts_with("/client/v4") {
        cloudflare::failure(StatusCode::NOT_FOUND, 7000, "No route for that URI")
    } else if path.starts_with("/api/") {
        infisical::error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Route {} {path} not found", request.method()),
        )
    } else if path.starts_with("/apps") {
        heroku::error(
            StatusCode::NOT_FOUND,
            "not_found",
            "The requested API endpoint was not found.",
        )
    } else if path.starts_with("/repos") {
        github::error(StatusCode::NOT_FOUND, "Not Found")
    } else {
        (StatusCode::NOT_FOUND, "Not Found\n").into_response()
    }
}
