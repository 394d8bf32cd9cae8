//! What the emulated Infisical instance holds: one machine identity, one project with its
//! environments and folders, and every secret with its full version history.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::emulator::http::milliseconds;
use crate::emulator::random;

/// Infisical masks values with this text when `viewSecretValue=false`.
const HIDDEN_VALUE_MASK: &str = "<hidden-by-infisical>";

/// Who a bearer token belongs to. Some routes are for user sessions only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    MachineIdentity,
    User,
}

/// An environment (by slug) and the folders that exist in it.
#[derive(Clone, Debug)]
pub struct Environment {
    pub slug: String,
    pub name: String,
    pub folders: BTreeSet<String>,
}

/// One value a secret has held. Versions start at 1 and never change once written.
#[derive(Clone)]
pub struct SecretVersion {
    pub version: u32,
    pub(crate) value: String,
    pub comment: String,
    pub created_at: Timestamp,
}

impl SecretVersion {
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// A secret at an environment and folder, with every version it has had.
#[derive(Clone)]
pub struct StoredSecret {
    pub id: String,
    pub environment: String,
    pub path: String,
    pub key: String,
    pub(crate) versions: Vec<SecretVersion>,
    pub created_at: Timestamp,
    /// What a write may set besides the value and comment, kept as given and shown back.
    pub attributes: SecretAttributes,
}

/// A secret's reminder, multiline flag and metadata, as the last write that named them set them.
#[derive(Clone, Debug, Default)]
pub struct SecretAttributes {
    pub reminder_note: Option<String>,
    pub reminder_repeat_days: Option<serde_json::Number>,
    pub skip_multiline_encoding: bool,
    /// `{key, value, isEncrypted}` entries, in the order given.
    pub metadata: Vec<Value>,
}

impl StoredSecret {
    /// The newest version. A stored secret always has at least one.
    pub fn current(&self) -> &SecretVersion {
        // Every constructor pushes version 1, and versions are never removed.
        &self.versions[self.versions.len() - 1]
    }

    pub fn current_value(&self) -> &str {
        self.current().value()
    }

    pub fn version(&self) -> u32 {
        self.current().version
    }

    /// Every version, oldest first.
    pub fn history(&self) -> &[SecretVersion] {
        &self.versions
    }

    pub(crate) fn new(environment: &str, path: &str, key: &str, value: &str) -> StoredSecret {
        let now = Timestamp::now();
        StoredSecret {
            id: random::uuid(),
            environment: environment.to_owned(),
            path: path.to_owned(),
            key: key.to_owned(),
            versions: vec![SecretVersion {
                version: 1,
                value: value.to_owned(),
                comment: String::new(),
                created_at: now,
            }],
            created_at: now,
            attributes: SecretAttributes::default(),
        }
    }

    pub(crate) fn push_version(&mut self, value: String, comment: String) {
        let version = self.version() + 1;
        self.versions.push(SecretVersion {
            version,
            value,
            comment,
            created_at: Timestamp::now(),
        });
    }

    /// The API's secret object for one version, with or without its value.
    pub(crate) fn to_json(&self, version: &SecretVersion, project_id: &str, hidden: bool) -> Value {
        let value = if hidden {
            HIDDEN_VALUE_MASK
        } else {
            version.value()
        };
        json!({
            "id": self.id,
            "_id": self.id,
            "workspace": project_id,
            "environment": self.environment,
            "version": version.version,
            "type": "shared",
            "secretKey": self.key,
            "secretValue": value,
            "secretValueHidden": hidden,
            "secretComment": version.comment,
            "secretReminderNote": self.attributes.reminder_note,
            "secretReminderRepeatDays": self.attributes.reminder_repeat_days,
            "skipMultilineEncoding": self.attributes.skip_multiline_encoding,
            "secretPath": self.path,
            "createdAt": milliseconds(self.created_at),
            "updatedAt": milliseconds(version.created_at),
            "tags": [],
            "secretMetadata": self.attributes.metadata,
        })
    }
}

/// The whole Infisical side of the world.
pub struct InfisicalProject {
    pub(crate) identity_client_id: String,
    pub(crate) identity_client_secret: String,
    pub(crate) project_id: String,
    pub(crate) project_slug: String,
    pub(crate) environments: Vec<Environment>,
    pub(crate) secrets: Vec<StoredSecret>,
    pub(crate) access_tokens: Vec<(String, Caller)>,
}

impl InfisicalProject {
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    pub fn project_slug(&self) -> &str {
        &self.project_slug
    }

    pub fn environments(&self) -> &[Environment] {
        &self.environments
    }

    /// A secret by environment slug, folder path (a trailing slash is ignored, as the API
    /// ignores it) and name.
    pub fn secret(&self, environment: &str, path: &str, key: &str) -> Option<&StoredSecret> {
        let path = normalize_path(path);
        self.secrets.iter().find(|secret| {
            secret.environment == environment && secret.path == path && secret.key == key
        })
    }

    pub fn secrets(&self) -> &[StoredSecret] {
        &self.secrets
    }

    /// A user session token, for the routes only people may call (secret versions).
    pub fn user_session_token(&self) -> Option<&str> {
        self.access_tokens
            .iter()
            .find(|(_, caller)| *caller == Caller::User)
            .map(|(token, _)| token.as_str())
    }

    pub(crate) fn caller(&self, token: &str) -> Option<Caller> {
        self.access_tokens
            .iter()
            .find(|(issued, _)| issued == token)
            .map(|(_, caller)| *caller)
    }

    /// Issues a token that looks like the JWTs Infisical hands out.
    pub(crate) fn issue_token(&mut self, caller: Caller) -> String {
        let token = format!(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{}.{}",
            random::token(96),
            random::token(43)
        );
        self.access_tokens.push((token.clone(), caller));
        token
    }

    pub(crate) fn folder_exists(&self, environment: &str, path: &str) -> bool {
        self.environments
            .iter()
            .any(|candidate| candidate.slug == environment && candidate.folders.contains(path))
    }
}

/// `secretPath` as the API reads it: trimmed, `/` by default, without a trailing slash.
pub(crate) fn normalize_path(path: &str) -> String {
    let trimmed = path.trim();
    if trimmed.is_empty() || trimmed == "/" {
        return "/".to_owned();
    }
    trimmed.strip_suffix('/').unwrap_or(trimmed).to_owned()
}

/// Values as Infisical stores them: trimmed, except that one trailing newline survives (its zod
/// schema trims and then puts a final `\n` back).
pub(crate) fn normalize_value(value: &str) -> String {
    let trimmed = value.trim();
    if value.ends_with('\n') {
        format!("{trimmed}\n")
    } else {
        trimmed.to_owned()
    }
}
