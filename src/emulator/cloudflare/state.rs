//! What the emulated Cloudflare account holds: user API tokens with their permissions, Access
//! service tokens and Pages projects. Handlers change it; tests read it through the helpers here.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::emulator::http::microseconds;
use crate::emulator::random;

/// The permission groups the runbooks depend on, by the names Cloudflare shows for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// "Access: Service Tokens Write": list, create, refresh, rotate and delete service tokens.
    AccessServiceTokensWrite,
    /// "Pages Write": deploy to Pages (implies read).
    PagesWrite,
    /// "Pages Read": list Pages projects.
    PagesRead,
    /// "API Tokens Write" (the dashboard's "User: API Tokens: Edit"): list and roll user tokens.
    ApiTokensWrite,
}

impl Permission {
    /// The permission group's display name.
    pub fn group_name(self) -> &'static str {
        match self {
            Permission::AccessServiceTokensWrite => "Access: Service Tokens Write",
            Permission::PagesWrite => "Pages Write",
            Permission::PagesRead => "Pages Read",
            Permission::ApiTokensWrite => "API Tokens Write",
        }
    }

    /// Whether holding `self` allows what `needed` allows (write implies read).
    pub(crate) fn covers(self, needed: Permission) -> bool {
        self == needed || (self == Permission::PagesWrite && needed == Permission::PagesRead)
    }

    /// User-level permissions are granted on the user, the others on the account.
    fn is_user_level(self) -> bool {
        self == Permission::ApiTokensWrite
    }
}

/// A user API token. Its value can be rolled; id, name and permissions survive a roll. Types
/// that hold a secret value here have no `Debug`, so they cannot end up in a log by accident.
#[derive(Clone)]
pub struct UserToken {
    pub id: String,
    pub name: String,
    pub(crate) value: String,
    pub permissions: Vec<Permission>,
    pub issued_on: Timestamp,
    pub modified_on: Timestamp,
    pub expires_on: Option<Timestamp>,
    /// Ids of policies, one per permission, stable for the token's life.
    pub(crate) policy_ids: Vec<String>,
}

impl UserToken {
    /// The token's current value (the only one that authenticates).
    pub fn value(&self) -> &str {
        &self.value
    }

    pub(crate) fn has(&self, needed: Permission) -> bool {
        self.permissions
            .iter()
            .any(|permission| permission.covers(needed))
    }

    /// `GET /user/tokens` item: everything but the value.
    pub(crate) fn to_json(&self, account_id: &str, user_id: &str) -> Value {
        let policies: Vec<Value> = self
            .permissions
            .iter()
            .zip(&self.policy_ids)
            .map(|(permission, policy_id)| {
                let resource = if permission.is_user_level() {
                    format!("com.cloudflare.api.user.{user_id}")
                } else {
                    format!("com.cloudflare.api.account.{account_id}")
                };
                json!({
                    "id": policy_id,
                    "effect": "allow",
                    "permission_groups": [{ "id": permission_group_id(*permission), "name": permission.group_name() }],
                    "resources": { resource: "*" },
                })
            })
            .collect();
        // A date that is not set is left out, not `null`: the published schema types these as
        // date-time strings.
        let mut token = json!({
            "id": self.id,
            "name": self.name,
            "status": "active",
            "issued_on": microseconds(self.issued_on),
            "modified_on": microseconds(self.modified_on),
            "policies": policies,
            "condition": {},
        });
        if let Some(expires_on) = self.expires_on {
            token["expires_on"] = json!(microseconds(expires_on));
        }
        token
    }
}

/// Stable per-group ids, so that listings look the same from one run to the next.
fn permission_group_id(permission: Permission) -> &'static str {
    match permission {
        Permission::AccessServiceTokensWrite => "a1c0fec57cf94af79479a7b26ca5a3a3",
        Permission::PagesWrite => "8d28297797f24fb8a0c332fe0866ec89",
        Permission::PagesRead => "e247aedd66bd41cc9193af0213416666",
        Permission::ApiTokensWrite => "686d18d5ac6c441c867cbf6771e58a0a",
    }
}

/// An Access service token. Deleting one removes it from the account.
#[derive(Clone)]
pub struct ServiceToken {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub(crate) client_secret: String,
    /// After a rotate with `previous_client_secret_expires_at`, the old secret and its deadline.
    pub(crate) previous_secret: Option<(String, Timestamp)>,
    /// The `duration` it was created with: refresh extends the expiry by it again.
    pub(crate) lifetime: Lifetime,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// `None` for a token created with duration `forever`.
    pub expires_at: Option<Timestamp>,
}

impl ServiceToken {
    /// The current client secret.
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|expires_at| expires_at <= now)
    }

    /// Whether `secret` authenticates this token now (the current secret, or the previous one
    /// during the grace period a rotate asked for).
    pub(crate) fn accepts_secret(&self, secret: &str, now: Timestamp) -> bool {
        if self.is_expired(now) {
            return false;
        }
        let previous_still_valid = self
            .previous_secret
            .as_ref()
            .is_some_and(|(previous, until)| previous == secret && now < *until);
        self.client_secret == secret || previous_still_valid
    }

    /// The token object of list, delete and refresh: never the secret.
    pub(crate) fn to_json(&self) -> Value {
        let mut token = json!({
            "id": self.id,
            "name": self.name,
            "client_id": self.client_id,
            "created_at": microseconds(self.created_at),
            "updated_at": microseconds(self.updated_at),
            "duration": self.lifetime.text,
        });
        // Left out when the token never expires (`duration: forever`), not `null`.
        if let Some(expires_at) = self.expires_at {
            token["expires_at"] = json!(microseconds(expires_at));
        }
        token
    }

    /// The create and rotate shape: with the secret, and without `expires_at` (the published
    /// description and the current SDK agree that these responses have none).
    pub(crate) fn to_json_with_secret(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "created_at": microseconds(self.created_at),
            "updated_at": microseconds(self.updated_at),
            "duration": self.lifetime.text,
        })
    }
}

/// A Pages project.
#[derive(Clone, Debug)]
pub struct PagesProject {
    pub id: String,
    pub name: String,
    pub created_on: Timestamp,
}

impl PagesProject {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "subdomain": format!("{}.pages.dev", self.name),
            "domains": [format!("{}.pages.dev", self.name)],
            "production_branch": "main",
            "created_on": microseconds(self.created_on),
            "source": { "type": "github", "config": { "owner": "MooseQuest", "repo_name": self.name } },
            "build_config": { "build_command": "npm run build", "destination_dir": "dist", "root_dir": "" },
        })
    }
}

/// The account and the user who owns the tokens.
pub struct CloudflareAccount {
    pub(crate) account_id: String,
    pub(crate) user_id: String,
    pub(crate) user_tokens: Vec<UserToken>,
    pub(crate) service_tokens: Vec<ServiceToken>,
    pub(crate) pages_projects: Vec<PagesProject>,
}

impl CloudflareAccount {
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Every service token that exists and has not expired.
    pub fn live_service_tokens(&self) -> Vec<&ServiceToken> {
        let now = Timestamp::now();
        self.service_tokens
            .iter()
            .filter(|token| !token.is_expired(now))
            .collect()
    }

    /// A service token by id, whether expired or not; `None` once deleted.
    pub fn service_token(&self, id: &str) -> Option<&ServiceToken> {
        self.service_tokens.iter().find(|token| token.id == id)
    }

    pub(crate) fn service_token_mut(&mut self, id: &str) -> Option<&mut ServiceToken> {
        self.service_tokens.iter_mut().find(|token| token.id == id)
    }

    /// A service token by name (the first, should several share it).
    pub(crate) fn service_token_named(&self, name: &str) -> Option<&ServiceToken> {
        self.service_tokens.iter().find(|token| token.name == name)
    }

    /// Whether a client id and secret pair authenticates a live service token.
    pub fn service_token_pair_is_live(&self, client_id: &str, client_secret: &str) -> bool {
        let now = Timestamp::now();
        self.service_tokens
            .iter()
            .any(|token| token.client_id == client_id && token.accepts_secret(client_secret, now))
    }

    /// A user token by name or id.
    pub fn user_token(&self, name_or_id: &str) -> Option<&UserToken> {
        self.user_tokens
            .iter()
            .find(|token| token.name == name_or_id || token.id == name_or_id)
    }

    /// The current value of a user token, by name or id.
    pub fn user_token_value(&self, name_or_id: &str) -> Option<&str> {
        self.user_token(name_or_id).map(UserToken::value)
    }

    /// The live user token this value authenticates, if any. Rolled-away values match nothing.
    pub fn user_token_by_value(&self, value: &str) -> Option<&UserToken> {
        let now = Timestamp::now();
        self.user_tokens.iter().find(|token| {
            token.value == value && token.expires_on.is_none_or(|expires_on| now < expires_on)
        })
    }

    /// Whether `value` is the current value of a live user token.
    pub fn is_live_user_token(&self, value: &str) -> bool {
        self.user_token_by_value(value).is_some()
    }

    pub fn pages_projects(&self) -> &[PagesProject] {
        &self.pages_projects
    }

    pub(crate) fn new_user_token(name: &str, permissions: Vec<Permission>) -> UserToken {
        let now = Timestamp::now();
        UserToken {
            id: random::hex(16),
            name: name.to_owned(),
            value: random::token(40),
            policy_ids: permissions.iter().map(|_| random::hex(16)).collect(),
            permissions,
            issued_on: now,
            modified_on: now,
            expires_on: None,
        }
    }

    /// Adds a service token with fresh credentials and returns it.
    pub(crate) fn create_service_token(&mut self, name: &str, lifetime: Lifetime) -> &ServiceToken {
        let now = Timestamp::now();
        self.service_tokens.push(ServiceToken {
            id: random::uuid(),
            name: name.to_owned(),
            client_id: format!("{}.access", random::hex(16)),
            client_secret: random::hex(32),
            previous_secret: None,
            created_at: now,
            updated_at: now,
            expires_at: lifetime.expiry_from(now),
            lifetime,
        });
        let index = self.service_tokens.len() - 1;
        &self.service_tokens[index]
    }
}

/// A service token's `duration`, as written and as parsed.
#[derive(Clone, Debug)]
pub(crate) struct Lifetime {
    pub(crate) text: String,
    /// `None` means `forever`.
    pub(crate) length: Option<Duration>,
}

impl Lifetime {
    /// A year: what a token gets when its `duration` is not given.
    pub(crate) fn default_service_token() -> Lifetime {
        Lifetime {
            text: "8760h".to_owned(),
            length: Some(Duration::from_secs(8760 * 3600)),
        }
    }

    /// Parses Go's duration syntax (`8760h`, `2h45m`, `300ms`), which is what the description says
    /// the field takes, or `forever`, which the current API also allows.
    pub(crate) fn parse(text: &str) -> Option<Lifetime> {
        if text == "forever" {
            return Some(Lifetime {
                text: text.to_owned(),
                length: None,
            });
        }
        let mut rest = text;
        let mut total = 0f64;
        if rest.is_empty() {
            return None;
        }
        while !rest.is_empty() {
            let number_length = rest
                .find(|character: char| !(character.is_ascii_digit() || character == '.'))
                .unwrap_or(rest.len());
            let number: f64 = rest[..number_length].parse().ok()?;
            rest = &rest[number_length..];
            let unit_length = rest
                .find(|character: char| character.is_ascii_digit() || character == '.')
                .unwrap_or(rest.len());
            let seconds_per_unit = match &rest[..unit_length] {
                "ns" => 1e-9,
                "us" | "µs" => 1e-6,
                "ms" => 1e-3,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return None,
            };
            rest = &rest[unit_length..];
            total += number * seconds_per_unit;
        }
        Some(Lifetime {
            text: text.to_owned(),
            length: Some(Duration::try_from_secs_f64(total).ok()?),
        })
    }

    pub(crate) fn expiry_from(&self, start: Timestamp) -> Option<Timestamp> {
        let length = SignedDuration::try_from(self.length?).ok()?;
        start.checked_add(length).ok()
    }
}
