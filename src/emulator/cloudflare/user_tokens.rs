//! User API tokens (verify, list, roll in place) and the Pages project list that the runbooks use
//! to prove a rolled Pages token still works.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::state::Permission;
use super::{
    Paging, Scope, api_token, authorized, failure, invalid_token, malformed_body, success,
    success_page,
};
use crate::emulator::AppState;
use crate::emulator::http::{json_body, microseconds};
use crate::emulator::random;

/// `GET /user/tokens/verify`: Bearer only; a dead value is 401 with code 1000.
pub(super) async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let value = api_token(&headers)?;
    let world = state.world();
    let token = world
        .cloudflare
        .user_token_by_value(value)
        .ok_or_else(invalid_token)?;
    let mut body = json!({
        "success": true,
        "errors": [],
        "messages": [{ "code": 10000, "message": "This API Token is valid and active", "type": null }],
        "result": {
            "id": token.id,
            "status": "active",
        },
    });
    // An unset date is left out, not `null` (the schema types it as a date-time string).
    if let Some(expires_on) = token.expires_on {
        body["result"]["expires_on"] = json!(microseconds(expires_on));
    }
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

/// `GET /user/tokens`: needs "API Tokens Write" (read would do on the real API; the world has
/// no read-only token).
pub(super) async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let world = authorized(&state, &headers, Scope::User, Permission::ApiTokensWrite)?;
    let account = &world.cloudflare;
    let mut tokens: Vec<_> = account.user_tokens.iter().collect();
    tokens.sort_by_key(|token| token.issued_on);
    if query.get("direction").map(String::as_str) == Some("desc") {
        tokens.reverse();
    }
    let items = tokens
        .into_iter()
        .map(|token| token.to_json(&account.account_id, &account.user_id))
        .collect();
    // The description bounds per_page to 5..=50.
    Ok(success_page(items, Paging::from_query(&query, 20, (5, 50))))
}

/// `GET /user/tokens/{id}`: one token's details, never its value.
pub(super) async fn get(
    State(state): State<AppState>,
    Path(token_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let world = authorized(&state, &headers, Scope::User, Permission::ApiTokensWrite)?;
    let account = &world.cloudflare;
    let token = account
        .user_tokens
        .iter()
        .find(|token| token.id == token_id)
        .ok_or_else(|| no_such_token(&format!("/user/tokens/{token_id}")))?;
    Ok(success(
        StatusCode::OK,
        token.to_json(&account.account_id, &account.user_id),
    ))
}

/// Cloudflare's answer to an id that names no token.
fn no_such_token(path: &str) -> Response {
    failure(
        StatusCode::NOT_FOUND,
        7003,
        &format!("Could not route to {path}, perhaps your object identifier is invalid?"),
    )
}

/// `PUT /user/tokens/{id}/value`: needs a JSON body (`{}`), answers the new value as a bare
/// string, and kills the old value at once. id, name, policies and expiry are kept.
pub(super) async fn roll(
    State(state): State<AppState>,
    Path(token_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let mut world = authorized(&state, &headers, Scope::User, Permission::ApiTokensWrite)?;
    let Ok(Value::Object(_)) = json_body(&body) else {
        return Err(malformed_body());
    };
    let answers_unusable_value = world.faults.cloudflare_roll_answers_unusable_value;
    let Some(token) = world
        .cloudflare
        .user_tokens
        .iter_mut()
        .find(|token| token.id == token_id)
    else {
        return Err(no_such_token(&format!("/user/tokens/{token_id}/value")));
    };
    token.value = random::token(40);
    token.modified_on = Timestamp::now();
    tracing::info!(id = %token.id, "rolled a user API token");
    let answered = if answers_unusable_value {
        random::token(40)
    } else {
        token.value.clone()
    };
    Ok(success(StatusCode::OK, Value::String(answered)))
}

/// `GET /accounts/{account_id}/pages/projects`: needs Pages read.
pub(super) async fn pages_projects(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let world = authorized(
        &state,
        &headers,
        Scope::Account(&account_id),
        Permission::PagesRead,
    )?;
    let items = world
        .cloudflare
        .pages_projects
        .iter()
        .map(|project| project.to_json())
        .collect();
    Ok(success_page(
        items,
        Paging::from_query(&query, 10, (1, 100)),
    ))
}
