//! The emulator, tested through real HTTP the way a runbook run would use it, asserting status
//! codes and bodies on the wire and the server-side state behind them.

mod admin;
mod cloudflare;
mod github;
mod heroku;
mod infisical;
mod probes;

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use runbook::emulator::{Emulator, EmulatorConfig};
use secrecy::ExposeSecret;
use serde_json::Value;

/// A restart window short enough to keep tests fast but long enough to observe.
const TEST_RESTART_WINDOW: Duration = Duration::from_millis(300);

async fn start() -> Emulator {
    let config = EmulatorConfig {
        restart_window: TEST_RESTART_WINDOW,
        ..EmulatorConfig::default()
    };
    Emulator::start(config)
        .await
        .expect("the emulator starts on a free port")
}

/// One seeded credential's value, by its environment variable name.
fn credential(emulator: &Emulator, name: &str) -> String {
    emulator
        .credentials()
        .into_iter()
        .find(|(candidate, _)| candidate == name)
        .map(|(_, value)| value.expose_secret().to_owned())
        .unwrap_or_else(|| panic!("no credential named {name}"))
}

/// The id of a seeded Cloudflare user token, by its name.
fn user_token_id(emulator: &Emulator, name: &str) -> String {
    emulator
        .world()
        .cloudflare()
        .user_token(name)
        .unwrap_or_else(|| panic!("no seeded user token {name}"))
        .id
        .clone()
}

/// What came back: status, headers and the body as JSON (`Null` when empty or not JSON).
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the emulator answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("the body arrives");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

/// A JSON request body.
fn with_json(request: reqwest::RequestBuilder, body: &Value) -> reqwest::RequestBuilder {
    request
        .header("content-type", "application/json")
        .body(body.to_string())
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).expect("tokens are header-safe")
}
