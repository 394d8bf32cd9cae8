//! The emulator's whole state in one place, behind one lock: what each service holds, the fault
//! switches tests flip, and the read helpers they use to check server-side effects.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cloudflare::state::CloudflareAccount;
use super::github::state::{GithubRepository, GithubSecret};
use super::heroku::state::{HerokuAccount, HerokuApp};
use super::infisical::state::{InfisicalProject, StoredSecret};

/// Switches that make the world misbehave the way the real one sometimes does. All off by
/// default. `POST /_emulator/faults` sets any subset of them by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// When set, the Access policy in front of the origin is scoped by client id: only these
    /// client ids are admitted, so a freshly created service token gets 403 until it is added.
    pub origin_policy_client_ids: Option<Vec<String>>,
    /// Infisical answers every write (create, update, delete) with 500.
    pub infisical_fail_writes: bool,
    /// The console reports every site as not live.
    pub console_unhealthy: bool,
    /// The API reports its Cloudflare dependency as not ok.
    pub api_unhealthy: bool,
    /// Heroku answers config-var PATCHes with 500.
    pub heroku_fail_writes: bool,
    /// GitHub answers secret PUTs with 500.
    pub github_fail_writes: bool,
    /// GitHub's own clock for `updated_at`: whole seconds, never ahead of now, so two writes in
    /// one second show the same time, as on github.com. Off, each write moves `updated_at` on
    /// by at least a second, so that a client (or test) can see every write.
    pub github_whole_second_clock: bool,
    /// A user-token roll succeeds (the old value dies) but answers a value that is not the new
    /// one, as a truncated copy would be: verifying it fails.
    pub cloudflare_roll_answers_unusable_value: bool,
    /// Holds a matching request until the rule is cleared: for killing a client at a precise
    /// point. `held` counts the requests it caught.
    pub hold: Option<Hold>,
    /// Answers the next `remaining` requests with 429 and this Retry-After.
    pub rate_limit: Option<RateLimit>,
}

/// Which request to hold, and whether it takes effect.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hold {
    pub method: String,
    /// The path must start with this.
    pub path: String,
    /// Let this many matching requests through first.
    pub skip: u32,
    /// Apply the request before holding it (its answer is what gets lost), rather than
    /// holding it before it is applied (then it never is: it answers 503 once released).
    pub after_applying: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimit {
    pub remaining: u32,
    /// The Retry-After header: seconds, or an HTTP date.
    pub retry_after: String,
}

/// Everything the emulated services hold. Read it through [`crate::emulator::Emulator::world`].
/// The guard is the server's own lock: drop it before any `.await` and before calling another
/// `Emulator` method such as `credentials()`, or the caller deadlocks.
pub struct World {
    /// The fault switches.
    pub faults: Faults,
    /// How long Heroku dynos stay `starting` after a config change.
    pub restart_window: Duration,
    pub(crate) cloudflare: CloudflareAccount,
    pub(crate) infisical: InfisicalProject,
    pub(crate) heroku: HerokuAccount,
    pub(crate) github: GithubRepository,
    pub(crate) ops_session: String,
    /// How many requests a `hold` rule has caught.
    pub held: u32,
    /// How many requests a `hold` rule has let through (`skip`).
    pub(crate) hold_passed: u32,
}

impl World {
    /// The Cloudflare account: user tokens, Access service tokens, Pages projects.
    pub fn cloudflare(&self) -> &CloudflareAccount {
        &self.cloudflare
    }

    /// The Infisical project and its secrets with their version history.
    pub fn infisical(&self) -> &InfisicalProject {
        &self.infisical
    }

    /// The Heroku account and its apps.
    pub fn heroku(&self) -> &HerokuAccount {
        &self.heroku
    }

    /// The GitHub repository and its Actions secrets.
    pub fn github(&self) -> &GithubRepository {
        &self.github
    }

    /// The console's ops session cookie value (`Cookie: ops_session=<value>`).
    pub fn ops_session(&self) -> &str {
        &self.ops_session
    }

    /// An Infisical secret by environment slug, folder path and name.
    pub fn infisical_secret(
        &self,
        environment: &str,
        path: &str,
        name: &str,
    ) -> Option<&StoredSecret> {
        self.infisical.secret(environment, path, name)
    }

    /// A Heroku app by name or id.
    pub fn heroku_app(&self, name: &str) -> Option<&HerokuApp> {
        self.heroku.app(name)
    }

    /// A repository Actions secret (with its decrypted value) by name.
    pub fn github_secret(&self, name: &str) -> Option<&GithubSecret> {
        self.github.secret(name)
    }

    /// Whether the Access-protected origin admits this client id and secret: the pair must
    /// authenticate a live service token of the account and, when the policy is scoped by client
    /// id, the client id must be listed.
    pub fn origin_admits(&self, client_id: &str, client_secret: &str) -> bool {
        let listed = self
            .faults
            .origin_policy_client_ids
            .as_ref()
            .is_none_or(|admitted| admitted.iter().any(|admitted| admitted == client_id));
        listed
            && self
                .cloudflare
                .service_token_pair_is_live(client_id, client_secret)
    }
}
