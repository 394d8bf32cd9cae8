//! Access service tokens: list, create (201, secret shown once), delete (returns the deleted
//! token), refresh (extends the expiry, no secret) and rotate (new secret in place).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use jiff::Timestamp;
use serde_json::Value;

use super::state::{Lifetime, Permission};
use super::{Paging, Scope, authorized, failure, malformed_body, success, success_page};
use crate::emulator::http::{BodyError, json_body};
use crate::emulator::random;
use crate::emulator::{AppState, World};

/// Access answers with its own error codes, which the published description does not list;
/// these are stand-ins in Access's 12xxx range.
const ACCESS_INVALID_REQUEST: u32 = 12000;
const ACCESS_NOT_FOUND: u32 = 12130;

fn not_found() -> Response {
    failure(
        StatusCode::NOT_FOUND,
        ACCESS_NOT_FOUND,
        "access.api.error.not_found: service token not found",
    )
}

/// The account's world, for a token allowed to read and write its Access service tokens.
fn access_writer<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    account_id: &str,
) -> Result<std::sync::MutexGuard<'s, World>, Response> {
    authorized(
        state,
        headers,
        Scope::Account(account_id),
        Permission::AccessServiceTokensWrite,
    )
}

fn invalid(message: &str) -> Response {
    failure(
        StatusCode::BAD_REQUEST,
        ACCESS_INVALID_REQUEST,
        &format!("access.api.error.invalid_request: {message}"),
    )
}

pub(super) async fn list(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let world = access_writer(&state, &headers, &account_id)?;
    // `name` (exact) and `search` (substring) are in the current description, not the 2024 one.
    let items = world
        .cloudflare
        .service_tokens
        .iter()
        .filter(|token| query.get("name").is_none_or(|name| &token.name == name))
        .filter(|token| {
            query
                .get("search")
                .is_none_or(|search| token.name.contains(search.as_str()))
        })
        .map(|token| token.to_json())
        .collect();
    Ok(success_page(
        items,
        Paging::from_query(&query, 20, (1, 1000)),
    ))
}

pub(super) async fn create(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let mut world = access_writer(&state, &headers, &account_id)?;
    let Ok(Value::Object(fields)) = json_body(&body) else {
        return Err(malformed_body());
    };
    let name = match fields.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
        _ => return Err(invalid("name is required")),
    };
    let lifetime = match fields.get("duration") {
        None | Some(Value::Null) => Some(Lifetime::default_service_token()),
        Some(Value::String(text)) => Lifetime::parse(text),
        Some(_) => None,
    };
    let Some(lifetime) = lifetime else {
        return Err(invalid(
            "duration must look like 300ms or 2h45m (units ns, us, ms, s, m, h)",
        ));
    };
    let token = world.cloudflare.create_service_token(&name, lifetime);
    tracing::info!(id = %token.id, "created an Access service token");
    Ok(success(StatusCode::CREATED, token.to_json_with_secret()))
}

/// `GET .../service_tokens/{id}`: the token without its secret.
pub(super) async fn get(
    State(state): State<AppState>,
    Path((account_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let world = access_writer(&state, &headers, &account_id)?;
    let token = world
        .cloudflare
        .service_token(&token_id)
        .ok_or_else(not_found)?;
    Ok(success(StatusCode::OK, token.to_json()))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    Path((account_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let mut world = access_writer(&state, &headers, &account_id)?;
    let tokens = &mut world.cloudflare.service_tokens;
    let Some(index) = tokens.iter().position(|token| token.id == token_id) else {
        return Err(not_found());
    };
    let token = tokens.remove(index);
    tracing::info!(id = %token.id, "deleted an Access service token");
    Ok(success(StatusCode::OK, token.to_json()))
}

pub(super) async fn refresh(
    State(state): State<AppState>,
    Path((account_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let mut world = access_writer(&state, &headers, &account_id)?;
    let token = world
        .cloudflare
        .service_token_mut(&token_id)
        .ok_or_else(not_found)?;
    let now = Timestamp::now();
    token.expires_at = token.lifetime.expiry_from(now);
    token.updated_at = now;
    Ok(success(StatusCode::OK, token.to_json()))
}

pub(super) async fn rotate(
    State(state): State<AppState>,
    Path((account_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let mut world = access_writer(&state, &headers, &account_id)?;
    // The 2024 description has no body; the current one takes an optional
    // `previous_client_secret_expires_at`. Without it the old secret dies at once.
    let not_a_date = || invalid("previous_client_secret_expires_at must be a date-time");
    let grace_until = match json_body(&body) {
        Err(BodyError::Missing) => None,
        Ok(Value::Object(fields)) => match fields.get("previous_client_secret_expires_at") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                value
                    .as_str()
                    .and_then(|text| text.parse::<Timestamp>().ok())
                    .ok_or_else(not_a_date)?,
            ),
        },
        Err(_) | Ok(_) => return Err(malformed_body()),
    };
    let token = world
        .cloudflare
        .service_token_mut(&token_id)
        .ok_or_else(not_found)?;
    let now = Timestamp::now();
    let old_secret = std::mem::replace(&mut token.client_secret, random::hex(32));
    token.previous_secret = grace_until
        .filter(|until| *until > now)
        .map(|until| (old_secret, until));
    token.updated_at = now;
    tracing::info!(id = %token.id, "rotated an Access service token");
    Ok(success(StatusCode::OK, token.to_json_with_secret()))
}
