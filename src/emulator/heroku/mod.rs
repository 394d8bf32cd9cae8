//! The Heroku Platform API v3 surface the runbooks call: app info, config vars (PATCH returns the
//! whole hash, `null` deletes), releases (with `Range` paging) and dynos. Every request must
//! carry the version 3 `Accept` header and an API key.

mod range;
pub(crate) mod state;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde_json::{Value, json};

use super::AppState;
use super::http::{BodyError, authorization, header_text, json_body};
use super::world::World;
use range::{Key, Range};
use state::HerokuApp;

/// Where Heroku's error bodies point.
const REFERENCE_URL: &str = "https://devcenter.heroku.com/articles/platform-api-reference";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/apps", get(app_list))
        .route("/apps/{app}", get(app_info))
        .route(
            "/apps/{app}/config-vars",
            get(config_vars).patch(update_config_vars),
        )
        .route("/apps/{app}/releases", get(releases))
        .route("/apps/{app}/releases/{release}", get(release_info))
        .route(
            "/apps/{app}/releases/{release}/config-vars",
            get(release_config_vars),
        )
        .route("/apps/{app}/dynos", get(dynos))
}

/// Heroku's error body, `{id, message, url}`.
pub(crate) fn error(status: StatusCode, id: &str, message: &str) -> Response {
    let body = json!({ "id": id, "message": message, "url": REFERENCE_URL });
    (status, axum::Json(body)).into_response()
}

/// A success body with the rate-limit header Heroku puts on every answer.
fn reply(status: StatusCode, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert("RateLimit-Remaining", HeaderValue::from_static("4500"));
    response
}

/// Whether `Accept` names `application/vnd.heroku+json` with `version=3`.
fn accepts_version_3(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|media_range| {
            let mut parts = media_range.split(';').map(str::trim);
            let media_type = parts.next().unwrap_or_default();
            media_type.eq_ignore_ascii_case("application/vnd.heroku+json")
                && parts.any(|parameter| parameter.replace(' ', "") == "version=3")
        })
}

/// The `Accept` check, then the API key (Bearer, or legacy Basic `email:key`).
fn gate(world: &World, headers: &HeaderMap) -> Result<(), Response> {
    if !accepts_version_3(headers) {
        return Err(error(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            "Please specify a version along with Heroku's API MIME type. For example, `Accept: application/vnd.heroku+json; version=3`.",
        ));
    }
    let api_key = &world.heroku.api_key;
    let bearer_matches = authorization(headers, &["Bearer"]) == Some(api_key.as_str());
    let basic_matches = authorization(headers, &["Basic"])
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .is_some_and(|pair| {
            pair.split_once(':')
                .is_some_and(|(_, password)| password == api_key)
        });
    if bearer_matches || basic_matches {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Invalid credentials provided.",
        ))
    }
}

fn app_not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "Couldn't find that app.",
    )
}

fn release_not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "Couldn't find that release.",
    )
}

/// Runs `answer` on the named app once the request has passed the gate.
fn with_app(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    answer: impl FnOnce(&World, &HerokuApp) -> Response,
) -> Response {
    let world = state.world();
    if let Err(response) = gate(&world, headers) {
        return response;
    }
    match world.heroku.app(name) {
        Some(app) => answer(&world, app),
        None => app_not_found(),
    }
}

async fn app_info(
    State(state): State<AppState>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> Response {
    with_app(&state, &headers, &app, |world, app| {
        let heroku = &world.heroku;
        reply(
            StatusCode::OK,
            app.to_json(&heroku.owner_email, &heroku.owner_id),
        )
    })
}

/// `GET /apps`: the apps the key's owner can see (in the emulator, all of them).
async fn app_list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let world = state.world();
    if let Err(response) = gate(&world, &headers) {
        return response;
    }
    let heroku = &world.heroku;
    let apps: Vec<Value> = heroku
        .apps()
        .iter()
        .map(|app| app.to_json(&heroku.owner_email, &heroku.owner_id))
        .collect();
    reply(StatusCode::OK, Value::Array(apps))
}

async fn config_vars(
    State(state): State<AppState>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> Response {
    with_app(&state, &headers, &app, |_, app| {
        reply(StatusCode::OK, json!(app.config_vars()))
    })
}

/// Config var names must match `^\w+$` (ASCII word characters, as the schema's regex reads).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || character == '_')
}

async fn update_config_vars(
    State(state): State<AppState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut guard = state.world();
    // Through a plain reference, so the app and the other fields can be borrowed together.
    let world = &mut *guard;
    if let Err(response) = gate(world, &headers) {
        return response;
    }
    let Some(target) = world.heroku.app_mut(&app) else {
        return app_not_found();
    };
    let fields = match json_body(&body) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) | Err(BodyError::Missing) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_params",
                "Config vars must be a JSON object.",
            );
        }
        Err(BodyError::Malformed) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "Request body must be valid JSON.",
            );
        }
    };
    let mut changes = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        if !valid_name(&name) {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_params",
                &format!(
                    "Invalid config var name {name:?}: names may contain only letters, digits and underscores."
                ),
            );
        }
        match value {
            Value::String(text) => changes.push((name, Some(text))),
            Value::Null => changes.push((name, None)),
            _ => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_params",
                    &format!("Config var {name} must be a string or null."),
                );
            }
        }
    }
    if world.faults.heroku_fail_writes {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "Internal server error.",
        );
    }
    if target.change_config(changes, world.restart_window) {
        let version = target.current_release().map(|release| release.version);
        tracing::info!(app = %target.name, ?version, "config change released; dynos restarting");
    }
    reply(StatusCode::OK, json!(target.config_vars()))
}

/// A list answer: 200 with everything, or 206 with `Next-Range` when the page is not the last.
fn page_reply(items: Vec<Value>, next_range: Option<String>) -> Response {
    let status = if next_range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = reply(status, Value::Array(items));
    if let Some(next) = next_range.and_then(|next| HeaderValue::from_str(&next).ok()) {
        response.headers_mut().insert("Next-Range", next);
    }
    response
}

fn unsatisfiable_range() -> Response {
    error(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "requested_range_not_satisfiable",
        "Invalid Range header. Expected something like `version ..; order=desc, max=10`.",
    )
}

/// The request's `Range`, or the whole list in order of `default_field`; `None` when the header
/// is malformed or names a field not in `fields`.
fn requested_range(headers: &HeaderMap, default_field: &str, fields: &[&str]) -> Option<Range> {
    let range = match header_text(headers, "range") {
        Some(text) => Range::parse(text)?,
        None => Range::everything(default_field),
    };
    fields.contains(&range.field.as_str()).then_some(range)
}

async fn releases(
    State(state): State<AppState>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> Response {
    with_app(&state, &headers, &app, |world, app| {
        let Some(range) = requested_range(&headers, "version", &["version", "id"]) else {
            return unsatisfiable_range();
        };
        let key = |release: &&state::Release| match range.field.as_str() {
            "id" => Key::Text(release.id.clone()),
            _ => Key::Number(release.version),
        };
        let Some((page, next)) = range.apply(app.releases().iter().collect(), key) else {
            return unsatisfiable_range();
        };
        let heroku = &world.heroku;
        let items = page
            .into_iter()
            .map(|release| app.release_json(release, &heroku.owner_email, &heroku.owner_id))
            .collect();
        page_reply(items, next)
    })
}

async fn release_info(
    State(state): State<AppState>,
    Path((app, release)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    with_app(&state, &headers, &app, |world, app| {
        match app.release(&release) {
            Some(found) => {
                let heroku = &world.heroku;
                reply(
                    StatusCode::OK,
                    app.release_json(found, &heroku.owner_email, &heroku.owner_id),
                )
            }
            None => release_not_found(),
        }
    })
}

async fn release_config_vars(
    State(state): State<AppState>,
    Path((app, release)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    with_app(&state, &headers, &app, |_, app| {
        match app.release(&release) {
            Some(found) => reply(StatusCode::OK, json!(found.config_vars())),
            None => release_not_found(),
        }
    })
}

async fn dynos(
    State(state): State<AppState>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> Response {
    with_app(&state, &headers, &app, |_, app| {
        let Some(range) = requested_range(&headers, "id", &["id", "name"]) else {
            return unsatisfiable_range();
        };
        let key = |dyno: &&state::Dyno| match range.field.as_str() {
            "name" => Key::Text(dyno.name.clone()),
            _ => Key::Text(dyno.id.clone()),
        };
        let Some((page, next)) = range.apply(app.dynos.iter().collect(), key) else {
            return unsatisfiable_range();
        };
        page_reply(
            page.into_iter().map(|dyno| app.dyno_json(dyno)).collect(),
            next,
        )
    })
}
