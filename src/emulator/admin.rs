//! The `/_emulator/` admin surface, for people who run the emulator as a separate process: a
//! state dump (secret values shown only as fingerprints) and the fault switches.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;
use super::http::{json_body, microseconds, seconds};
use super::world::{Faults, World};
use crate::secret::fingerprint_text;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_emulator/state", get(state))
        .route("/_emulator/faults", get(faults).post(set_faults))
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": message })),
    )
        .into_response()
}

fn faults_json(world: &World) -> Value {
    let mut faults = serde_json::to_value(&world.faults).unwrap_or_default();
    if let Value::Object(fields) = &mut faults {
        fields.insert(
            "restart_window_ms".to_owned(),
            json!(world.restart_window.as_millis()),
        );
    }
    faults
}

async fn faults(State(state): State<AppState>) -> Response {
    axum::Json(faults_json(&state.world())).into_response()
}

/// Sets the named switches and leaves the others as they are. `restart_window_ms` changes the
/// Heroku restart window for later config changes.
async fn set_faults(State(state): State<AppState>, body: Bytes) -> Response {
    let Ok(Value::Object(changes)) = json_body(&body) else {
        return bad_request("expected a JSON object of fault switches");
    };
    let mut world = state.world();
    let mut merged = serde_json::to_value(&world.faults).unwrap_or_default();
    let mut restart_window = world.restart_window;
    for (name, value) in changes {
        if name == "restart_window_ms" {
            let Some(milliseconds) = value.as_u64() else {
                return bad_request("restart_window_ms must be a whole number of milliseconds");
            };
            restart_window = std::time::Duration::from_millis(milliseconds);
        } else if let Some(slot) = merged.get_mut(&name) {
            *slot = value;
        } else {
            return bad_request(&format!("unknown fault switch {name:?}"));
        }
    }
    match serde_json::from_value::<Faults>(merged) {
        Ok(faults) => {
            world.faults = faults;
            world.restart_window = restart_window;
            axum::Json(faults_json(&world)).into_response()
        }
        Err(error) => bad_request(&format!("invalid fault switches: {error}")),
    }
}

async fn state(State(state): State<AppState>) -> Response {
    let world = state.world();
    let cloudflare = &world.cloudflare;
    let user_tokens: Vec<Value> = cloudflare
        .user_tokens
        .iter()
        .map(|token| {
            json!({
                "id": token.id,
                "name": token.name,
                "permissions": token.permissions.iter().map(|permission| permission.group_name()).collect::<Vec<_>>(),
                "modified_on": microseconds(token.modified_on),
                "value_fingerprint": fingerprint_text(token.value()),
            })
        })
        .collect();
    let service_tokens: Vec<Value> = cloudflare
        .service_tokens
        .iter()
        .map(|token| {
            let mut summary = token.to_json();
            if let Value::Object(fields) = &mut summary {
                fields.insert(
                    "client_secret_fingerprint".to_owned(),
                    json!(fingerprint_text(token.client_secret())),
                );
            }
            summary
        })
        .collect();
    let secrets: Vec<Value> = world
        .infisical
        .secrets()
        .iter()
        .map(|secret| {
            json!({
                "id": secret.id,
                "environment": secret.environment,
                "path": secret.path,
                "key": secret.key,
                "version": secret.version(),
                "value_fingerprints": secret.history().iter().map(|version| fingerprint_text(version.value())).collect::<Vec<_>>(),
            })
        })
        .collect();
    let apps: Vec<Value> = world
        .heroku
        .apps()
        .iter()
        .map(|app| {
            let config: serde_json::Map<String, Value> = app
                .config_vars()
                .iter()
                .map(|(name, value)| (name.clone(), json!(fingerprint_text(value))))
                .collect();
            json!({
                "name": app.name,
                "restarting": app.is_restarting(),
                "release_version": app.current_release().map(|release| release.version),
                "config_var_fingerprints": config,
            })
        })
        .collect();
    let github_secret = |secret: &super::github::state::GithubSecret| json!({ "name": secret.name, "updated_at": seconds(secret.updated_at), "value_fingerprint": fingerprint_text(secret.value()) });
    let environments: serde_json::Map<String, Value> = world
        .github
        .environments
        .iter()
        .map(|(name, store)| {
            (
                name.clone(),
                store.secrets().iter().map(github_secret).collect(),
            )
        })
        .collect();
    axum::Json(json!({
        "cloudflare": {
            "account_id": cloudflare.account_id(),
            "user_tokens": user_tokens,
            "service_tokens": service_tokens,
            "pages_projects": cloudflare.pages_projects().iter().map(|project| project.name.clone()).collect::<Vec<_>>(),
        },
        "infisical": { "project_id": world.infisical.project_id(), "secrets": secrets },
        "heroku": { "apps": apps },
        "github": {
            "repository": world.github.full_name(),
            "secrets": world.github.actions().secrets().iter().map(github_secret).collect::<Vec<_>>(),
            "environments": environments,
        },
        "faults": faults_json(&world),
    }))
    .into_response()
}
