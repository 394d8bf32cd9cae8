//! GitHub Actions secrets: fetch the repository's (or environment's) public key right before
//! writing, seal each value with it (a libsodium sealed box, as GitHub's guide says), PUT it with
//! the key's id, then confirm through the secret's `updated_at`: the value itself can never be
//! read back.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::{Failure, call, segment, unexpected};
use crate::runbook::model::Method;
use crate::secret::{ExposeSecret, SecretString};
use crate::step::http::Client;

pub struct Store<'a> {
    pub base: &'a str,
    pub repository: &'a str,
    pub environment: Option<&'a str>,
    pub token: &'a SecretString,
    pub timeout: Duration,
}

impl Store<'_> {
    fn secrets_url(&self) -> String {
        let repository: Vec<String> = self.repository.split('/').map(segment).collect();
        let repository = repository.join("/");
        match self.environment {
            // The environment name must be URL-encoded (`/` as %2F).
            Some(environment) => format!(
                "{}/repos/{repository}/environments/{}/secrets",
                self.base,
                segment(environment)
            ),
            None => format!("{}/repos/{repository}/actions/secrets", self.base),
        }
    }

    fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("Accept".into(), "application/vnd.github+json".into()),
            ("X-GitHub-Api-Version".into(), "2022-11-28".into()),
            (
                "Authorization".into(),
                format!("Bearer {}", self.token.expose_secret()),
            ),
        ]
    }

    fn describe(&self) -> String {
        match self.environment {
            Some(environment) => format!("{} environment {environment}", self.repository),
            None => self.repository.to_string(),
        }
    }
}

pub async fn write(
    client: &Client,
    store: &Store<'_>,
    values: &[(String, SecretString)],
) -> Result<String, Failure> {
    let mut written: Vec<String> = Vec::new();
    let mut created = 0;
    for (name, value) in values {
        if write_one(client, store, name, value)
            .await
            .map_err(|failure| failure.after(&written))?
        {
            created += 1;
        }
        written.push(name.clone());
    }
    Ok(format!(
        "{} updated, {created} created; each sealed for the current key and confirmed by updated_at",
        values.len() - created
    ))
}

/// Seals and stores one secret, then confirms GitHub recorded it; says whether it was created.
async fn write_one(
    client: &Client,
    store: &Store<'_>,
    name: &str,
    value: &SecretString,
) -> Result<bool, Failure> {
    let (before, server_now) = updated_at(client, store, name).await?;
    // GitHub keeps `updated_at` in whole seconds: a write in the second of the last one would
    // not show. When the server's clock (its `Date`) is still in that second, the write waits
    // for the next one, so that a recorded write always moves `updated_at` on.
    if let Some(before) = before {
        let clock = server_now.unwrap_or_else(jiff::Timestamp::now);
        if clock.as_second() <= before.as_second() {
            let ahead = u64::try_from(before.as_second() - clock.as_second()).unwrap_or(0);
            tokio::time::sleep(Duration::from_secs(1 + ahead.min(1))).await;
        }
    }
    // Fetched right before each PUT (after any wait): keys rotate, and a stale key_id is
    // refused.
    let (key_id, key) = public_key(client, store).await?;
    let sealed = key
        .seal(
            &mut crypto_box::aead::OsRng,
            value.expose_secret().as_bytes(),
        )
        .map_err(|_| Failure::new(format!("sealing {name} failed")))?;
    let body = json!({"encrypted_value": STANDARD.encode(sealed), "key_id": key_id});
    let url = format!("{}/{}", store.secrets_url(), segment(name));
    let answer = call(
        client,
        Method::Put,
        url,
        store.headers(),
        Some(body),
        store.timeout,
    )
    .await
    .map_err(|message| Failure::new(format!("writing {name}: {message}")))?;
    // 201: created; 204: updated. The body is not read (the spec's own example breaks its schema).
    let created = match answer.status {
        201 => true,
        204 => false,
        _ => {
            return Err(Failure::new(format!(
                "writing {name} to {}: {}",
                store.describe(),
                unexpected(&answer)
            )));
        }
    };
    match (before, updated_at(client, store, name).await?.0) {
        (_, None) => Err(Failure::new(format!(
            "{name} is not in {} after the write",
            store.describe()
        ))),
        (Some(before), Some(after)) if after <= before => Err(Failure::new(format!(
            "{name} in {} still shows updated_at {after}: GitHub did not record the write",
            store.describe()
        ))),
        _ => Ok(created),
    }
}

async fn public_key(
    client: &Client,
    store: &Store<'_>,
) -> Result<(String, crypto_box::PublicKey), Failure> {
    let url = format!("{}/public-key", store.secrets_url());
    let answer = call(
        client,
        Method::Get,
        url,
        store.headers(),
        None,
        store.timeout,
    )
    .await
    .map_err(|message| Failure::new(format!("fetching the public key: {message}")))?;
    if answer.status != 200 {
        return Err(Failure::new(format!(
            "fetching the public key of {}: {}",
            store.describe(),
            unexpected(&answer)
        )));
    }
    let body = answer
        .json()
        .map_err(|error| Failure::new(format!("fetching the public key: {error}")))?;
    let key_id = match body.get("key_id") {
        Some(serde_json::Value::String(id)) => id.clone(),
        Some(serde_json::Value::Number(id)) => id.to_string(),
        _ => return Err(Failure::new("the public key answer has no key_id")),
    };
    let bytes = body
        .get("key")
        .and_then(|key| key.as_str())
        .and_then(|key| STANDARD.decode(key).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
        .ok_or_else(|| Failure::new("the public key is not 32 bytes of base64"))?;
    Ok((key_id, crypto_box::PublicKey::from(bytes)))
}

/// The secret's `updated_at`, or `None` when it does not exist; and the server's clock when
/// it answered (its `Date` header), when it says.
async fn updated_at(
    client: &Client,
    store: &Store<'_>,
    name: &str,
) -> Result<(Option<jiff::Timestamp>, Option<jiff::Timestamp>), Failure> {
    let url = format!("{}/{}", store.secrets_url(), segment(name));
    let answer = call(
        client,
        Method::Get,
        url,
        store.headers(),
        None,
        store.timeout,
    )
    .await
    .map_err(|message| Failure::new(format!("reading {name}: {message}")))?;
    let server_now = answer
        .header("date")
        .and_then(|date| jiff::fmt::rfc2822::parse(date).ok())
        .map(|date| date.timestamp());
    match answer.status {
        404 => Ok((None, server_now)),
        200 => {
            let stamp = answer
                .json()
                .ok()
                .and_then(|body| body.get("updated_at").and_then(|stamp| stamp.as_str()))
                .and_then(|stamp| stamp.parse::<jiff::Timestamp>().ok())
                .ok_or_else(|| {
                    Failure::new(format!("{name}: the answer has no valid updated_at"))
                })?;
            Ok((Some(stamp), server_now))
        }
        _ => Err(Failure::new(format!(
            "reading {name} in {}: {}",
            store.describe(),
            unexpected(&answer)
        ))),
    }
}
