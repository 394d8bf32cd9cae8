//! The emulated world of the shipped runbooks, shared by the rotation and durable-run tests: the
//! runbooks, the emulator and how a run is pointed at it, its secrets, and where a rotated value
//! must land.

use std::path::Path;
use std::time::Duration;

use runbook::emulator::{BackgroundEmulator, Emulator, EmulatorConfig, ServiceToken, World};
use secrecy::ExposeSecret;

pub const ACCESS: &str = "runbooks/cloudflare-access-service-token.yaml";
pub const USER: &str = "runbooks/cloudflare-user-api-token.yaml";
/// The Infisical folder both runbooks write to (in environment `prod`).
pub const FOLDER: &str = "/MooseQuest/cloudflare";
/// The name of the console's Access service token the emulator seeds.
pub const SEEDED_CONSOLE_TOKEN: &str = "raxx-console-svc-2026-05-01";
/// The names the console's service token is stored under, in Infisical and on Heroku.
pub const CONSOLE_VARIABLES: [&str; 2] =
    ["CF_ACCESS_SVC_CONSOLE", "CF_ACCESS_SERVICE_TOKEN_CONSOLE"];
/// The credentials of [`Emulator::credentials`] that are not secret.
pub const PUBLIC_CREDENTIALS: [&str; 6] = [
    "CF_ACCOUNT_ID",
    "CF_ACCESS_SVC_TOKEN_ID",
    "CF_ACCESS_SVC_CONSOLE_TOKEN_ID",
    "CF_ACCESS_SVC_VAULT_TOKEN_ID",
    "INFISICAL_PROJECT_ID",
    "GITHUB_REPOSITORY",
];

/// An emulator on its own thread, with a short Heroku restart window.
pub fn emulator() -> BackgroundEmulator {
    Emulator::start_in_background(EmulatorConfig {
        port: 0,
        restart_window: Duration::from_millis(150),
    })
    .expect("the emulator starts")
}

/// `--service NAME=URL` pointing each service the runbook at `runbook` declares at the
/// emulator; only those, as naming another is an error (a typo must not leave a service
/// pointing at production).
pub fn service_args(emulator: &Emulator, runbook: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(runbook).expect("the runbook is readable");
    let mut args = Vec::new();
    for (service, url) in emulator.service_urls() {
        if text.contains(&format!("\n  {service}: ")) {
            args.push("--service".to_string());
            args.push(format!("{service}={url}"));
        }
    }
    args
}

/// The emulator's credentials as environment variables, as they are now.
pub fn credential_env(emulator: &Emulator) -> Vec<(String, String)> {
    emulator
        .credentials()
        .into_iter()
        .map(|(name, value)| (name, value.expose_secret().to_string()))
        .collect()
}

/// The values of the emulator's credentials that are secret, as they are now.
pub fn secret_credentials(emulator: &Emulator) -> Vec<String> {
    emulator
        .credentials()
        .into_iter()
        .filter(|(name, _)| !PUBLIC_CREDENTIALS.contains(&name.as_str()))
        .map(|(_, value)| value.expose_secret().to_string())
        .collect()
}

/// The console's seeded service token, while it is live.
#[track_caller]
pub fn seeded_console_token(world: &World) -> ServiceToken {
    world
        .cloudflare()
        .live_service_tokens()
        .into_iter()
        .find(|token| token.name == SEEDED_CONSOLE_TOKEN)
        .expect("the seeded console token is live")
        .clone()
}

/// A rolled user token's `variable` holds `value` everywhere the user-token runbook stores it:
/// Infisical, both API apps on Heroku, and GitHub.
#[track_caller]
pub fn assert_user_token_stored(world: &World, variable: &str, value: &str) {
    assert_eq!(
        world
            .infisical_secret("prod", FOLDER, variable)
            .unwrap_or_else(|| panic!("Infisical has no {variable}"))
            .current_value(),
        value,
        "Infisical {variable}"
    );
    for app in ["raxx-api-prod", "raxx-api-staging"] {
        assert_eq!(
            world
                .heroku_app(app)
                .unwrap_or_else(|| panic!("Heroku has no app {app}"))
                .config_var(variable),
            Some(value),
            "Heroku {app} {variable}"
        );
    }
    assert_eq!(
        world
            .github_secret(variable)
            .unwrap_or_else(|| panic!("GitHub has no secret {variable}"))
            .value(),
        value,
        "GitHub {variable}"
    );
}

/// The console's service token `token` is stored under both [`CONSOLE_VARIABLES`]: its secret
/// and client id in Infisical, the `client_id:client_secret` pair on the console's Heroku app.
#[track_caller]
pub fn assert_console_pair_stored(world: &World, token: &ServiceToken) {
    let pair = format!("{}:{}", token.client_id, token.client_secret());
    let app = world
        .heroku_app("raxx-console-prod")
        .expect("the console's Heroku app");
    for name in CONSOLE_VARIABLES {
        assert_eq!(
            world
                .infisical_secret("prod", FOLDER, name)
                .unwrap_or_else(|| panic!("Infisical has no {name}"))
                .current_value(),
            token.client_secret(),
            "Infisical {name}"
        );
        assert_eq!(
            world
                .infisical_secret("prod", FOLDER, &format!("{name}__CLIENT_ID"))
                .unwrap_or_else(|| panic!("Infisical has no {name}__CLIENT_ID beside {name}"))
                .current_value(),
            token.client_id,
            "Infisical {name}__CLIENT_ID"
        );
        assert_eq!(
            app.config_var(name),
            Some(pair.as_str()),
            "{name} on Heroku"
        );
    }
}
