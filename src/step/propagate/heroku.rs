//! Heroku config vars: one PATCH for every name (one release, one restart), then a GET to read
//! them back. The Platform API wants `Accept: application/vnd.heroku+json; version=3` and
//! answers a PATCH with the app's whole config, so the response is never shown.

use std::time::Duration;

use super::{Failure, call, segment, unexpected};
use crate::runbook::model::Method;
use crate::secret::{ExposeSecret, SecretString};
use crate::step::http::Client;

const ACCEPT: &str = "application/vnd.heroku+json; version=3";

pub async fn write(
    client: &Client,
    base: &str,
    app: &str,
    token: &SecretString,
    values: &[(String, SecretString)],
    timeout: Duration,
) -> Result<String, Failure> {
    let url = format!("{base}/apps/{}/config-vars", segment(app));
    let headers = || {
        vec![
            ("Accept".to_string(), ACCEPT.to_string()),
            (
                "Authorization".to_string(),
                format!("Bearer {}", token.expose_secret()),
            ),
        ]
    };
    let body: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(name, value)| (name.clone(), value.expose_secret().into()))
        .collect();
    let patched = call(
        client,
        Method::Patch,
        url.clone(),
        headers(),
        Some(body.into()),
        timeout,
    )
    .await
    .map_err(Failure::new)?;
    if patched.status != 200 {
        return Err(Failure::new(format!(
            "PATCH config-vars of app {app}: {}",
            unexpected(&patched)
        )));
    }
    let names: Vec<String> = values.iter().map(|(name, _)| name.clone()).collect();
    let read = call(client, Method::Get, url, headers(), None, timeout)
        .await
        .map_err(|message| Failure::new(format!("reading back: {message}")).after(&names))?;
    if read.status != 200 {
        return Err(Failure::new(format!(
            "reading back the config of app {app}: {}",
            unexpected(&read)
        ))
        .after(&names));
    }
    let config = read.json().map_err(|error| {
        Failure::new(format!("reading back the config of app {app}: {error}")).after(&names)
    })?;
    for (name, value) in values {
        if config.get(name).and_then(|found| found.as_str()) != Some(value.expose_secret()) {
            return Err(Failure::new(format!(
                "app {app} does not hold the new value of {name} after the PATCH"
            ))
            .after(&names));
        }
    }
    Ok(format!(
        "PATCHed {} config var(s) in one release; read back and equal",
        values.len()
    ))
}
