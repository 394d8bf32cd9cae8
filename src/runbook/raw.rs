//! The runbook format as written: a serde model that mirrors the YAML, with spans.
//!
//! Nothing here is validated beyond its shape; `check` turns it into a [`super::model::Runbook`].
//! The doc comments are the field descriptions of the published JSON Schema (`runbook schema`),
//! which is what an editor shows while an author types.

use std::fmt;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, SeqAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer};

use super::span::Spanned;

/// A runbook: a standard operating procedure as an ordered list of steps.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "runbook", example = example_runbook())]
pub struct RawRunbook {
    /// The runbook's name: lowercase words joined by dashes, usually the file name.
    #[schemars(example = &"cloudflare-access-service-token", regex(pattern = r"^[a-z0-9][a-z0-9-]*$"))]
    pub runbook: Spanned<String>,
    /// A one-line title, as the SOP's heading.
    #[schemars(example = &"Rotate a Cloudflare Access service token")]
    pub title: Spanned<String>,
    /// What the procedure is for, in Markdown: the SOP's introduction.
    #[serde(default)]
    #[schemars(example = &"Create new, swap consumers, delete old.")]
    pub description: Option<Spanned<String>>,
    /// The SOP's header: mode, validation, duration and required role.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"mode": "programmatic", "last_validated": "2026-05-01", "average_duration": "3m", "required_role": "superadmin"}))]
    pub metadata: Option<RawMetadata>,
    /// The secret names this runbook rotates, with the legacy aliases kept until a cleanup.
    #[serde(default)]
    #[schemars(example = serde_json::json!([{"name": "CF_ACCESS_SVC_CONSOLE", "legacy": ["CF_ACCESS_SERVICE_TOKEN_CONSOLE"]}]))]
    pub applies_to: Vec<Spanned<RawAppliesTo>>,
    /// Named base URLs. Templates use them as `{{ services.NAME }}`; `--service NAME=URL` points
    /// one at staging or at a local emulator.
    #[serde(default)]
    #[schemars(example = example_services())]
    pub services: IndexMap<String, Spanned<String>>,
    /// Values the operator supplies: from `--var NAME=VALUE`, an environment variable, a default,
    /// or a prompt. Names are lowercase identifiers.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"mgmt_token": {"env": ["CF_ACCESS_MGMT", "CLOUDFLARE_ACCESS_MGMT_TOKEN"], "secret": true}}))]
    pub inputs: IndexMap<String, Spanned<RawInput>>,
    /// Values computed from inputs with a template, e.g. a secret's name from a scope.
    #[serde(default)]
    #[schemars(example = example_vars())]
    pub vars: IndexMap<String, Spanned<String>>,
    /// The steps, run in order.
    #[schemars(example = serde_json::json!([{"id": "verify", "title": "Verify the token", "http": {"get": "{{ services.cloudflare }}/user/tokens/verify", "bearer": "{{ token }}"}}]))]
    pub steps: Vec<Spanned<RawStep>>,
    /// What two runs must not do at the same time: runs whose lock keys are equal (a template
    /// over inputs and vars, e.g. the secret's name) cannot overlap, and one that stopped halfway
    /// blocks the next until it is resumed. Default: the runbook's name.
    #[serde(default)]
    #[schemars(example = &"{{ secret_name }}")]
    pub lock: Option<Spanned<String>>,
    /// The SOP's rollback section, in Markdown.
    #[serde(default)]
    #[schemars(example = &"Until the old token is deleted both are valid: restore the consumers from Infisical history.")]
    pub rollback: Option<Spanned<String>>,
    /// Known gotchas, one Markdown paragraph each.
    #[serde(default)]
    #[schemars(example = vec!["The client secret is shown once."])]
    pub gotchas: Vec<Spanned<String>>,
    /// Warnings of `runbook check` accepted for the whole runbook: code → the reason.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"RB130": "kept for the next version of this runbook"}))]
    pub allow: IndexMap<String, Spanned<String>>,
}

/// The SOP's header fields.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMetadata {
    /// How the procedure is carried out: `programmatic` or `manual`.
    #[schemars(example = &"programmatic")]
    pub mode: Option<Spanned<String>>,
    /// When the procedure last ran successfully end to end (YYYY-MM-DD).
    #[schemars(example = &"2026-05-01")]
    pub last_validated: Option<Spanned<String>>,
    /// How it was validated.
    #[schemars(example = &"read-only-docs")]
    pub validation_method: Option<Spanned<String>>,
    /// How long a run usually takes.
    #[schemars(example = &"3m")]
    pub average_duration: Option<Spanned<String>>,
    /// The role an operator needs.
    #[schemars(example = &"superadmin")]
    pub required_role: Option<Spanned<String>>,
}

/// A secret name this runbook rotates.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAppliesTo {
    /// The name in the current taxonomy (`CF_<SURFACE>_<SCOPE>`).
    #[schemars(example = &"CF_ACCESS_SVC_CONSOLE")]
    pub name: Spanned<String>,
    /// Older names that must keep working until the cleanup.
    #[serde(default)]
    #[schemars(example = vec!["CF_ACCESS_SERVICE_TOKEN_CONSOLE"])]
    pub legacy: Vec<Spanned<String>>,
    /// A note on this name.
    #[serde(default)]
    #[schemars(example = &"future per-surface service tokens follow the same pattern")]
    pub description: Option<Spanned<String>>,
}

/// An input: a value the operator supplies.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    /// What the value is and where to find it.
    #[serde(default)]
    #[schemars(example = &"Cloudflare account id (dash.cloudflare.com, account selector).")]
    pub description: Option<Spanned<String>>,
    /// Environment variables to read, first set one wins (new name first, legacy fallback).
    /// Names may be templates over other inputs and vars.
    #[serde(default)]
    #[schemars(example = vec!["CF_ACCESS_MGMT", "CLOUDFLARE_ACCESS_MGMT_TOKEN"])]
    pub env: Vec<Spanned<String>>,
    /// The value when none is given; a template over other inputs and vars.
    #[serde(default)]
    #[schemars(example = &"CONSOLE")]
    pub default: Option<Spanned<String>>,
    /// A secret is never shown, logged or written, and cannot be given with `--var`.
    #[serde(default)]
    #[schemars(example = true)]
    pub secret: bool,
    /// Whether a value is needed. Defaults to true unless there is a default; an optional input
    /// without a value is `none` in templates.
    #[serde(default)]
    #[schemars(example = false)]
    pub required: Option<bool>,
    /// A regular expression the whole value must match.
    #[serde(default)]
    #[schemars(example = &"^[0-9a-f]{32}$")]
    pub pattern: Option<Spanned<String>>,
    /// The only values allowed.
    #[serde(default)]
    #[schemars(example = vec!["CF_PAGES_DEPLOY", "CF_ACCESS_MGMT", "CF_PAGES_READ"])]
    pub choices: Vec<Spanned<String>>,
    /// An example value, shown in the rendered SOP and in prompts.
    #[serde(default)]
    #[schemars(example = &"0123456789abcdef0123456789abcdef")]
    pub example: Option<Spanned<String>>,
}

/// One step of the procedure: an action (exactly one of `http`, `manual`, `propagate`, `audit`)
/// with what to capture and expect from it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// A unique id: lowercase words joined by dashes.
    #[schemars(example = &"delete-old-token", regex(pattern = r"^[a-z0-9][a-z0-9-]*$"))]
    pub id: Spanned<String>,
    /// A one-line title.
    #[schemars(example = &"Delete the old service token")]
    pub title: Spanned<String>,
    /// The SOP's prose for this step, in Markdown.
    #[serde(default)]
    #[schemars(example = &"Revokes all access immediately; existing sessions become invalid.")]
    pub description: Option<Spanned<String>>,
    /// A condition (an expression, without braces): the step runs only when it holds.
    #[serde(default)]
    #[schemars(example = &"secret_name == 'CF_PAGES_READ'")]
    pub when: Option<Spanned<String>>,
    /// Run the step once per item: a list (items may be templates) or an expression that yields
    /// a list. The item is `{{ item }}`.
    #[serde(default)]
    #[schemars(example = vec!["raxx-api-prod", "raxx-api-staging"])]
    pub for_each: Option<Spanned<RawForEach>>,
    /// Repeat the step until its expectations (and `until`) hold: polling.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"attempts": 30, "interval": "1s", "backoff": 1.2, "until": "response.json.cloudflare.ok"}))]
    pub retry: Option<Box<Spanned<RawRetry>>>,
    /// The longest the whole step may take, retries and polling included (`5m`; at most 24h).
    #[serde(default)]
    #[schemars(example = &"5m")]
    pub timeout: Option<Spanned<String>>,
    /// Lets a POST or PATCH be retried on connection errors, 429 and 5xx like the idempotent
    /// methods are: only for requests that are safe to repeat.
    #[serde(default)]
    #[schemars(example = true)]
    pub retryable: Option<bool>,
    /// How `runbook resume` settles this step when a crash left its request unanswered:
    /// `repeat` (safe to send again), or a read-only `check` telling whether it took effect.
    #[serde(default)]
    #[schemars(example = &"repeat")]
    pub resume: Option<Spanned<RawResume>>,
    /// Marks the step irreversible, with the reason; `exec` asks for confirmation first.
    #[serde(default)]
    #[schemars(example = &"Revokes all access for the old token immediately.")]
    pub irreversible: Option<Spanned<String>>,
    /// What to do if this step fails or a later one does: a template rendered with the run's live
    /// values.
    #[serde(default)]
    #[schemars(example = &"Delete the new token {{ new_token_id }}.")]
    pub rollback: Option<Spanned<String>>,
    /// An HTTP request.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"delete": "{{ services.cloudflare }}/accounts/{{ account_id }}/access/service_tokens/{{ old_token_id }}", "bearer": "{{ mgmt_token }}"}))]
    pub http: Option<Box<Spanned<RawHttp>>>,
    /// Instructions the operator carries out by hand and confirms.
    #[serde(default)]
    #[schemars(example = &"DM the operator via Slack to update their local environment.")]
    pub manual: Option<Box<Spanned<RawManual>>>,
    /// Writes values to secret stores and configuration (Infisical, Heroku, GitHub Actions, any
    /// HTTP API), reads them back where the API allows, and reports per target.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"values": {"{{ secret_name }}": "{{ new_value }}"}, "targets": [{"heroku": {"app": "raxx-api-prod", "token": "{{ heroku_api_key }}"}}]}))]
    pub propagate: Option<Box<Spanned<RawPropagate>>>,
    /// Appends an audit record (JSON Lines, and optionally an HTTP callback).
    #[serde(default)]
    #[schemars(example = serde_json::json!({"action": "secret.rotate.completed", "context": {"secret_name": "{{ secret_name }}"}}))]
    pub audit: Option<Box<Spanned<RawAudit>>>,
    /// Values to take from the response, by name.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"new_token_id": "$.result.id", "new_client_secret": {"json": "$.result.client_secret", "secret": "once"}}))]
    pub capture: IndexMap<String, Spanned<RawCapture>>,
    /// What the response must look like.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"status": 201, "json": {"$.success": true}}))]
    pub expect: Option<Box<Spanned<RawExpect>>>,
    /// What a failure status means here, for the operator: status code → message (a template).
    #[serde(default)]
    #[schemars(example = example_hints())]
    pub hints: IndexMap<String, Spanned<String>>,
    /// Warnings of `runbook check` accepted on this step: code → the reason.
    #[serde(default)]
    #[schemars(example = example_allow())]
    pub allow: IndexMap<String, Spanned<String>>,
}

/// How a resume settles a step whose request was sent but never answered.
#[derive(Debug)]
pub enum RawResume {
    /// `repeat`: sending it again is harmless.
    Repeat,
    Check(Box<RawResumeCheck>),
}

/// A read-only request that tells whether the step already took effect.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawResumeCheck {
    /// The read-only request (`get:` and the rest, like `http:`).
    #[schemars(example = serde_json::json!({"get": "{{ services.cloudflare }}/accounts/{{ account_id }}/access/service_tokens", "bearer": "{{ mgmt_token }}"}))]
    pub check: Spanned<RawHttp>,
    /// An expression over `response` (the check's answer): true when the step took effect.
    #[schemars(example = &"response.json.result | selectattr('name', 'eq', new_token_name) | list | length > 0")]
    pub took_effect: Spanned<String>,
    /// When it took effect but its answer (and what it captured) was lost: a request that undoes
    /// it (its templates see the check's `response`), after which the step runs again. Without
    /// `undo`, a step that took effect is taken as done.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"delete": "{{ services.cloudflare }}/accounts/{{ account_id }}/access/service_tokens/{{ (response.json.result | selectattr('name', 'eq', new_token_name) | first).id }}", "bearer": "{{ mgmt_token }}"}))]
    pub undo: Option<Spanned<RawHttp>>,
}

impl<'de> Deserialize<'de> for RawResume {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ResumeVisitor;
        impl<'de> Visitor<'de> for ResumeVisitor {
            type Value = RawResume;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("`repeat`, or a map with check and took_effect")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawResume, E> {
                match value {
                    "repeat" => Ok(RawResume::Repeat),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawResume, A::Error> {
                RawResumeCheck::deserialize(MapAccessDeserializer::new(map))
                    .map(|check| RawResume::Check(Box::new(check)))
            }
        }
        deserializer.deserialize_any(ResumeVisitor)
    }
}

impl JsonSchema for RawResume {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Resume".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let check = generator.subschema_for::<RawResumeCheck>();
        json_schema!({
            "description": "How `runbook resume` settles this step when a crash left its request unanswered: `repeat` (safe to send again), or a read-only check.",
            "oneOf": [{"const": "repeat"}, check]
        })
    }
}

/// Values to write, and where. Every target receives `values` unless it has its own.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPropagate {
    /// Name → value, both templates: the new name and each legacy alias, listed explicitly.
    #[serde(default)]
    #[schemars(example = example_propagate_values())]
    pub values: IndexMap<String, Spanned<String>>,
    /// Where to write them, in order; the first failure stops the step.
    #[schemars(example = serde_json::json!([{"github": {"repository": "MooseQuest/raxx", "token": "{{ github_token }}"}}]))]
    pub targets: Vec<Spanned<RawTarget>>,
}

/// One place to write values to: exactly one of `infisical`, `heroku`, `github`, `http`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Infisical secrets: created or updated one by one, then read back and compared.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"project": "{{ infisical_project_id }}", "environment": "prod", "path": "/MooseQuest/cloudflare", "client_id": "{{ infisical_client_id }}", "client_secret": "{{ infisical_client_secret }}"}))]
    pub infisical: Option<Spanned<RawInfisical>>,
    /// Heroku config vars: one PATCH for all names (one release, one restart), then read back.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"app": "raxx-api-prod", "token": "{{ heroku_api_key }}"}))]
    pub heroku: Option<Spanned<RawHeroku>>,
    /// GitHub Actions secrets: sealed with the repository's public key (libsodium sealed box),
    /// then checked through the secret's `updated_at`.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"repository": "MooseQuest/raxx", "token": "{{ github_token }}"}))]
    pub github: Option<Spanned<RawGithub>>,
    /// Any HTTP API: one request per value, with `name` and `value` in its templates.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"put": "{{ services.vault }}/v1/secret/{{ name }}", "json": {"value": "{{ value }}"}}))]
    pub http: Option<Spanned<RawHttp>>,
    /// Values for this target instead of the step's.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"{{ secret_name }}": "{{ new_client_id }}:{{ new_client_secret }}"}))]
    pub values: IndexMap<String, Spanned<String>>,
}

/// An Infisical project folder.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInfisical {
    /// The service with Infisical's base URL. Default `infisical`.
    #[serde(default)]
    #[schemars(example = &"infisical")]
    pub service: Option<Spanned<String>>,
    /// The project id (not its slug).
    #[schemars(example = &"{{ infisical_project_id }}")]
    pub project: Spanned<String>,
    /// The environment slug (`dev`, `staging`, `prod`).
    #[schemars(example = &"prod")]
    pub environment: Spanned<String>,
    /// The folder. Default `/`.
    #[serde(default)]
    #[schemars(example = &"/MooseQuest/cloudflare")]
    pub path: Option<Spanned<String>>,
    /// A machine identity's universal-auth client id (with `client_secret`).
    #[serde(default)]
    #[schemars(example = &"{{ infisical_client_id }}")]
    pub client_id: Option<Spanned<String>>,
    /// A machine identity's universal-auth client secret.
    #[serde(default)]
    #[schemars(example = &"{{ infisical_client_secret }}")]
    pub client_secret: Option<Spanned<String>>,
    /// An access token, instead of `client_id` and `client_secret`.
    #[serde(default)]
    #[schemars(example = &"{{ infisical_token }}")]
    pub token: Option<Spanned<String>>,
}

/// A Heroku app's config vars.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHeroku {
    /// The service with the Platform API's base URL. Default `heroku`.
    #[serde(default)]
    #[schemars(example = &"heroku")]
    pub service: Option<Spanned<String>>,
    /// The app's name or id.
    #[schemars(example = &"raxx-api-prod")]
    pub app: Spanned<String>,
    /// A Platform API key or OAuth token.
    #[schemars(example = &"{{ heroku_api_key }}")]
    pub token: Spanned<String>,
}

/// A GitHub repository's (or one of its environments') Actions secrets.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGithub {
    /// The service with the REST API's base URL. Default `github`.
    #[serde(default)]
    #[schemars(example = &"github")]
    pub service: Option<Spanned<String>>,
    /// `owner/name`.
    #[schemars(example = &"MooseQuest/raxx")]
    pub repository: Spanned<String>,
    /// An environment of the repository, for environment secrets.
    #[serde(default)]
    #[schemars(example = &"production")]
    pub environment: Option<Spanned<String>>,
    /// A token with access to the repository's secrets.
    #[schemars(example = &"{{ github_token }}")]
    pub token: Spanned<String>,
}

/// An audit record: who did what, when, to what; never a secret value (a fingerprint may be).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// What happened.
    #[schemars(example = &"secret.rotate.completed")]
    pub action: Spanned<String>,
    /// Details, as a map whose strings are templates.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"secret_name": "{{ secret_name }}", "fingerprint": "{{ new_value | fingerprint }}"}))]
    pub context: Option<Spanned<serde_json::Value>>,
    /// The JSON Lines file to append to (a template). Default: `audit.jsonl` in the state
    /// directory.
    #[serde(default)]
    #[schemars(example = &"/var/log/runbook/audit.jsonl")]
    pub file: Option<Spanned<String>>,
    /// Also send the record to an HTTP endpoint (its JSON body is the record).
    #[serde(default)]
    #[schemars(example = serde_json::json!({"post": "{{ services.console }}/api/rotations/callback", "bearer": "{{ console_token }}"}))]
    pub callback: Option<Spanned<RawHttp>>,
}

/// An HTTP request: exactly one of `get`, `post`, `put`, `patch`, `delete`, `head` with the URL.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// GET this URL (a template).
    #[serde(default)]
    #[schemars(example = &"{{ services.cloudflare }}/user/tokens/verify")]
    pub get: Option<Spanned<String>>,
    /// POST to this URL (a template).
    #[serde(default)]
    #[schemars(example = &"{{ services.cloudflare }}/accounts/{{ account_id }}/access/service_tokens")]
    pub post: Option<Spanned<String>>,
    /// PUT to this URL (a template).
    #[serde(default)]
    #[schemars(example = &"{{ services.cloudflare }}/user/tokens/{{ token_id }}/value")]
    pub put: Option<Spanned<String>>,
    /// PATCH this URL (a template).
    #[serde(default)]
    #[schemars(example = &"{{ services.api }}/apps/{{ app }}")]
    pub patch: Option<Spanned<String>>,
    /// DELETE this URL (a template).
    #[serde(default)]
    #[schemars(example = &"{{ services.cloudflare }}/accounts/{{ account_id }}/access/service_tokens/{{ old_token_id }}")]
    pub delete: Option<Spanned<String>>,
    /// HEAD this URL (a template).
    #[serde(default)]
    #[schemars(example = &"{{ services.api }}/health")]
    pub head: Option<Spanned<String>>,
    /// Query parameters, URL-encoded and appended to the URL.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"per_page": "50"}))]
    pub query: IndexMap<String, Spanned<String>>,
    /// Request headers (values are templates).
    #[serde(default)]
    #[schemars(example = serde_json::json!({"CF-Access-Client-Id": "{{ new_client_id }}"}))]
    pub headers: IndexMap<String, Spanned<String>>,
    /// Shorthand for `Authorization: Bearer <value>`.
    #[serde(default)]
    #[schemars(example = &"{{ mgmt_token }}")]
    pub bearer: Option<Spanned<String>>,
    /// A JSON body: any YAML value; strings are templates, and a string that is a single
    /// `{{ expression }}` keeps the expression's type.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"name": "{{ new_token_name }}", "duration": "8760h"}))]
    pub json: Option<Spanned<serde_json::Value>>,
    /// A form body (`application/x-www-form-urlencoded`).
    #[serde(default)]
    #[schemars(example = serde_json::json!({"grant_type": "client_credentials"}))]
    pub form: Option<Spanned<IndexMap<String, Spanned<String>>>>,
    /// A raw body (a template); set `Content-Type` in `headers`.
    #[serde(default)]
    #[schemars(example = &"plain text body")]
    pub body: Option<Spanned<String>>,
    /// How long to wait for the response (`30s`, `2m`; at most 24h). Default 30s.
    #[serde(default)]
    #[schemars(example = &"30s")]
    pub timeout: Option<Spanned<String>>,
    /// Declares a POST/PUT/PATCH/DELETE that changes nothing (a search, a login), so the plan
    /// and the safety checks treat it as read-only.
    #[serde(default)]
    #[schemars(example = true)]
    pub read_only: Option<bool>,
}

/// What the response must look like. Every failed expectation is reported, not just the first.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// The status: a code, a list of codes, or a class like `2xx`.
    #[serde(default)]
    #[schemars(example = 201)]
    pub status: Option<Spanned<RawStatus>>,
    /// Conditions on the JSON body, keyed by JSONPath (RFC 9535). A plain value means equality;
    /// a map holds operators: `==`, `!=`, `<`, `<=`, `>`, `>=`, `exists`, `length`, `matches`,
    /// `contains`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawCondition>", example = example_json_expect())]
    pub json: IndexMap<String, Spanned<serde_json::Value>>,
    /// Conditions on response headers, keyed by header name (same operators as `json`).
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawCondition>")]
    #[schemars(example = serde_json::json!({"content-type": {"contains": "json"}}))]
    pub headers: IndexMap<String, Spanned<serde_json::Value>>,
    /// Boolean expressions (without braces) over `response` (`status`, `headers`, `json`,
    /// `body`) and the run's values.
    #[serde(default)]
    #[schemars(example = vec!["response.json.result | length > 0"])]
    pub that: Vec<Spanned<String>>,
}

/// A condition: a plain value (equality) or a map of operators to operands.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
pub enum RawCondition {
    /// The value must equal this.
    Equals(serde_json::Value),
    /// Every operator must hold.
    Operators(Box<RawOperators>),
}

/// Operators of a condition; each must hold.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct RawOperators {
    /// The value must equal this (a template: `"{{ token_id }}"`).
    #[serde(rename = "==")]
    #[schemars(example = &"active")]
    equals: Option<serde_json::Value>,
    /// The value must differ from this.
    #[serde(rename = "!=")]
    #[schemars(example = &"disabled")]
    not_equals: Option<serde_json::Value>,
    /// The number must be less than this.
    #[serde(rename = "<")]
    #[schemars(example = 100)]
    less: Option<f64>,
    /// The number must be at most this.
    #[serde(rename = "<=")]
    #[schemars(example = 100)]
    less_or_equal: Option<f64>,
    /// The number must be greater than this.
    #[serde(rename = ">")]
    #[schemars(example = 0)]
    greater: Option<f64>,
    /// The number must be at least this.
    #[serde(rename = ">=")]
    #[schemars(example = 1)]
    greater_or_equal: Option<f64>,
    /// Whether the path must match something (true) or nothing (false).
    #[schemars(example = true)]
    exists: Option<bool>,
    /// The length of the matched string, list or object: a number or a condition.
    #[schemars(example = serde_json::json!({">": 0}))]
    length: Option<serde_json::Value>,
    /// A regular expression the matched string must match.
    #[schemars(example = &"^raxx-")]
    matches: Option<String>,
    /// A substring, list element or object key the matched value must contain.
    #[schemars(example = &"json")]
    contains: Option<serde_json::Value>,
}

/// Polling: repeat the step until it succeeds.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// How many attempts in all (at least 1).
    #[schemars(example = 10)]
    pub attempts: Spanned<u32>,
    /// The wait before the second attempt (`2s`; at most 24h). Default 1s.
    #[serde(default)]
    #[schemars(example = &"2s")]
    pub interval: Option<Spanned<String>>,
    /// Multiply the wait by this after each attempt (exponential backoff). Default 1.
    #[serde(default)]
    #[schemars(example = 2.0)]
    pub backoff: Option<Spanned<f64>>,
    /// The longest wait between attempts (at most 24h). Default 60s.
    #[serde(default)]
    #[schemars(example = &"5s")]
    pub max_interval: Option<Spanned<String>>,
    /// An expression that must also hold for the step to succeed, e.g. a health flag.
    #[serde(default)]
    #[schemars(example = &"response.json.cloudflare.ok")]
    pub until: Option<Spanned<String>>,
}

/// `for_each`: a list of items or an expression yielding one.
#[derive(Debug)]
pub enum RawForEach {
    Items(Vec<serde_json::Value>),
    Expression(String),
}

impl<'de> Deserialize<'de> for RawForEach {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ForEachVisitor;
        impl<'de> Visitor<'de> for ForEachVisitor {
            type Value = RawForEach;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a list of items or an expression that yields a list")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawForEach, E> {
                Ok(RawForEach::Expression(value.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawForEach, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<serde_json::Value>()? {
                    items.push(item);
                }
                Ok(RawForEach::Items(items))
            }
        }
        deserializer.deserialize_any(ForEachVisitor)
    }
}

impl JsonSchema for RawForEach {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ForEach".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A list of items (strings may be templates) or an expression that yields a list.",
            "oneOf": [{"type": "array"}, {"type": "string"}],
            "examples": [["raxx-api-prod", "raxx-api-staging"]]
        })
    }
}

/// An expected status: one code, several, or a class (`2xx`).
#[derive(Debug)]
pub enum RawStatus {
    Code(i64),
    Codes(Vec<i64>),
    Class(String),
}

impl<'de> Deserialize<'de> for RawStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatusVisitor;
        impl<'de> Visitor<'de> for StatusVisitor {
            type Value = RawStatus;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter
                    .write_str("a status code (200), a list of codes ([200, 204]) or a class (2xx)")
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<RawStatus, E> {
                Ok(RawStatus::Code(value))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<RawStatus, E> {
                Ok(RawStatus::Code(i64::try_from(value).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawStatus, E> {
                match value.parse::<i64>() {
                    Ok(code) => Ok(RawStatus::Code(code)),
                    Err(_) => Ok(RawStatus::Class(value.to_string())),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawStatus, A::Error> {
                let mut codes = Vec::new();
                while let Some(code) = seq.next_element::<i64>()? {
                    codes.push(code);
                }
                Ok(RawStatus::Codes(codes))
            }
        }
        deserializer.deserialize_any(StatusVisitor)
    }
}

impl JsonSchema for RawStatus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Status".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A status code, a list of codes, or a class such as 2xx.",
            "oneOf": [
                {"type": "integer", "minimum": 100, "maximum": 599},
                {"type": "array", "items": {"type": "integer", "minimum": 100, "maximum": 599}},
                {"type": "string", "pattern": "^[1-5]xx$"}
            ],
            "examples": [201, [200, 204], "2xx"]
        })
    }
}

/// A capture: a JSONPath (shorthand) or a map saying where the value comes from.
#[derive(Debug)]
pub enum RawCapture {
    Path(String),
    Spec(RawCaptureSpec),
}

/// Where a captured value comes from (exactly one of `json`, `header`, `body`) and whether it is
/// secret.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCaptureSpec {
    /// A JSONPath into the JSON body that must match exactly one value.
    #[serde(default)]
    #[schemars(example = &"$.result.client_secret")]
    pub json: Option<Spanned<String>>,
    /// A response header.
    #[serde(default)]
    #[schemars(example = &"cf-ray")]
    pub header: Option<Spanned<String>>,
    /// The whole body, as text.
    #[serde(default)]
    #[schemars(example = true)]
    pub body: Option<bool>,
    /// `true` for a secret; `once` for a secret the API shows only once (it must be stored
    /// before the run ends).
    #[serde(default)]
    #[schemars(example = &"once")]
    pub secret: RawSecretFlag,
}

impl<'de> Deserialize<'de> for RawCapture {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CaptureVisitor;
        impl<'de> Visitor<'de> for CaptureVisitor {
            type Value = RawCapture;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter
                    .write_str("a JSONPath like $.result.id, or a map with json, header or body")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawCapture, E> {
                Ok(RawCapture::Path(value.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawCapture, A::Error> {
                RawCaptureSpec::deserialize(MapAccessDeserializer::new(map)).map(RawCapture::Spec)
            }
        }
        deserializer.deserialize_any(CaptureVisitor)
    }
}

impl JsonSchema for RawCapture {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Capture".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let spec = generator.subschema_for::<RawCaptureSpec>();
        json_schema!({
            "description": "A JSONPath into the JSON body (shorthand), or where the value comes from and whether it is secret.",
            "oneOf": [
                {"type": "string", "pattern": "^\\$", "examples": ["$.result.id"]},
                spec
            ]
        })
    }
}

/// Whether a value is secret: `false`, `true`, or `once` (shown once by the API).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RawSecretFlag {
    #[default]
    No,
    Yes,
    Once,
}

impl<'de> Deserialize<'de> for RawSecretFlag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        impl<'de> Visitor<'de> for FlagVisitor {
            type Value = RawSecretFlag;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("true, false or once")
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<RawSecretFlag, E> {
                Ok(if value {
                    RawSecretFlag::Yes
                } else {
                    RawSecretFlag::No
                })
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawSecretFlag, E> {
                match value {
                    "once" => Ok(RawSecretFlag::Once),
                    "true" => Ok(RawSecretFlag::Yes),
                    "false" => Ok(RawSecretFlag::No),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
}

impl JsonSchema for RawSecretFlag {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretFlag".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "true for a secret; once for a secret the API shows only once.",
            "oneOf": [{"type": "boolean"}, {"const": "once"}],
            "default": false
        })
    }
}

/// A manual step: Markdown instructions (shorthand), or a map with them.
#[derive(Debug)]
pub enum RawManual {
    Instructions(String),
    Spec(RawManualSpec),
}

/// A manual step's details.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawManualSpec {
    /// What the operator does, in Markdown (a template).
    #[schemars(example = &"Open the dashboard, press Roll, copy the new value.")]
    pub instructions: Spanned<String>,
    /// The question the operator answers to confirm. Default: "Done?".
    #[serde(default)]
    #[schemars(example = &"Rolled, and the new value copied?")]
    pub confirm: Option<Spanned<String>>,
    /// Values the operator types in once done (a token copied from a dashboard), by name; they
    /// are captures like any other.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"new_value": {"description": "the new token value", "secret": "once", "env": ["CF_NEW_TOKEN_VALUE"]}}))]
    pub ask: IndexMap<String, Spanned<RawAsk>>,
}

/// A value the operator enters at a manual step.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAsk {
    /// What to enter.
    #[serde(default)]
    #[schemars(example = &"the new token value, pasted")]
    pub description: Option<Spanned<String>>,
    /// `true` for a secret (entered hidden), `once` for a secret shown only once.
    #[serde(default)]
    #[schemars(example = &"once")]
    pub secret: RawSecretFlag,
    /// Environment variables to read it from when there is no terminal.
    #[serde(default)]
    #[schemars(example = vec!["CF_NEW_TOKEN_VALUE"])]
    pub env: Vec<Spanned<String>>,
    /// A regular expression the whole value must match.
    #[serde(default)]
    #[schemars(example = &"[A-Za-z0-9_-]{40}")]
    pub pattern: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawManual {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ManualVisitor;
        impl<'de> Visitor<'de> for ManualVisitor {
            type Value = RawManual;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("Markdown instructions, or a map with instructions")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawManual, E> {
                Ok(RawManual::Instructions(value.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawManual, A::Error> {
                RawManualSpec::deserialize(MapAccessDeserializer::new(map)).map(RawManual::Spec)
            }
        }
        deserializer.deserialize_any(ManualVisitor)
    }
}

impl JsonSchema for RawManual {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Manual".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let spec = generator.subschema_for::<RawManualSpec>();
        json_schema!({
            "description": "Instructions the operator carries out by hand and confirms: Markdown (a template), or a map.",
            "oneOf": [{"type": "string"}, spec]
        })
    }
}

fn example_runbook() -> serde_json::Value {
    serde_json::json!({
        "runbook": "verify-token",
        "title": "Verify a Cloudflare API token",
        "services": {"cloudflare": "https://api.cloudflare.com/client/v4"},
        "inputs": {"token": {"env": ["CF_API_TOKEN"], "secret": true}},
        "steps": [{
            "id": "verify",
            "title": "Verify the token",
            "http": {"get": "{{ services.cloudflare }}/user/tokens/verify", "bearer": "{{ token }}"},
            "expect": {"status": 200, "json": {"$.result.status": "active"}}
        }]
    })
}

fn example_services() -> serde_json::Value {
    serde_json::json!({"cloudflare": "https://api.cloudflare.com/client/v4"})
}

fn example_vars() -> serde_json::Value {
    serde_json::json!({"secret_name": "CF_ACCESS_SVC_{{ scope }}"})
}

fn example_allow() -> serde_json::Value {
    serde_json::json!({"RB120": "creating a test fixture; nothing to roll back"})
}

fn example_hints() -> serde_json::Value {
    serde_json::json!({"403": "The Access policy does not admit client id {{ new_client_id }}: add it to the policy, or scope the policy by service-token group."})
}

fn example_propagate_values() -> serde_json::Value {
    serde_json::json!({"{{ secret_name }}": "{{ new_value }}", "{{ legacy_name }}": "{{ new_value }}"})
}

fn example_json_expect() -> serde_json::Value {
    serde_json::json!({"$.success": true, "$.result": {"length": {">": 0}}})
}
