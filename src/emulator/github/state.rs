//! What the emulated GitHub repository holds: Actions secrets (repository-wide and per
//! environment), each store with its own X25519 key pair so sealed boxes can really be opened.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crypto_box::SecretKey;
use jiff::{SignedDuration, Timestamp};

use crate::emulator::random;

/// Why an `encrypted_value` could not be opened.
pub(crate) enum OpenError {
    /// Not padded standard base64 (the description's pattern).
    NotBase64,
    /// Not a sealed box for this key, or not UTF-8 once opened.
    NotSealedForThisKey,
}

/// A key pair whose public half GitHub serves as `{key_id, key}`.
pub struct SealingKey {
    pub key_id: String,
    secret_key: SecretKey,
}

impl SealingKey {
    pub(crate) fn generate() -> SealingKey {
        SealingKey {
            key_id: random::digits(19),
            secret_key: SecretKey::from_bytes(random::key_bytes()),
        }
    }

    /// The public key as served: standard base64 of its 32 bytes.
    pub fn public_key_base64(&self) -> String {
        STANDARD.encode(self.secret_key.public_key().as_bytes())
    }

    /// Opens a libsodium sealed box sent as padded standard base64.
    pub(crate) fn open(&self, encrypted_value: &str) -> Result<String, OpenError> {
        let sealed = STANDARD
            .decode(encrypted_value)
            .map_err(|_| OpenError::NotBase64)?;
        let plain = self
            .secret_key
            .unseal(&sealed)
            .map_err(|_| OpenError::NotSealedForThisKey)?;
        String::from_utf8(plain).map_err(|_| OpenError::NotSealedForThisKey)
    }
}

/// An Actions secret. GitHub never returns the value; the emulator keeps the plaintext so tests
/// can check what was written.
#[derive(Clone)]
pub struct GithubSecret {
    pub name: String,
    pub(crate) value: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl GithubSecret {
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// The secrets of the repository or of one environment, with the key that seals them.
pub struct SecretStore {
    pub key: SealingKey,
    pub(crate) secrets: Vec<GithubSecret>,
}

impl SecretStore {
    pub(crate) fn new() -> SecretStore {
        SecretStore {
            key: SealingKey::generate(),
            secrets: Vec::new(),
        }
    }

    /// A secret by name; GitHub treats names case-insensitively (it stores them upper-case).
    pub fn secret(&self, name: &str) -> Option<&GithubSecret> {
        self.secrets
            .iter()
            .find(|secret| secret.name.eq_ignore_ascii_case(name))
    }

    pub fn secrets(&self) -> &[GithubSecret] {
        &self.secrets
    }

    /// Creates or updates a secret; `true` when it was created. `updated_at` is in whole
    /// seconds, as GitHub keeps it; unless `clock_only`, a write moves it on by at least a second
    /// so that two writes in one second still differ (see `Faults::github_whole_second_clock`).
    pub(crate) fn put(&mut self, name: &str, value: String, clock_only: bool) -> bool {
        let now = Timestamp::now();
        let whole_second = |timestamp: Timestamp| {
            Timestamp::from_second(timestamp.as_second()).unwrap_or(timestamp)
        };
        if let Some(secret) = self
            .secrets
            .iter_mut()
            .find(|secret| secret.name.eq_ignore_ascii_case(name))
        {
            let next = secret
                .updated_at
                .checked_add(SignedDuration::from_secs(1))
                .unwrap_or(now);
            secret.updated_at = if clock_only {
                whole_second(now)
            } else {
                whole_second(now).max(next)
            };
            secret.value = value;
            return false;
        }
        let now = whole_second(now);
        self.secrets.push(GithubSecret {
            name: name.to_ascii_uppercase(),
            value,
            created_at: now,
            updated_at: now,
        });
        true
    }

    pub(crate) fn remove(&mut self, name: &str) -> bool {
        let before = self.secrets.len();
        self.secrets
            .retain(|secret| !secret.name.eq_ignore_ascii_case(name));
        self.secrets.len() != before
    }
}

/// The repository, its token and its secret stores.
pub struct GithubRepository {
    pub(crate) token: String,
    pub owner: String,
    pub name: String,
    pub id: u64,
    pub(crate) actions: SecretStore,
    pub(crate) environments: Vec<(String, SecretStore)>,
}

impl GithubRepository {
    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The repository's Actions secrets.
    pub fn actions(&self) -> &SecretStore {
        &self.actions
    }

    /// A repository Actions secret by name.
    pub fn secret(&self, name: &str) -> Option<&GithubSecret> {
        self.actions.secret(name)
    }

    /// An environment's secret store.
    pub fn environment(&self, environment: &str) -> Option<&SecretStore> {
        self.environments
            .iter()
            .find(|(name, _)| name == environment)
            .map(|(_, store)| store)
    }

    /// An environment secret by environment and name.
    pub fn environment_secret(&self, environment: &str, name: &str) -> Option<&GithubSecret> {
        self.environment(environment)?.secret(name)
    }

    pub(crate) fn is(&self, owner: &str, name: &str) -> bool {
        self.owner.eq_ignore_ascii_case(owner) && self.name.eq_ignore_ascii_case(name)
    }

    pub(crate) fn store_mut(&mut self, environment: Option<&str>) -> Option<&mut SecretStore> {
        match environment {
            None => Some(&mut self.actions),
            Some(wanted) => self
                .environments
                .iter_mut()
                .find(|(name, _)| name == wanted)
                .map(|(_, store)| store),
        }
    }
}
