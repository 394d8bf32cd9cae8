//! Secrets by name, through both the current v4 routes (`projectId`) and the older v3 raw routes
//! (`workspaceId` or `workspaceSlug`) that Infisical's SDKs still call. The two differ only in
//! how the project is named, so one implementation serves both.

use std::collections::HashMap;
use std::sync::MutexGuard;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::state::{StoredSecret, normalize_path, normalize_value};
use super::{authenticate, error, validation_failure};
use crate::emulator::AppState;
use crate::emulator::http::{BodyError, json_body};
use crate::emulator::world::World;

/// Which generation of the API a request came through.
#[derive(Clone, Copy)]
pub(super) enum Dialect {
    V4,
    V3,
}

/// Picks the dialect at compile time, so one handler function serves both route families.
pub(super) trait Generation {
    const DIALECT: Dialect;
}

/// The current routes, under `/api/v4/secrets`, naming the project by `projectId`.
pub(super) struct V4;

/// The older raw routes, under `/api/v3/secrets/raw`, naming it by `workspaceId` or a slug.
pub(super) struct V3;

impl Generation for V4 {
    const DIALECT: Dialect = Dialect::V4;
}

impl Generation for V3 {
    const DIALECT: Dialect = Dialect::V3;
}

/// Request parameters, from the query string (reads) or the JSON body (writes).
type Parameters = Map<String, Value>;

/// Where a secret lives, once the project, environment and folder have been checked.
struct Location {
    environment: String,
    path: String,
}

fn from_query(query: HashMap<String, String>) -> Parameters {
    query
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect()
}

fn from_body(body: &[u8]) -> Result<Parameters, Response> {
    match json_body(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Err(BodyError::Missing) => Ok(Parameters::new()),
        Err(BodyError::Malformed) => Err(error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Body is not valid JSON",
        )),
        Ok(_) => Err(validation_failure("body", "Expected object")),
    }
}

/// A text parameter, trimmed as the zod schemas trim them; JSON `null` counts as absent (the
/// Python SDK sends `null` for every optional field it was not given).
fn text(parameters: &Parameters, name: &str) -> Option<String> {
    match parameters.get(name)? {
        Value::String(text) => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Checks project, environment and folder, as the API does before it looks at the secret.
fn locate(
    world: &World,
    dialect: Dialect,
    parameters: &Parameters,
    reading: bool,
) -> Result<Location, Response> {
    let project = &world.infisical;
    let project_matches = match dialect {
        Dialect::V4 => {
            let Some(project_id) = text(parameters, "projectId") else {
                return Err(validation_failure("projectId", "Required"));
            };
            project_id == project.project_id
        }
        Dialect::V3 => {
            let id = text(parameters, "workspaceId").filter(|id| !id.is_empty());
            let slug = text(parameters, "workspaceSlug")
                .or_else(|| text(parameters, "projectSlug"))
                .filter(|slug| !slug.is_empty());
            match (id, slug) {
                (Some(id), _) => id == project.project_id,
                (None, Some(slug)) => slug == project.project_slug,
                (None, None) => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "Must provide either workspaceId or workspaceSlug",
                    ));
                }
            }
        }
    };
    if !project_matches {
        return Err(error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Project not found",
        ));
    }
    let Some(environment) = text(parameters, "environment").filter(|slug| !slug.is_empty()) else {
        // GET declares environment optional and the handler rejects its absence; writes require
        // it in the schema.
        return Err(if reading {
            error(StatusCode::BAD_REQUEST, "BadRequest", "Missing environment")
        } else {
            validation_failure("environment", "Required")
        });
    };
    if !project
        .environments
        .iter()
        .any(|candidate| candidate.slug == environment)
    {
        return Err(error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "Environment with slug '{environment}' in project with ID '{}' not found",
                project.project_id
            ),
        ));
    }
    let path = normalize_path(&text(parameters, "secretPath").unwrap_or_default());
    if !project.folder_exists(&environment, &path) {
        return Err(error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Folder with path '{path}' in environment with slug '{environment}' not found"),
        ));
    }
    if text(parameters, "type").is_some_and(|kind| kind == "personal") {
        return Err(error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Personal secrets are not emulated",
        ));
    }
    Ok(Location { environment, path })
}

fn find_index(world: &World, location: &Location, name: &str) -> Option<usize> {
    world.infisical.secrets.iter().position(|secret| {
        secret.environment == location.environment
            && secret.path == location.path
            && secret.key == name
    })
}

fn secret_not_found(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("Secret with name '{name}' not found"),
    )
}

fn writes_failing() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        "Something went wrong",
    )
}

/// `viewSecretValue`: the strings "true" or "false" (default true); anything else is a 422.
fn value_hidden(parameters: &Parameters) -> Result<bool, Response> {
    match text(parameters, "viewSecretValue").as_deref() {
        None | Some("true") => Ok(false),
        Some("false") => Ok(true),
        Some(_) => Err(validation_failure(
            "viewSecretValue",
            "Expected 'true' | 'false'",
        )),
    }
}

/// The query flags that are the strings "true" or "false", and `type`: anything else is the
/// 422 zod gives (`viewSecretValue` is read by [`value_hidden`]).
fn check_query(parameters: &Parameters) -> Result<(), Response> {
    for flag in ["expandSecretReferences", "include_imports", "recursive"] {
        if let Some(given) = text(parameters, flag)
            && !matches!(given.as_str(), "true" | "false")
        {
            return Err(validation_failure(flag, "Expected 'true' | 'false'"));
        }
    }
    check_type(parameters)
}

/// `type`: `shared` (the default) or `personal`, which this emulator does not keep.
fn check_type(parameters: &Parameters) -> Result<(), Response> {
    match parameters.get("type") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(kind)) if kind == "shared" => Ok(()),
        Some(Value::String(kind)) if kind == "personal" => Err(error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Personal secrets are not emulated: write shared ones (the default type)",
        )),
        Some(_) => Err(validation_failure(
            "type",
            "Invalid enum value. Expected 'shared' | 'personal'",
        )),
    }
}

/// The body fields that are text.
const TEXT_FIELDS: [&str; 9] = [
    "projectId",
    "workspaceId",
    "workspaceSlug",
    "projectSlug",
    "environment",
    "secretPath",
    "secretValue",
    "secretComment",
    "newSecretName",
];

/// The types of a write's body fields, as the route's zod schema checks them before anything
/// else (`null` passes for the optional ones: the Python SDK sends it for each it was not given).
fn check_body(parameters: &Parameters) -> Result<(), Response> {
    let received = |value: &Value| match value {
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::String(_) => "string",
        Value::Null => "null",
    };
    let wrong = |field: &str, expected: &str, value: &Value| {
        Err(validation_failure(
            field,
            &format!("Expected {expected}, received {}", received(value)),
        ))
    };
    for (field, value) in parameters {
        match (field.as_str(), value) {
            (_, Value::Null) => {}
            (name, Value::String(_)) if TEXT_FIELDS.contains(&name) => {}
            (name, other) if TEXT_FIELDS.contains(&name) => return wrong(field, "string", other),
            ("secretReminderNote", Value::String(note)) if note.chars().count() > 1024 => {
                return Err(validation_failure(
                    field,
                    "String must contain at most 1024 character(s)",
                ));
            }
            ("secretReminderNote", Value::String(_)) => {}
            ("secretReminderNote", other) => return wrong(field, "string", other),
            ("secretReminderRepeatDays", Value::Number(_)) => {}
            ("secretReminderRepeatDays", other) => return wrong(field, "number", other),
            ("skipMultilineEncoding", Value::Bool(_)) => {}
            ("skipMultilineEncoding", other) => return wrong(field, "boolean", other),
            ("tagIds" | "secretReminderRecipients", Value::Array(items)) => {
                if let Some(item) = items.iter().find(|item| !item.is_string()) {
                    return wrong(field, "string", item);
                }
            }
            ("tagIds" | "secretReminderRecipients", other) => return wrong(field, "array", other),
            ("secretMetadata", Value::Array(entries)) => {
                for entry in entries {
                    let key = entry.get("key").and_then(Value::as_str);
                    let value = entry.get("value");
                    let encrypted = entry.get("isEncrypted");
                    if !entry.is_object()
                        || !key.is_some_and(|key| (1..=255).contains(&key.chars().count()))
                        || value.is_some_and(|value| {
                            value
                                .as_str()
                                .is_none_or(|text| text.chars().count() > 1020)
                        })
                        || encrypted.is_some_and(|flag| !flag.is_boolean())
                    {
                        return Err(validation_failure(
                            field,
                            "Expected {key: string (1-255), value?: string (at most 1020), isEncrypted?: boolean}",
                        ));
                    }
                }
            }
            ("secretMetadata", other) => return wrong(field, "array", other),
            _ => {}
        }
    }
    check_type(parameters)
}

/// Sets what a write names of a secret's reminder, multiline flag and metadata; a field it
/// leaves out keeps its value (`null` clears a reminder).
fn set_attributes(secret: &mut StoredSecret, parameters: &Parameters) {
    let attributes = &mut secret.attributes;
    if let Some(note) = parameters.get("secretReminderNote") {
        attributes.reminder_note = note.as_str().map(str::to_owned);
    }
    if let Some(days) = parameters.get("secretReminderRepeatDays") {
        attributes.reminder_repeat_days = days.as_number().cloned();
    }
    if let Some(Value::Bool(skip)) = parameters.get("skipMultilineEncoding") {
        attributes.skip_multiline_encoding = *skip;
    }
    if let Some(Value::Array(entries)) = parameters.get("secretMetadata") {
        attributes.metadata = entries
            .iter()
            .map(|entry| {
                json!({
                    "key": entry.get("key").cloned().unwrap_or(Value::Null),
                    "value": entry.get("value").cloned().unwrap_or_else(|| json!("")),
                    "isEncrypted": entry.get("isEncrypted").cloned().unwrap_or(json!(false)),
                })
            })
            .collect();
    }
}

/// Secret names: at least one character, and neither `:` nor `/`.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains([':', '/'])
}

/// Checks the caller, then the parameters, then project, environment and folder (in the order
/// Infisical answers them: a 401 before a 400), and keeps the world locked for the handler.
fn open<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    dialect: Dialect,
    parameters: Result<Parameters, Response>,
    reading: bool,
) -> Result<(MutexGuard<'s, World>, Parameters, Location), Response> {
    let world = state.world();
    authenticate(&world, headers)?;
    let parameters = parameters?;
    if reading {
        check_query(&parameters)?;
    } else {
        check_body(&parameters)?;
    }
    let location = locate(&world, dialect, &parameters, reading)?;
    Ok((world, parameters, location))
}

fn single(secret: &StoredSecret, project_id: &str) -> Response {
    axum::Json(json!({ "secret": secret.to_json(secret.current(), project_id, false) }))
        .into_response()
}

/// Reads a secret by name, at its newest version or the one `version` names.
pub(super) async fn get<G: Generation>(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let (world, parameters, location) =
        open(&state, &headers, G::DIALECT, Ok(from_query(query)), true)?;
    let hidden = value_hidden(&parameters)?;
    let index =
        find_index(&world, &location, name.trim()).ok_or_else(|| secret_not_found(&name))?;
    let secret = &world.infisical.secrets[index];
    let version = match text(&parameters, "version") {
        None => secret.current(),
        Some(wanted) => {
            let Ok(wanted) = wanted.parse::<u32>() else {
                return Err(validation_failure("version", "Expected number"));
            };
            secret
                .history()
                .iter()
                .find(|version| version.version == wanted)
                .ok_or_else(|| {
                    error(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        format!("Secret version {wanted} of '{name}' not found"),
                    )
                })?
        }
    };
    let body = json!({ "secret": secret.to_json(version, &world.infisical.project_id, hidden) });
    Ok(axum::Json(body).into_response())
}

/// Lists a folder's secrets (with `recursive=true`, its subfolders' too).
pub(super) async fn list<G: Generation>(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let (world, parameters, location) =
        open(&state, &headers, G::DIALECT, Ok(from_query(query)), true)?;
    let hidden = value_hidden(&parameters)?;
    let recursive = text(&parameters, "recursive").as_deref() == Some("true");
    let below = |path: &str| {
        path == location.path
            || (recursive
                && (location.path == "/" || path.starts_with(&format!("{}/", location.path))))
    };
    let project_id = &world.infisical.project_id;
    let secrets: Vec<Value> = world
        .infisical
        .secrets
        .iter()
        .filter(|secret| secret.environment == location.environment && below(&secret.path))
        .map(|secret| secret.to_json(secret.current(), project_id, hidden))
        .collect();
    Ok(axum::Json(json!({ "secrets": secrets, "imports": [] })).into_response())
}

/// Creates a secret at version 1 (200, as Infisical answers); an existing name is an error.
pub(super) async fn create<G: Generation>(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let (mut world, parameters, location) =
        open(&state, &headers, G::DIALECT, from_body(&body), false)?;
    let name = name.trim();
    if !valid_name(name) {
        return Err(validation_failure(
            "secretName",
            "Secret name cannot contain colon or forward slash",
        ));
    }
    let Some(Value::String(value)) = parameters.get("secretValue") else {
        return Err(validation_failure("secretValue", "Required"));
    };
    if world.faults.infisical_fail_writes {
        return Err(writes_failing());
    }
    if find_index(&world, &location, name).is_some() {
        // The status and wording for this case were not verified against a live server.
        return Err(error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Secret already exist",
        ));
    }
    let mut secret = StoredSecret::new(
        &location.environment,
        &location.path,
        name,
        &normalize_value(value),
    );
    secret.versions[0].comment = text(&parameters, "secretComment").unwrap_or_default();
    set_attributes(&mut secret, &parameters);
    tracing::info!(environment = %location.environment, path = %location.path, name, "created an Infisical secret");
    let response = single(&secret, &world.infisical.project_id);
    world.infisical.secrets.push(secret);
    Ok(response)
}

/// Updates a secret's value, name or comment, writing a new version; a missing one is a 404.
pub(super) async fn update<G: Generation>(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let (mut guard, parameters, location) =
        open(&state, &headers, G::DIALECT, from_body(&body), false)?;
    // Through a plain reference, so the secret and the project id can be borrowed together.
    let world = &mut *guard;
    let new_value = match parameters.get("secretValue") {
        None | Some(Value::Null) => None,
        Some(Value::String(value)) => Some(normalize_value(value)),
        Some(_) => return Err(validation_failure("secretValue", "Expected string")),
    };
    let new_name = text(&parameters, "newSecretName");
    if new_name
        .as_deref()
        .is_some_and(|new_name| !valid_name(new_name))
    {
        return Err(validation_failure(
            "newSecretName",
            "Secret name cannot contain colon or forward slash",
        ));
    }
    let index = find_index(world, &location, name.trim()).ok_or_else(|| secret_not_found(&name))?;
    if world.faults.infisical_fail_writes {
        return Err(writes_failing());
    }
    if let Some(new_name) = &new_name
        && new_name != name.trim()
        && find_index(world, &location, new_name).is_some()
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Secret already exist",
        ));
    }
    let secret = &mut world.infisical.secrets[index];
    if let Some(new_name) = new_name {
        secret.key = new_name;
    }
    set_attributes(secret, &parameters);
    // Infisical writes a new version row on every successful update, so the version goes up even
    // when only the comment changed.
    let value = new_value.unwrap_or_else(|| secret.current_value().to_owned());
    let comment =
        text(&parameters, "secretComment").unwrap_or_else(|| secret.current().comment.clone());
    secret.push_version(value, comment);
    tracing::info!(environment = %location.environment, path = %location.path, name = %secret.key, version = secret.version(), "updated an Infisical secret");
    Ok(single(secret, &world.infisical.project_id))
}

/// Deletes a secret, its parameters in a JSON body, and answers with what was deleted.
pub(super) async fn delete<G: Generation>(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let (mut world, _, location) = open(&state, &headers, G::DIALECT, from_body(&body), false)?;
    let index =
        find_index(&world, &location, name.trim()).ok_or_else(|| secret_not_found(&name))?;
    if world.faults.infisical_fail_writes {
        return Err(writes_failing());
    }
    let secret = world.infisical.secrets.remove(index);
    tracing::info!(environment = %location.environment, path = %location.path, name = %secret.key, "deleted an Infisical secret");
    Ok(single(&secret, &world.infisical.project_id))
}
