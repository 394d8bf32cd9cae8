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

use std::time::Duration;

use serde::Serialize;

use super::http::{Client, Request, Response};
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

/// Writes one target; on success says how the values were confirmed. A token the provider
/// obtains along the way is masked from the moment it arrives (see [`Client::register`]).
pub async fn write(
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
    let request = Request {
        method,
        url: url.clone(),
        headers,
        body: body.map(|body| body.to_string().into_bytes()),
        content_type: has_body.then_some("application/json"),
        timeout,
    };
    client
        .send(request)
        .await
        .map_err(|error| error.describe(&url))
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
