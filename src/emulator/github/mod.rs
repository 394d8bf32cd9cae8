//! The GitHub REST surface for Actions secrets: repository info, the sealing public key, and
//! secrets that are written as libsodium sealed boxes (201 when created, 204 when updated),
//! repository-wide and per environment.

pub(crate) mod state;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::http::{BodyError, authorization, json_body, request_base_url, seconds};
use super::world::World;
use state::{GithubRepository, OpenError, SecretStore};

const DOCUMENTATION_URL: &str = "https://docs.github.com/rest/actions/secrets";

pub(crate) fn routes() -> Router<AppState> {
    // Repository-wide and environment secrets share handlers: only the `environment` parameter
    // tells them apart.
    let mut router = Router::new()
        .route("/repos/{owner}/{repo}", get(repository))
        .route("/repos/{owner}/{repo}/environments", get(environments))
        .route(
            "/repos/{owner}/{repo}/environments/{environment}",
            get(environment),
        );
    for secrets in [
        "/repos/{owner}/{repo}/actions/secrets",
        "/repos/{owner}/{repo}/environments/{environment}/secrets",
    ] {
        router = router
            .route(secrets, get(list))
            .route(&format!("{secrets}/public-key"), get(public_key))
            .route(
                &format!("{secrets}/{{secret_name}}"),
                get(secret).put(put_secret).delete(delete_secret),
            );
    }
    router
}

/// The secret store a request names: the repository's, or one environment's.
#[derive(Deserialize)]
struct StorePath {
    owner: String,
    repo: String,
    /// Absent on the repository-wide routes.
    environment: Option<String>,
}

/// One secret in the store a request names.
#[derive(Deserialize)]
struct SecretPath {
    owner: String,
    repo: String,
    /// Absent on the repository-wide routes.
    environment: Option<String>,
    secret_name: String,
}

/// GitHub's error body, `{message, documentation_url, status}` (status as a string).
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "message": message,
        "documentation_url": DOCUMENTATION_URL,
        "status": status.as_u16().to_string(),
    });
    (status, axum::Json(body)).into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Not Found")
}

/// Checks the token (`Bearer` or the legacy `token` scheme) and finds the repository. A private
/// repository the caller cannot see is a 404, as on GitHub.
fn repository_for<'w>(
    world: &'w World,
    headers: &HeaderMap,
    owner: &str,
    name: &str,
) -> Result<&'w GithubRepository, Response> {
    let repository = &world.github;
    match authorization(headers, &["Bearer", "token"]) {
        None => return Err(error(StatusCode::UNAUTHORIZED, "Requires authentication")),
        Some(token) if token != repository.token => {
            return Err(error(StatusCode::UNAUTHORIZED, "Bad credentials"));
        }
        Some(_) => {}
    }
    if repository.is(owner, name) {
        Ok(repository)
    } else {
        Err(not_found())
    }
}

fn store<'r>(
    repository: &'r GithubRepository,
    environment: Option<&str>,
) -> Option<&'r SecretStore> {
    match environment {
        None => Some(repository.actions()),
        Some(environment) => repository.environment(environment),
    }
}

async fn repository(
    State(state): State<AppState>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let world = state.world();
    let repository = repository_for(&world, &headers, &owner, &name)?;
    let base = request_base_url(&headers);
    let full_name = repository.full_name();
    let url = format!("{base}/repos/{full_name}");
    Ok(axum::Json(json!({
        "id": repository.id,
        "node_id": format!("R_kgDO{}", repository.id),
        "name": repository.name,
        "full_name": full_name,
        "private": true,
        "visibility": "private",
        "owner": {
            "login": repository.owner,
            "id": repository.id / 7,
            "type": "Organization",
            "url": format!("{base}/users/{}", repository.owner),
        },
        "html_url": format!("https://github.com/{full_name}"),
        "url": url,
        "default_branch": "main",
        "archived": false,
        "disabled": false,
        "permissions": { "admin": true, "maintain": true, "push": true, "triage": true, "pull": true },
        "created_at": "2024-03-01T12:00:00Z",
        "updated_at": "2026-05-01T12:00:00Z",
        "pushed_at": "2026-05-01T12:00:00Z",
    }))
    .into_response())
}

async fn environment(
    State(state): State<AppState>,
    Path((owner, name, environment)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let world = state.world();
    let repository = repository_for(&world, &headers, &owner, &name)?;
    let Some(index) = repository
        .environments
        .iter()
        .position(|(name, _)| *name == environment)
    else {
        return Err(not_found());
    };
    let base = request_base_url(&headers);
    Ok(axum::Json(environment_json(&base, repository, index)).into_response())
}

/// `GET /repos/{owner}/{repo}/environments`: every environment, as GitHub pages them.
async fn environments(
    State(state): State<AppState>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let world = state.world();
    let repository = repository_for(&world, &headers, &owner, &name)?;
    let base = request_base_url(&headers);
    let environments: Vec<Value> = (0..repository.environments.len())
        .map(|index| environment_json(&base, repository, index))
        .collect();
    Ok(
        axum::Json(json!({ "total_count": environments.len(), "environments": environments }))
            .into_response(),
    )
}

/// The environment at `index` of the repository, as GitHub describes one.
fn environment_json(base: &str, repository: &GithubRepository, index: usize) -> Value {
    let environment = &repository.environments[index].0;
    let full_name = repository.full_name();
    json!({
        "id": repository.id + 1 + index as u64,
        "node_id": format!("EN_kwDO{}{index}", repository.id),
        "name": environment,
        "url": format!("{base}/repos/{full_name}/environments/{environment}"),
        "html_url": format!("https://github.com/{full_name}/deployments/activity_log?environments_filter={environment}"),
        "created_at": "2024-03-01T12:00:00Z",
        "updated_at": "2024-03-01T12:00:00Z",
        "protection_rules": [],
        "deployment_branch_policy": null,
    })
}

async fn public_key(
    State(state): State<AppState>,
    Path(path): Path<StorePath>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let world = state.world();
    let repository = repository_for(&world, &headers, &path.owner, &path.repo)?;
    let Some(store) = store(repository, path.environment.as_deref()) else {
        return Err(not_found());
    };
    Ok(
        axum::Json(json!({ "key_id": store.key.key_id, "key": store.key.public_key_base64() }))
            .into_response(),
    )
}

fn secret_json(secret: &state::GithubSecret) -> Value {
    json!({ "name": secret.name, "created_at": seconds(secret.created_at), "updated_at": seconds(secret.updated_at) })
}

async fn list(
    State(state): State<AppState>,
    Path(path): Path<StorePath>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let world = state.world();
    let repository = repository_for(&world, &headers, &path.owner, &path.repo)?;
    let Some(store) = store(repository, path.environment.as_deref()) else {
        return Err(not_found());
    };
    let number = |name: &str, default: usize| {
        query
            .get(name)
            .and_then(|text| text.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let per_page = number("per_page", 30).clamp(1, 100);
    let page = number("page", 1).max(1);
    let secrets: Vec<Value> = store
        .secrets()
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(secret_json)
        .collect();
    Ok(
        axum::Json(json!({ "total_count": store.secrets().len(), "secrets": secrets }))
            .into_response(),
    )
}

async fn secret(
    State(state): State<AppState>,
    Path(path): Path<SecretPath>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let world = state.world();
    let repository = repository_for(&world, &headers, &path.owner, &path.repo)?;
    let environment = path.environment.as_deref();
    match store(repository, environment).and_then(|store| store.secret(&path.secret_name)) {
        Some(secret) => Ok(axum::Json(secret_json(secret)).into_response()),
        None => Err(not_found()),
    }
}

/// GitHub's secret-name rules (not in the description, enforced server-side): letters, digits
/// and underscores, not starting with a digit, and no `GITHUB_` prefix.
fn valid_secret_name(name: &str) -> bool {
    let starts_well = name
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_');
    starts_well
        && name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || character == '_')
        && !name.to_ascii_uppercase().starts_with("GITHUB_")
}

async fn put_secret(
    State(state): State<AppState>,
    Path(path): Path<SecretPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (environment, secret_name) = (path.environment.as_deref(), path.secret_name.as_str());
    let mut world = state.world();
    match repository_for(&world, &headers, &path.owner, &path.repo) {
        Err(response) => return response,
        // An environment that does not exist is a 404 whatever the body, as on GitHub.
        Ok(repository) if store(repository, environment).is_none() => return not_found(),
        Ok(_) => {}
    }
    let fields = match json_body(&body) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) | Err(BodyError::Missing) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid request.\n\nFor 'links/0/schema', nil is not an object.",
            );
        }
        Err(BodyError::Malformed) => {
            return error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
        }
    };
    let field = |field: &str| fields.get(field).and_then(Value::as_str);
    let Some(encrypted_value) = field("encrypted_value") else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid request.\n\n\"encrypted_value\" wasn't supplied.",
        );
    };
    let Some(key_id) = field("key_id") else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid request.\n\n\"key_id\" wasn't supplied.",
        );
    };
    if !valid_secret_name(secret_name) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_), must not start with a number, and must not start with the GITHUB_ prefix.",
        );
    }
    let fail_writes = world.faults.github_fail_writes;
    let clock_only = world.faults.github_whole_second_clock;
    let Some(store) = world.github.store_mut(environment) else {
        return not_found();
    };
    if key_id != store.key.key_id {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Bad request - key_id does not match the current public key.",
        );
    }
    // GitHub cannot be seen to decrypt on write; the emulator does, so a value sealed for the
    // wrong key or garbled on the way is caught here rather than in a workflow run.
    let value = match store.key.open(encrypted_value) {
        Ok(value) => value,
        Err(OpenError::NotBase64) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid request.\n\nInvalid property /encrypted_value: does not match the padded base64 pattern.",
            );
        }
        Err(OpenError::NotSealedForThisKey) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Bad request - encrypted_value is not a sealed box for the key of key_id.",
            );
        }
    };
    if fail_writes {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error");
    }
    let created = store.put(secret_name, value, clock_only);
    tracing::info!(
        secret = secret_name,
        environment,
        created,
        "wrote a GitHub Actions secret"
    );
    if created {
        (StatusCode::CREATED, axum::Json(json!({}))).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

async fn delete_secret(
    State(state): State<AppState>,
    Path(path): Path<SecretPath>,
    headers: HeaderMap,
) -> Response {
    let mut world = state.world();
    if let Err(response) = repository_for(&world, &headers, &path.owner, &path.repo) {
        return response;
    }
    let removed = world
        .github
        .store_mut(path.environment.as_deref())
        .is_some_and(|store| store.remove(&path.secret_name));
    if removed {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found()
    }
}
