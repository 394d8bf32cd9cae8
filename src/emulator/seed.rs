//! The world the emulator starts with: the accounts, tokens, secrets and config that the two
//! rotation SOPs assume, with every credential freshly random.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::cloudflare::state::{CloudflareAccount, Lifetime, PagesProject, Permission};
use super::github::state::{GithubRepository, SecretStore};
use super::heroku::state::{HerokuAccount, HerokuApp};
use super::infisical::state::{Caller, Environment, InfisicalProject, StoredSecret};
use super::random;
use super::raxx::{API_APP, CONSOLE_APP};
use super::world::{Faults, World};

/// Names of the seeded Cloudflare user tokens (also the env var names of their values).
pub(crate) const ACCESS_MANAGEMENT: &str = "CF_ACCESS_MGMT";
pub(crate) const PAGES_DEPLOY: &str = "CF_PAGES_DEPLOY";
pub(crate) const PAGES_READ: &str = "CF_PAGES_READ";
pub(crate) const ROTATION: &str = "CF_ROTATION_TOKEN";

/// Names of the seeded Access service tokens.
pub(crate) const CONSOLE_SERVICE_TOKEN: &str = "raxx-console-svc-2026-05-01";
pub(crate) const VAULT_SERVICE_TOKEN: &str = "raxx-vault-probe-svc-2026-05-01";

/// The names a credential is stored under (Infisical secrets, Heroku config vars, GitHub
/// secrets): its new taxonomy name first, then its legacy alias, the order readers try them in.
pub(crate) type StoredNames = [&'static str; 2];

/// Where each user token's value is stored; the new name is the token's own.
pub(crate) const PAGES_DEPLOY_NAMES: StoredNames =
    [PAGES_DEPLOY, "CLOUDFLARE_RAXX_AUTOMATION_API_TOKEN"];
pub(crate) const ACCESS_MANAGEMENT_NAMES: StoredNames =
    [ACCESS_MANAGEMENT, "CLOUDFLARE_ACCESS_MGMT_TOKEN"];
pub(crate) const PAGES_READ_NAMES: StoredNames = [PAGES_READ, "CLOUDFLARE_PAGES_READ_TOKEN"];

/// Every user token the services hold, in the order they are seeded.
pub(crate) const USER_TOKEN_NAMES: [StoredNames; 3] = [
    PAGES_DEPLOY_NAMES,
    ACCESS_MANAGEMENT_NAMES,
    PAGES_READ_NAMES,
];

/// Where each service token's credentials are stored (as `client_id:client_secret` in Heroku,
/// as the secret and a `__CLIENT_ID` companion in Infisical).
pub(crate) const CONSOLE_SERVICE_TOKEN_NAMES: StoredNames =
    ["CF_ACCESS_SVC_CONSOLE", "CF_ACCESS_SERVICE_TOKEN_CONSOLE"];
pub(crate) const VAULT_SERVICE_TOKEN_NAMES: StoredNames =
    ["CF_ACCESS_SVC_VAULT", "CF_ACCESS_SERVICE_TOKEN_VAULT_PROBE"];

/// Every seeded service token: its name in Cloudflare, then where its credentials are stored.
pub(crate) const SERVICE_TOKEN_NAMES: [(&str, StoredNames); 2] = [
    (CONSOLE_SERVICE_TOKEN, CONSOLE_SERVICE_TOKEN_NAMES),
    (VAULT_SERVICE_TOKEN, VAULT_SERVICE_TOKEN_NAMES),
];

/// The Infisical folder the SOPs store Cloudflare credentials in, and its environments.
pub(crate) const INFISICAL_FOLDER: &str = "/MooseQuest/cloudflare";
const INFISICAL_ENVIRONMENTS: [(&str, &str); 3] = [
    ("dev", "Development"),
    ("staging", "Staging"),
    ("prod", "Production"),
];

pub(crate) fn world(restart_window: Duration) -> World {
    let cloudflare = cloudflare();
    let value = |name: &str| {
        cloudflare
            .user_token_value(name)
            .unwrap_or_default()
            .to_owned()
    };
    // Each service token's stored names, with its client id and secret.
    let service_tokens: Vec<(StoredNames, String, String)> = SERVICE_TOKEN_NAMES
        .iter()
        .map(|(token_name, names)| {
            let (id, secret) = cloudflare
                .service_token_named(token_name)
                .map(|token| (token.client_id.clone(), token.client_secret.clone()))
                .unwrap_or_default();
            (*names, id, secret)
        })
        .collect();

    // Every store holds each user token under its new name and its legacy alias.
    let user_tokens: Vec<(&str, String)> = USER_TOKEN_NAMES
        .iter()
        .flat_map(|&[new_name, legacy_name]| {
            [(new_name, value(new_name)), (legacy_name, value(new_name))]
        })
        .collect();
    let mut stored: Vec<(String, String)> = user_tokens
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect();
    for (names, id, secret) in &service_tokens {
        for name in names {
            stored.push(((*name).to_owned(), secret.clone()));
            stored.push((format!("{name}__CLIENT_ID"), id.clone()));
        }
    }
    let infisical = infisical(&stored);

    // The console holds both service tokens, as `client_id:client_secret`, and the management
    // token.
    let mut console_variables: Vec<(&str, String)> = service_tokens
        .iter()
        .flat_map(|(names, id, secret)| names.map(|name| (name, format!("{id}:{secret}"))))
        .collect();
    console_variables.extend(ACCESS_MANAGEMENT_NAMES.map(|name| (name, value(ACCESS_MANAGEMENT))));
    console_variables.push(("NODE_ENV", "production".to_owned()));
    let console_config = config(&console_variables);
    let api_config = |environment: &str| {
        let mut variables = user_tokens.clone();
        variables.push(("RAXX_ENVIRONMENT", environment.to_owned()));
        config(&variables)
    };
    let heroku = HerokuAccount {
        api_key: random::uuid(),
        owner_id: random::uuid(),
        owner_email: "ops@raxx.app".to_owned(),
        apps: vec![
            HerokuApp::new(CONSOLE_APP, console_config, &[("web", "npm run start")]),
            HerokuApp::new(
                API_APP,
                api_config("production"),
                &[
                    ("web", "bin/api"),
                    ("web", "bin/api"),
                    ("worker", "bin/worker"),
                ],
            ),
            HerokuApp::new(
                "raxx-api-staging",
                api_config("staging"),
                &[("web", "bin/api"), ("worker", "bin/worker")],
            ),
        ],
    };

    let mut actions = SecretStore::new();
    for (name, value) in &user_tokens {
        actions.put(name, value.clone(), false);
    }
    let github = GithubRepository {
        token: format!("ghp_{}", random::token(36).replace(['-', '_'], "x")),
        owner: "MooseQuest".to_owned(),
        name: "raxx".to_owned(),
        id: random::digits(9).parse().unwrap_or(812_345_678),
        actions,
        environments: vec![("production".to_owned(), SecretStore::new())],
    };

    World {
        faults: Faults::default(),
        restart_window,
        cloudflare,
        infisical,
        heroku,
        github,
        ops_session: random::token(43),
        held: 0,
        hold_passed: 0,
    }
}

fn cloudflare() -> CloudflareAccount {
    let mut account = CloudflareAccount {
        account_id: random::hex(16),
        user_id: random::hex(16),
        user_tokens: vec![
            CloudflareAccount::new_user_token(
                ACCESS_MANAGEMENT,
                vec![Permission::AccessServiceTokensWrite],
            ),
            CloudflareAccount::new_user_token(PAGES_DEPLOY, vec![Permission::PagesWrite]),
            CloudflareAccount::new_user_token(PAGES_READ, vec![Permission::PagesRead]),
            CloudflareAccount::new_user_token(ROTATION, vec![Permission::ApiTokensWrite]),
        ],
        service_tokens: Vec::new(),
        pages_projects: ["raxx-www", "raxx-docs", "raxx-status"]
            .iter()
            .map(|name| PagesProject {
                id: random::uuid(),
                name: (*name).to_owned(),
                created_on: jiff::Timestamp::now(),
            })
            .collect(),
    };
    for (name, _) in SERVICE_TOKEN_NAMES {
        account.create_service_token(name, Lifetime::default_service_token());
    }
    account
}

fn infisical(stored: &[(String, String)]) -> InfisicalProject {
    let folders: BTreeSet<String> = ["/", "/MooseQuest", INFISICAL_FOLDER]
        .iter()
        .map(|folder| (*folder).to_owned())
        .collect();
    let environments: Vec<Environment> = INFISICAL_ENVIRONMENTS
        .iter()
        .map(|(slug, name)| Environment {
            slug: (*slug).to_owned(),
            name: (*name).to_owned(),
            folders: folders.clone(),
        })
        .collect();
    let secrets = environments
        .iter()
        .flat_map(|environment| {
            stored.iter().map(|(name, value)| {
                StoredSecret::new(&environment.slug, INFISICAL_FOLDER, name, value)
            })
        })
        .collect();
    let mut project = InfisicalProject {
        identity_client_id: random::uuid(),
        identity_client_secret: random::hex(32),
        project_id: random::uuid(),
        project_slug: format!("raxx-{}", random::hex(2)),
        environments,
        secrets,
        access_tokens: Vec::new(),
    };
    project.issue_token(Caller::User);
    project
}

fn config(variables: &[(&str, String)]) -> BTreeMap<String, String> {
    variables
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}
