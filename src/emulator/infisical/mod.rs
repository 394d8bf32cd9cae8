//! The Infisical API the runbooks and Infisical's own SDKs call: universal-auth login, secrets by
//! name (v4, and the older v3 raw routes the SDKs still use) and the user-only version history.

mod secrets;
pub(crate) mod state;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::AppState;
use super::http::{BodyError, bearer, json_body};
use super::random;
use super::world::World;
use secrets::{V3, V4};
use state::Caller;

/// Seconds an access token lives: the universal-auth default of 30 days.
const ACCESS_TOKEN_TTL_SECONDS: u64 = 2_592_000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/universal-auth/login", post(login))
        .route("/api/v4/secrets", get(secrets::list::<V4>))
        .route(
            "/api/v4/secrets/{secret_name}",
            get(secrets::get::<V4>)
                .post(secrets::create::<V4>)
                .patch(secrets::update::<V4>)
                .delete(secrets::delete::<V4>),
        )
        .route("/api/v3/secrets/raw", get(secrets::list::<V3>))
        .route(
            "/api/v3/secrets/raw/{secret_name}",
            get(secrets::get::<V3>)
                .post(secrets::create::<V3>)
                .patch(secrets::update::<V3>)
                .delete(secrets::delete::<V3>),
        )
        .route(
            "/api/v1/secret/{secret_id}/secret-versions",
            get(secret_versions),
        )
}

/// Infisical's error body, `{reqId, statusCode, message, error}`.
pub(crate) fn error(status: StatusCode, error: &str, message: impl Into<Value>) -> Response {
    let body = json!({
        "reqId": format!("req-{}", random::token(14)),
        "statusCode": status.as_u16(),
        "message": message.into(),
        "error": error,
    });
    (status, axum::Json(body)).into_response()
}

/// A zod validation failure naming the missing or invalid field.
pub(crate) fn validation_failure(field: &str, problem: &str) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "ValidationFailure",
        json!([{ "path": [field], "message": problem }]),
    )
}

/// Who is calling, or the 401 Infisical answers.
pub(crate) fn authenticate(world: &World, headers: &HeaderMap) -> Result<Caller, Response> {
    let Some(token) = bearer(headers) else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedError",
            "Token missing",
        ));
    };
    world.infisical.caller(token).ok_or_else(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedError",
            "Invalid token",
        )
    })
}

async fn login(State(state): State<AppState>, body: Bytes) -> Response {
    let fields = match json_body(&body) {
        Ok(Value::Object(fields)) => fields,
        // Malformed JSON is a 400 here as on every route; a body that is not an object, zod's 422.
        Err(BodyError::Malformed) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "Body is not valid JSON",
            );
        }
        _ => return validation_failure("clientId", "Required"),
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::trim);
    let (Some(client_id), Some(client_secret)) = (text("clientId"), text("clientSecret")) else {
        let missing = if text("clientId").is_none() {
            "clientId"
        } else {
            "clientSecret"
        };
        return validation_failure(missing, "Required");
    };
    let mut world = state.world();
    let project = &mut world.infisical;
    if client_id != project.identity_client_id || client_secret != project.identity_client_secret {
        return error(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedError",
            "Invalid credentials",
        );
    }
    let access_token = project.issue_token(Caller::MachineIdentity);
    axum::Json(json!({
        "accessToken": access_token,
        "expiresIn": ACCESS_TOKEN_TTL_SECONDS,
        "accessTokenMaxTTL": ACCESS_TOKEN_TTL_SECONDS,
        "tokenType": "Bearer",
    }))
    .into_response()
}

/// `GET /api/v1/secret/{secretId}/secret-versions`: user sessions only (the route verifies JWT
/// auth alone), newest first, paged by the required `offset` and `limit`.
async fn secret_versions(
    State(state): State<AppState>,
    Path(secret_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let world = state.world();
    match authenticate(&world, &headers) {
        Err(response) => return response,
        Ok(Caller::MachineIdentity) => {
            return error(
                StatusCode::FORBIDDEN,
                "PermissionDenied",
                "This route is only available to user sessions",
            );
        }
        Ok(Caller::User) => {}
    }
    let number = |name: &str| {
        query
            .get(name)
            .and_then(|text| text.trim().parse::<usize>().ok())
    };
    let Some(offset) = number("offset") else {
        return validation_failure("offset", "Expected number");
    };
    let Some(limit) = number("limit") else {
        return validation_failure("limit", "Expected number");
    };
    let project = &world.infisical;
    let Some(secret) = project.secrets.iter().find(|secret| secret.id == secret_id) else {
        return error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Secret with ID '{secret_id}' not found"),
        );
    };
    let versions: Vec<Value> = secret
        .history()
        .iter()
        .rev()
        .skip(offset)
        .take(limit)
        .map(|version| secret.to_json(version, &project.project_id, false))
        .collect();
    axum::Json(json!({ "secretVersions": versions })).into_response()
}
