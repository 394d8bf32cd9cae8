//! Infisical secrets through the v4 API: log in (universal auth) or use a token, then for each
//! name look it up (404 means create), create or update it, and read it back to compare.
//! Infisical keeps every value's version history, so an update is recoverable.
//!
//! Infisical trims values server-side and answers `{approval}` instead of `{secret}` when a
//! change policy holds the write back; both are reported as failures rather than taken for a
//! successful write (see ../shared/apis/infisical-secrets.md, gotchas 2 and 5).

use std::time::Duration;

use serde_json::json;

use super::{Failure, InfisicalLogin, call, segment, unexpected};
use crate::runbook::model::Method;
use crate::secret::{ExposeSecret, SecretString};
use crate::step::http::Client;

pub struct Folder<'a> {
    pub base: &'a str,
    pub project: &'a str,
    pub environment: &'a str,
    pub path: &'a str,
    pub timeout: Duration,
}

impl Folder<'_> {
    fn describe(&self) -> String {
        format!("{} {}", self.environment, self.path)
    }

    fn secret_url(&self, name: &str, view_value: bool) -> String {
        let mut url = format!("{}/api/v4/secrets/{}", self.base, segment(name));
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("projectId", self.project)
            .append_pair("environment", self.environment)
            .append_pair("secretPath", self.path)
            .append_pair("viewSecretValue", if view_value { "true" } else { "false" })
            .finish();
        url.push('?');
        url.push_str(&query);
        url
    }
}

pub async fn write(
    client: &Client,
    folder: &Folder<'_>,
    auth: &InfisicalLogin,
    values: &[(String, SecretString)],
) -> Result<String, Failure> {
    let token = match auth {
        InfisicalLogin::Token(token) => token.clone(),
        InfisicalLogin::Universal {
            client_id,
            client_secret,
        } => login(client, folder, client_id, client_secret).await?,
    };
    let headers = || {
        vec![(
            "Authorization".to_string(),
            format!("Bearer {}", token.expose_secret()),
        )]
    };
    let headers = headers();
    let mut written: Vec<String> = Vec::new();
    let mut created = 0;
    for (name, value) in values {
        if write_one(client, folder, &headers, name, value)
            .await
            .map_err(|failure| failure.after(&written))?
        {
            created += 1;
        }
        written.push(name.clone());
    }
    Ok(format!(
        "{} updated, {created} created; each read back and equal",
        values.len() - created
    ))
}

/// Creates or updates one secret, then reads it back; says whether it was created.
async fn write_one(
    client: &Client,
    folder: &Folder<'_>,
    headers: &[(String, String)],
    name: &str,
    value: &SecretString,
) -> Result<bool, Failure> {
    let lookup = call(
        client,
        Method::Get,
        folder.secret_url(name, false),
        headers.to_vec(),
        None,
        folder.timeout,
    )
    .await
    .map_err(|message| Failure::new(format!("looking up {name}: {message}")))?;
    let exists = match lookup.status {
        200 => true,
        404 => false,
        _ => {
            return Err(Failure::new(format!(
                "looking up {name} in {}: {}",
                folder.describe(),
                unexpected(&lookup)
            )));
        }
    };
    let body = json!({
        "projectId": folder.project,
        "environment": folder.environment,
        "secretPath": folder.path,
        "secretValue": value.expose_secret(),
    });
    let (method, verb) = if exists {
        (Method::Patch, "updating")
    } else {
        (Method::Post, "creating")
    };
    let url = format!("{}/api/v4/secrets/{}", folder.base, segment(name));
    let answer = call(
        client,
        method,
        url,
        headers.to_vec(),
        Some(body),
        folder.timeout,
    )
    .await
    .map_err(|message| Failure::new(format!("{verb} {name}: {message}")))?;
    if answer.status != 200 {
        return Err(Failure::new(format!(
            "{verb} {name} in {}: {}",
            folder.describe(),
            unexpected(&answer)
        )));
    }
    if answer
        .json()
        .ok()
        .is_some_and(|body| body.get("approval").is_some())
    {
        return Err(Failure::new(format!(
            "{verb} {name} in {} is waiting for approval under a change policy: not applied yet",
            folder.describe()
        )));
    }
    let read = call(
        client,
        Method::Get,
        folder.secret_url(name, true),
        headers.to_vec(),
        None,
        folder.timeout,
    )
    .await
    .map_err(|message| Failure::new(format!("reading back {name}: {message}")))?;
    let stored = read.json().ok().and_then(|body| {
        body.pointer("/secret/secretValue")
            .and_then(|value| value.as_str())
    });
    match stored {
        Some(stored) if stored == value.expose_secret() => Ok(!exists),
        Some(stored) if stored == value.expose_secret().trim() => Err(Failure::new(format!(
            "Infisical trimmed the whitespace around the value of {name}: the stored value differs"
        ))),
        Some(_) => Err(Failure::new(format!(
            "{name} in {} does not hold the new value after the write",
            folder.describe()
        ))),
        None => Err(Failure::new(format!(
            "reading back {name} in {}: {}",
            folder.describe(),
            unexpected(&read)
        ))),
    }
}

async fn login(
    client: &Client,
    folder: &Folder<'_>,
    client_id: &SecretString,
    client_secret: &SecretString,
) -> Result<SecretString, Failure> {
    let url = format!("{}/api/v1/auth/universal-auth/login", folder.base);
    let body = json!({
        "clientId": client_id.expose_secret(),
        "clientSecret": client_secret.expose_secret(),
    });
    let answer = call(
        client,
        Method::Post,
        url,
        Vec::new(),
        Some(body),
        folder.timeout,
    )
    .await
    .map_err(|message| Failure::new(format!("logging in to Infisical: {message}")))?;
    if answer.status != 200 {
        return Err(Failure::new(format!(
            "logging in to Infisical (universal auth): {}",
            unexpected(&answer)
        )));
    }
    answer
        .json()
        .ok()
        .and_then(|body| body.get("accessToken").and_then(|token| token.as_str()))
        .map(|token| {
            let token = SecretString::from(token.to_string());
            // Masked before anything else is sent or quoted.
            client.register(&token);
            token
        })
        .ok_or_else(|| Failure::new("logging in to Infisical: the answer has no accessToken"))
}
