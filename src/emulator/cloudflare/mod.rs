//! The Cloudflare API v4 surface the runbooks call (Access service tokens, user API tokens, Pages
//! projects), with Cloudflare's `{success, errors, messages, result}` envelope and token auth.

mod access;
pub(crate) mod state;
mod user_tokens;

use std::collections::HashMap;
use std::sync::MutexGuard;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::AppState;
use super::http::{bearer, header_text};
use super::world::World;
use state::Permission;

pub(crate) fn routes() -> Router<AppState> {
    const SERVICE_TOKENS: &str = "/client/v4/accounts/{account_id}/access/service_tokens";
    Router::new()
        .route(SERVICE_TOKENS, get(access::list).post(access::create))
        .route(
            &format!("{SERVICE_TOKENS}/{{token_id}}"),
            get(access::get).delete(access::delete),
        )
        .route(
            &format!("{SERVICE_TOKENS}/{{token_id}}/refresh"),
            post(access::refresh),
        )
        .route(
            &format!("{SERVICE_TOKENS}/{{token_id}}/rotate"),
            post(access::rotate),
        )
        .route("/client/v4/user/tokens/verify", get(user_tokens::verify))
        .route("/client/v4/user/tokens", get(user_tokens::list))
        .route("/client/v4/user/tokens/{token_id}", get(user_tokens::get))
        .route(
            "/client/v4/user/tokens/{token_id}/value",
            put(user_tokens::roll),
        )
        .route(
            "/client/v4/accounts/{account_id}/pages/projects",
            get(user_tokens::pages_projects),
        )
}

/// A successful envelope around `result`.
pub(crate) fn success(status: StatusCode, result: Value) -> Response {
    let body = json!({ "success": true, "errors": [], "messages": [], "result": result });
    (status, axum::Json(body)).into_response()
}

/// A successful list envelope with `result_info`, paging `items` as the list endpoints do.
pub(crate) fn success_page(items: Vec<Value>, paging: Paging) -> Response {
    let total = items.len();
    let start = (paging.page - 1).saturating_mul(paging.per_page).min(total);
    let page: Vec<Value> = items
        .into_iter()
        .skip(start)
        .take(paging.per_page)
        .collect();
    let body = json!({
        "success": true,
        "errors": [],
        "messages": [],
        "result_info": {
            "page": paging.page,
            "per_page": paging.per_page,
            "count": page.len(),
            "total_count": total,
            "total_pages": total.div_ceil(paging.per_page.max(1)),
        },
        "result": page,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// Cloudflare's error envelope. The published description gives only a `4XX` range and no
/// codes; the codes used here are the ones Cloudflare is widely seen to return.
pub(crate) fn failure(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "success": false,
        "errors": [{ "code": code, "message": message }],
        "messages": [],
        "result": null,
    });
    (status, axum::Json(body)).into_response()
}

/// The answer to a missing or unparsable JSON body where one is required.
pub(crate) fn malformed_body() -> Response {
    failure(
        StatusCode::BAD_REQUEST,
        6007,
        "Malformed JSON in request body",
    )
}

/// `page` and `per_page` query parameters, clamped to what the endpoint allows.
#[derive(Clone, Copy)]
pub(crate) struct Paging {
    pub(crate) page: usize,
    pub(crate) per_page: usize,
}

impl Paging {
    pub(crate) fn from_query(
        query: &HashMap<String, String>,
        default_per_page: usize,
        per_page_range: (usize, usize),
    ) -> Paging {
        let number = |name: &str| query.get(name).and_then(|text| text.parse::<usize>().ok());
        Paging {
            page: number("page").unwrap_or(1).max(1),
            per_page: number("per_page")
                .unwrap_or(default_per_page)
                .clamp(per_page_range.0, per_page_range.1),
        }
    }
}

/// What an operation is performed on: the user's own tokens, or an account's resources. The
/// two answer a bad token differently.
pub(crate) enum Scope<'a> {
    User,
    Account(&'a str),
}

/// Locks the world once the caller's token is good for `needed` on `scope`.
pub(crate) fn authorized<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    scope: Scope<'_>,
    needed: Permission,
) -> Result<MutexGuard<'s, World>, Response> {
    let world = state.world();
    authenticate(&world, headers, scope, needed)?;
    Ok(world)
}

/// Checks that the caller's API token is good for `needed` on `scope`, or returns the error
/// Cloudflare would answer.
fn authenticate(
    world: &World,
    headers: &HeaderMap,
    scope: Scope<'_>,
    needed: Permission,
) -> Result<(), Response> {
    let account = &world.cloudflare;
    let value = api_token(headers)?;
    let Some(token) = account.user_token_by_value(value) else {
        return Err(match scope {
            Scope::User => invalid_token(),
            Scope::Account(_) => authentication_error(),
        });
    };
    let account_matches = match scope {
        Scope::User => true,
        Scope::Account(account_id) => account_id == account.account_id,
    };
    if !account_matches || !token.has(needed) {
        return Err(match scope {
            Scope::User => failure(
                StatusCode::FORBIDDEN,
                9109,
                "Unauthorized to access requested resource",
            ),
            Scope::Account(_) => authentication_error(),
        });
    }
    Ok(())
}

/// The request's API token (a `Bearer` credential), or the error Cloudflare answers a request
/// that carries none.
pub(crate) fn api_token(headers: &HeaderMap) -> Result<&str, Response> {
    if let Some(value) = bearer(headers) {
        return Ok(value);
    }
    if header_text(headers, "authorization").is_some() {
        return Err(invalid_authorization_header());
    }
    if header_text(headers, "x-auth-key").is_some() {
        // Global API keys exist, but this world has none (the SOPs say it is not stored).
        return Err(failure(
            StatusCode::FORBIDDEN,
            9103,
            "Unknown X-Auth-Key or X-Auth-Email",
        ));
    }
    Err(failure(
        StatusCode::BAD_REQUEST,
        9106,
        "Missing X-Auth-Key, X-Auth-Email or Authorization headers",
    ))
}

pub(crate) fn invalid_token() -> Response {
    failure(StatusCode::UNAUTHORIZED, 1000, "Invalid API token")
}

fn authentication_error() -> Response {
    failure(StatusCode::FORBIDDEN, 10000, "Authentication error")
}

fn invalid_authorization_header() -> Response {
    let body = json!({
        "success": false,
        "errors": [{
            "code": 6003,
            "message": "Invalid request headers",
            "error_chain": [{ "code": 6111, "message": "Invalid format for Authorization header" }],
        }],
        "messages": [],
        "result": null,
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}
