//! Propagation: writing a value, under its new name and its legacy aliases, to the stores that
//! hold it (Infisical, Heroku config vars, GitHub Actions secrets, any HTTP API), reading it back
//! where the API allows, and reporting per target.
//!
//! Every provider speaks its vendor's HTTP API natively: no CLI, and so no secret in any
//! process's argv. Targets are written in order; the first failure stops the step, and the
//! report lists what was already written so the operator knows what to put back.

mod github;
mod heroku;
mod infisical;

use std::cell::RefCell;
use std::time::Duration;

use serde::Serialize;

use super::http::{Client, Request, Response, TRANSPORT_TRIES, backoff, transient};
use super::judge::unexpected;
use crate::runbook::model::Method;
use crate::secret::SecretString;

#[derive(Clone)]
pub enum Provider {
    Infisical {
        project: String,
        environment: String,
        path: String,
        auth: InfisicalLogin,
    },
    Heroku {
        app: String,
        token: SecretString,
    },
    Github {
        repository: String,
        environment: Option<String>,
        token: SecretString,
    },
}

#[derive(Clone)]
pub enum InfisicalLogin {
    Token(SecretString),
    Universal {
        client_id: SecretString,
        client_secret: SecretString,
    },
}

/// What happened at one target, for the step's result.
#[derive(Clone, Debug, Serialize)]
pub struct TargetRecord {
    pub target: String,
    pub status: TargetStatus,
    /// Names written (all of them when `written`; those done before the failure otherwise).
    pub names: Vec<String>,
    /// How the write was confirmed, or why it failed.
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    Written,
    Failed,
    NotReached,
}

/// A failed write: why, and which names had been written before it.
pub struct Failure {
    pub message: String,
    pub written: Vec<String>,
}

impl Failure {
    fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            written: Vec::new(),
        }
    }

    fn after(mut self, written: &[String]) -> Failure {
        self.written = written.to_vec();
        self
    }
}

/// The longest Retry-After a store's request waits for before it is sent again.
const STORE_RETRY_AFTER_CAP: Duration = Duration::from_secs(10);

tokio::task_local! {
    /// Why each request of the write in progress was sent again, for its target's line.
    static RETRIES: RefCell<Vec<String>>;
}

/// Writes one target; on success says how the values were confirmed, and which requests were
/// sent again and why. A token the provider obtains along the way is masked from the moment it
/// arrives (see [`Client::register`]).
pub async fn write(
    client: &Client,
    provider: &Provider,
    base_url: &str,
    values: &[(String, SecretString)],
    timeout: Duration,
) -> Result<String, Failure> {
    let (written, retries) = RETRIES
        .scope(RefCell::new(Vec::new()), async {
            let written = write_provider(client, provider, base_url, values, timeout).await;
            (written, RETRIES.with(RefCell::take))
        })
        .await;
    if retries.is_empty() {
        return written;
    }
    let retried = format!("retried: {}", retries.join("; "));
    match written {
        Ok(detail) => Ok(format!("{detail}; {retried}")),
        Err(mut failure) => {
            failure.message = format!("{} ({retried})", failure.message);
            Err(failure)
        }
    }
}

async fn write_provider(
    client: &Client,
    provider: &Provider,
    base_url: &str,
    values: &[(String, SecretString)],
    timeout: Duration,
) -> Result<String, Failure> {
    match provider {
        Provider::Infisical {
            project,
            environment,
            path,
            auth,
        } => {
            let folder = infisical::Folder {
                base: base_url,
                project,
                environment,
                path,
                timeout,
            };
            infisical::write(client, &folder, auth, values).await
        }
        Provider::Heroku { app, token } => {
            heroku::write(client, base_url, app, token, values, timeout).await
        }
        Provider::Github {
            repository,
            environment,
            token,
        } => {
            let store = github::Store {
                base: base_url,
                repository,
                environment: environment.as_deref(),
                token,
                timeout,
            };
            github::write(client, &store, values).await
        }
    }
}

/// One request to a provider's API, with the transport failure or error answer described.
async fn call(
    client: &Client,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<serde_json::Value>,
    timeout: Duration,
) -> Result<Response, String> {
    let has_body = body.is_some();
    let body = body.map(|body| body.to_string().into_bytes());
    // Sent again like a step's request: on connection errors, 429 and 5xx, for the methods
    // that may be repeated (a read-back, a PUT); a POST or PATCH is sent once.
    let repeatable = matches!(method, Method::Get | Method::Put | Method::Delete);
    let mut tries = 0;
    loop {
        tries += 1;
        let request = Request {
            method,
            url: url.clone(),
            headers: headers.clone(),
            body: body.clone(),
            content_type: has_body.then_some("application/json"),
            timeout,
        };
        let sent = client.send(request).await;
        let Some((reason, asked)) = transient(&sent, &url) else {
            return sent.map_err(|error| error.describe(&url));
        };
        // A transport error names the URL already; a status does not.
        let reason = match &sent {
            Ok(_) => format!(
                "{} {}: {reason}",
                method.as_str(),
                url.split('?').next().unwrap_or_default()
            ),
            Err(_) => reason,
        };
        let wait = asked.unwrap_or_else(|| backoff(tries));
        // A store's request waits less than a step's: nothing here watches the step's
        // timeout or Ctrl-C, so the three waits together stay under half a minute.
        if !repeatable || tries >= TRANSPORT_TRIES || wait > STORE_RETRY_AFTER_CAP {
            return sent.map_err(|error| error.describe(&url));
        }
        let _ =
            RETRIES.try_with(|retries| retries.borrow_mut().push(format!("{reason}; sent again")));
        tokio::time::sleep(wait).await;
    }
}

/// What a path segment must not carry as it is (RFC 3986: only unreserved characters and
/// sub-delimiters pass unencoded; `/`, `?`, `#` and `%` would change the URL's meaning).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A path segment, percent-encoded.
fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}
