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

/// The Infisical folder the SOPs store Cloudflare credentials in, and its environments.
pub(crate) const INFISICAL_FOLDER: &str = "/MooseQuest/cloudflare";
const INFISICAL_ENVIRONMENTS: [(&str, &str); 3] = [
    ("dev", "Development"),
    ("staging", "Staging"),
    ("prod", "Production"),
];

/// New taxonomy name and legacy alias of each user token.
const USER_TOKEN_NAMES: [(&str, &str); 3] = [
    (PAGES_DEPLOY, "CLOUDFLARE_RAXX_AUTOMATION_API_TOKEN"),
    (ACCESS_MANAGEMENT, "CLOUDFLARE_ACCESS_MGMT_TOKEN"),
    (PAGES_READ, "CLOUDFLARE_PAGES_READ_TOKEN"),
];

pub(crate) fn world(restart_window: Duration) -> World {
    let cloudflare = cloudflare();
    let value = |name: &str| {
        cloudflare
            .user_token_value(name)
            .unwrap_or_default()
            .to_owned()
    };
    let pair = |name: &str| {
        cloudflare
            .service_tokens
            .iter()
            .find(|token| token.name == name)
            .map(|token| (token.client_id.clone(), token.client_secret.clone()))
            .unwrap_or_default()
    };
    let (console_id, console_secret) = pair(CONSOLE_SERVICE_TOKEN);
    let (vault_id, vault_secret) = pair(VAULT_SERVICE_TOKEN);

    // Infisical holds each credential under its new name and its legacy alias.
    let mut stored: Vec<(String, String)> = Vec::new();
    for (new_name, legacy_name) in USER_TOKEN_NAMES {
        stored.push((new_name.to_owned(), value(new_name)));
        stored.push((legacy_name.to_owned(), value(new_name)));
    }
    for (new_name, legacy_name, id, secret) in [
        (
            "CF_ACCESS_SVC_CONSOLE",
            "CF_ACCESS_SERVICE_TOKEN_CONSOLE",
            &console_id,
            &console_secret,
        ),
        (
            "CF_ACCESS_SVC_VAULT",
            "CF_ACCESS_SERVICE_TOKEN_VAULT_PROBE",
            &vault_id,
            &vault_secret,
        ),
    ] {
        for name in [new_name, legacy_name] {
            stored.push((name.to_owned(), secret.clone()));
            stored.push((format!("{name}__CLIENT_ID"), id.clone()));
        }
    }
    let infisical = infisical(&stored);

    let console_config = config(&[
        (
            "CF_ACCESS_SVC_CONSOLE",
            format!("{console_id}:{console_secret}"),
        ),
        (
            "CF_ACCESS_SERVICE_TOKEN_CONSOLE",
            format!("{console_id}:{console_secret}"),
        ),
        ("CF_ACCESS_SVC_VAULT", format!("{vault_id}:{vault_secret}")),
        (
            "CF_ACCESS_SERVICE_TOKEN_VAULT_PROBE",
            format!("{vault_id}:{vault_secret}"),
        ),
        ("CF_ACCESS_MGMT", value(ACCESS_MANAGEMENT)),
        ("CLOUDFLARE_ACCESS_MGMT_TOKEN", value(ACCESS_MANAGEMENT)),
        ("NODE_ENV", "production".to_owned()),
    ]);
    let api_config = |environment: &str| {
        let mut variables: Vec<(&str, String)> = USER_TOKEN_NAMES
            .iter()
            .flat_map(|(new_name, legacy_name)| {
                [
                    (*new_name, value(new_name)),
                    (*legacy_name, value(new_name)),
                ]
            })
            .collect();
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
    for (new_name, legacy_name) in USER_TOKEN_NAMES {
        actions.put(new_name, value(new_name));
        actions.put(legacy_name, value(new_name));
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
    for name in [CONSOLE_SERVICE_TOKEN, VAULT_SERVICE_TOKEN] {
        if let Some(lifetime) = Lifetime::parse("8760h") {
            account.create_service_token(name, lifetime);
        }
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
