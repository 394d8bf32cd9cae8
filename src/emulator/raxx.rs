//! The company's own services that the runbooks probe to prove a rotation worked: the origin
//! behind Cloudflare Access, the console's site status and the API's dependency health. Their
//! answers are derived from what Heroku has configured, so they follow every propagation.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::AppState;
use super::http::{header_text, microseconds};
use super::seed::{
    ACCESS_MANAGEMENT_NAMES, CONSOLE_SERVICE_TOKEN_NAMES, PAGES_DEPLOY_NAMES, PAGES_READ_NAMES,
    StoredNames, VAULT_SERVICE_TOKEN_NAMES,
};
use super::world::World;

pub(crate) const CONSOLE_APP: &str = "raxx-console-prod";
pub(crate) const API_APP: &str = "raxx-api-prod";

/// The Access sites the console probes: site id, name, and the config vars holding the service
/// token as `client_id:client_secret`.
const ACCESS_SITES: [(&str, &str, StoredNames); 2] = [
    ("console-prod", "Raxx console", CONSOLE_SERVICE_TOKEN_NAMES),
    ("vault-prod", "Raxx vault", VAULT_SERVICE_TOKEN_NAMES),
];

/// The Cloudflare user tokens the API depends on, in the order its health report lists them.
const API_TOKENS: [StoredNames; 3] = [
    PAGES_DEPLOY_NAMES,
    PAGES_READ_NAMES,
    ACCESS_MANAGEMENT_NAMES,
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(origin_health))
        .route("/api/status/sites", get(console_sites))
        .route("/health/dependencies", get(api_dependencies))
}

/// The origin behind Access: 200 for an admitted service token, 403 otherwise, as Access
/// answers a service token it does not accept.
async fn origin_health(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let client_id = header_text(&headers, "cf-access-client-id").unwrap_or_default();
    let client_secret = header_text(&headers, "cf-access-client-secret").unwrap_or_default();
    if state.world().origin_admits(client_id, client_secret) {
        axum::Json(json!({ "status": "ok" })).into_response()
    } else {
        (
            StatusCode::FORBIDDEN,
            "Forbidden: Cloudflare Access denied this request.\n",
        )
            .into_response()
    }
}

fn has_ops_session(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == "ops_session" && value == expected)
}

fn restarting(app: &str) -> Response {
    let body = json!({ "error": "service_unavailable", "message": format!("{app} is restarting") });
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

fn liveness(ok: bool, status_code: u16, detail: &str, checked_at: &str) -> Value {
    json!({ "ok": ok, "checked_at": checked_at, "status_code": status_code, "detail": detail })
}

/// The console's view of its sites, computed from the console app's current config.
async fn console_sites(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let world = state.world();
    if !has_ops_session(&headers, &world.ops_session) {
        let body = json!({ "error": "unauthorized", "message": "ops session required" });
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let Some(console) = world.heroku.app(CONSOLE_APP) else {
        return restarting(CONSOLE_APP);
    };
    if console.is_restarting() {
        return restarting(CONSOLE_APP);
    }
    let checked_at = microseconds(Timestamp::now());
    let forced_down = world.faults.console_unhealthy;
    let mut sites: Vec<Value> = ACCESS_SITES
        .iter()
        .map(|(id, name, variables)| {
            let pair = console.first_config_var(variables).and_then(|pair| pair.split_once(':'));
            let admitted = pair.is_some_and(|(client_id, secret)| world.origin_admits(client_id, secret));
            let (ok, code, detail) = match (forced_down, pair, admitted) {
                (true, _, _) => (false, 503, "console marked unhealthy"),
                (false, None, _) => (false, 0, "no service token configured"),
                (false, Some(_), true) => (true, 200, "Access admitted the service token"),
                (false, Some(_), false) => (false, 403, "Access rejected the service token"),
            };
            json!({ "id": id, "name": name, "provider": "cloudflare_access", "liveness": liveness(ok, code, detail, &checked_at) })
        })
        .collect();
    // The console checks Pages sites with the access-management token.
    let management_live = console
        .first_config_var(&ACCESS_MANAGEMENT_NAMES)
        .is_some_and(|token| world.cloudflare.is_live_user_token(token));
    for project in world.cloudflare.pages_projects() {
        let (ok, code, detail) = match (forced_down, management_live) {
            (true, _) => (false, 503, "console marked unhealthy"),
            (false, true) => (true, 200, "Pages project reachable"),
            (false, false) => (false, 401, "Cloudflare rejected the management token"),
        };
        sites.push(json!({
            "id": project.name,
            "name": format!("{}.pages.dev", project.name),
            "provider": "cloudflare_pages",
            "liveness": liveness(ok, code, detail, &checked_at),
        }));
    }
    axum::Json(json!({ "sites": sites })).into_response()
}

/// Which of the API's Cloudflare tokens are configured, and whether each is live.
fn api_token_checks(world: &World) -> Vec<(&'static str, bool)> {
    let Some(api) = world.heroku.app(API_APP) else {
        return Vec::new();
    };
    API_TOKENS
        .iter()
        .filter_map(|names| {
            let value = api.first_config_var(names)?;
            Some((names[0], world.cloudflare.is_live_user_token(value)))
        })
        .collect()
}

/// The API's dependency health, computed from the API app's current config.
async fn api_dependencies(State(state): State<AppState>) -> Response {
    let world = state.world();
    if world
        .heroku
        .app(API_APP)
        .is_none_or(|api| api.is_restarting())
    {
        return restarting(API_APP);
    }
    let checks = api_token_checks(&world);
    // No configured token means the API cannot reach Cloudflare at all.
    let all_live = !checks.is_empty() && checks.iter().all(|(_, live)| *live);
    let ok = all_live && !world.faults.api_unhealthy;
    let tokens: serde_json::Map<String, Value> = checks
        .iter()
        .map(|(name, live)| ((*name).to_owned(), Value::Bool(*live)))
        .collect();
    let checked_at = microseconds(Timestamp::now());
    axum::Json(json!({
        "status": if ok { "ok" } else { "degraded" },
        "cloudflare": { "ok": ok, "checked_at": checked_at, "tokens": tokens },
        "database": { "ok": true, "checked_at": checked_at },
        "redis": { "ok": true, "checked_at": checked_at },
    }))
    .into_response()
}
