//! Infisical: login, v4 and v3 secrets by name, version history, trimming, folders and faults.

use reqwest::{Client, RequestBuilder};
use runbook::emulator::Emulator;
use serde_json::{Value, json};

use super::{bearer, credential, send, start, with_json};

const FOLDER: &str = "/MooseQuest/cloudflare";

async fn login(emulator: &Emulator) -> String {
    let reply = send(with_json(
        Client::new().post(format!(
            "{}/api/v1/auth/universal-auth/login",
            emulator.url()
        )),
        &json!({
            "clientId": credential(emulator, "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID"),
            "clientSecret": credential(emulator, "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET"),
        }),
    ))
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["tokenType"], "Bearer");
    assert!(reply.body["expiresIn"].is_u64() && reply.body["accessTokenMaxTTL"].is_u64());
    reply.body["accessToken"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

fn authorized(request: RequestBuilder, token: &str) -> RequestBuilder {
    request.header("authorization", bearer(token))
}

fn v4(emulator: &Emulator, name: &str) -> String {
    format!("{}/api/v4/secrets/{name}", emulator.url())
}

#[tokio::test]
async fn login_rejects_wrong_credentials() {
    let emulator = start().await;
    let reply = send(with_json(
        Client::new().post(format!(
            "{}/api/v1/auth/universal-auth/login",
            emulator.url()
        )),
        &json!({ "clientId": "nobody", "clientSecret": "nothing" }),
    ))
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["statusCode"], 401);
    assert!(
        reply.body["reqId"].is_string()
            && reply.body["error"].is_string()
            && reply.body["message"].is_string()
    );
}

#[tokio::test]
async fn v4_reads_the_seeded_value_with_a_trailing_slash_path() {
    let emulator = start().await;
    let token = login(&emulator).await;
    let project = credential(&emulator, "INFISICAL_PROJECT_ID");
    let url = format!(
        "{}?projectId={project}&environment=prod&secretPath=/MooseQuest/cloudflare/",
        v4(&emulator, "CF_PAGES_DEPLOY")
    );

    let reply = send(authorized(Client::new().get(&url), &token)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body["secret"]["secretValue"],
        credential(&emulator, "CF_PAGES_DEPLOY").as_str()
    );
    assert_eq!(reply.body["secret"]["secretPath"], FOLDER);
    assert_eq!(reply.body["secret"]["workspace"], project.as_str());

    let hidden = send(authorized(
        Client::new().get(format!("{url}&viewSecretValue=false")),
        &token,
    ))
    .await;
    assert_eq!(hidden.body["secret"]["secretValueHidden"], true);
    assert_ne!(
        hidden.body["secret"]["secretValue"],
        credential(&emulator, "CF_PAGES_DEPLOY").as_str()
    );

    let anonymous = send(Client::new().get(&url)).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn create_update_and_read_old_versions() {
    let emulator = start().await;
    let token = login(&emulator).await;
    let project = credential(&emulator, "INFISICAL_PROJECT_ID");
    let client = Client::new();
    let body = |value: Option<&str>| {
        let mut body = json!({ "projectId": project, "environment": "prod", "secretPath": "/MooseQuest/cloudflare/" });
        if let Some(value) = value {
            body["secretValue"] = Value::from(value);
        }
        body
    };
    let url = v4(&emulator, "CF_ACCESS_SVC_SANDBOX");

    let created = send(with_json(
        authorized(client.post(&url), &token),
        &body(Some("  first  ")),
    ))
    .await;
    assert_eq!(created.status, 200);
    assert_eq!(created.body["secret"]["version"], 1);
    assert_eq!(
        created.body["secret"]["secretValue"], "first",
        "values are trimmed"
    );

    let duplicate = send(with_json(
        authorized(client.post(&url), &token),
        &body(Some("again")),
    ))
    .await;
    assert_eq!(duplicate.status, 400);

    let updated = send(with_json(
        authorized(client.patch(&url), &token),
        &body(Some("second\n")),
    ))
    .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["secret"]["version"], 2);
    assert_eq!(
        updated.body["secret"]["secretValue"], "second\n",
        "one trailing newline survives"
    );

    let missing = send(with_json(
        authorized(client.patch(v4(&emulator, "NOT_THERE")), &token),
        &body(Some("x")),
    ))
    .await;
    assert_eq!(missing.status, 404);

    let old = send(authorized(
        client.get(format!(
            "{url}?projectId={project}&environment=prod&secretPath={FOLDER}&version=1"
        )),
        &token,
    ))
    .await;
    assert_eq!(old.status, 200);
    assert_eq!(old.body["secret"]["secretValue"], "first");
    assert_eq!(old.body["secret"]["version"], 1);

    let id = {
        let world = emulator.world();
        let secret = world
            .infisical_secret("prod", "/MooseQuest/cloudflare/", "CF_ACCESS_SVC_SANDBOX")
            .expect("stored");
        assert_eq!(secret.version(), 2);
        let values: Vec<&str> = secret
            .history()
            .iter()
            .map(|version| version.value())
            .collect();
        assert_eq!(values, ["first", "second\n"]);
        secret.id.clone()
    };

    // Secret versions are for people: a machine identity is refused, a user session is not.
    let history_url = format!(
        "{}/api/v1/secret/{id}/secret-versions?offset=0&limit=10",
        emulator.url()
    );
    let as_machine = send(authorized(client.get(&history_url), &token)).await;
    assert_eq!(as_machine.status, 403);
    let user = emulator
        .world()
        .infisical()
        .user_session_token()
        .expect("seeded")
        .to_owned();
    let as_user = send(authorized(client.get(&history_url), &user)).await;
    assert_eq!(as_user.status, 200);
    assert_eq!(as_user.body["secretVersions"][0]["version"], 2);
    assert_eq!(as_user.body["secretVersions"][1]["secretValue"], "first");

    let deleted = send(with_json(
        authorized(client.delete(&url), &token),
        &body(None),
    ))
    .await;
    assert_eq!(deleted.status, 200);
    assert!(
        emulator
            .world()
            .infisical_secret("prod", FOLDER, "CF_ACCESS_SVC_SANDBOX")
            .is_none()
    );
}

#[tokio::test]
async fn missing_folder_environment_and_fields_are_errors() {
    let emulator = start().await;
    let token = login(&emulator).await;
    let project = credential(&emulator, "INFISICAL_PROJECT_ID");
    let client = Client::new();
    let url = v4(&emulator, "NEW_SECRET");

    let no_folder = send(with_json(
        authorized(client.post(&url), &token),
        &json!({ "projectId": project, "environment": "prod", "secretPath": "/Nowhere", "secretValue": "x" }),
    ))
    .await;
    assert_eq!(no_folder.status, 404);
    assert_eq!(no_folder.body["statusCode"], 404);

    let no_environment = send(authorized(
        client.get(format!("{url}?projectId={project}")),
        &token,
    ))
    .await;
    assert_eq!(no_environment.status, 400);

    let no_value = send(with_json(
        authorized(client.post(&url), &token),
        &json!({ "projectId": project, "environment": "prod" }),
    ))
    .await;
    assert_eq!(no_value.status, 422);

    let bad_name = send(with_json(
        authorized(client.post(v4(&emulator, "a:b")), &token),
        &json!({ "projectId": project, "environment": "prod", "secretValue": "x" }),
    ))
    .await;
    assert_eq!(bad_name.status, 422);

    let not_json = send(
        authorized(client.post(&url), &token)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    assert_eq!(not_json.status, 400);
}

#[tokio::test]
async fn v3_raw_routes_use_the_workspace_id_or_slug() {
    let emulator = start().await;
    let token = login(&emulator).await;
    let project = credential(&emulator, "INFISICAL_PROJECT_ID");
    let slug = emulator.world().infisical().project_slug().to_owned();
    let client = Client::new();
    let base = format!("{}/api/v3/secrets/raw", emulator.url());

    let listed = send(authorized(
        client.get(format!(
            "{base}?workspaceId={project}&environment=staging&secretPath={FOLDER}"
        )),
        &token,
    ))
    .await;
    assert_eq!(listed.status, 200);
    assert!(
        listed.body["secrets"]
            .as_array()
            .is_some_and(|secrets| secrets.len() >= 10)
    );
    assert!(listed.body["imports"].is_array());

    let one = send(authorized(
        client.get(format!(
            "{base}/CF_ACCESS_MGMT?workspaceSlug={slug}&environment=staging&secretPath={FOLDER}"
        )),
        &token,
    ))
    .await;
    assert_eq!(
        one.body["secret"]["secretValue"],
        credential(&emulator, "CF_ACCESS_MGMT").as_str()
    );

    let updated = send(with_json(
        authorized(client.patch(format!("{base}/CF_ACCESS_MGMT")), &token),
        &json!({ "workspaceId": project, "projectSlug": null, "environment": "staging", "secretPath": FOLDER, "secretValue": "rolled", "secretComment": null }),
    ))
    .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["secret"]["version"], 2);
    assert_eq!(
        emulator
            .world()
            .infisical_secret("staging", FOLDER, "CF_ACCESS_MGMT")
            .map(|secret| secret.current_value().to_owned()),
        Some("rolled".to_owned())
    );

    let created = send(with_json(
        authorized(client.post(format!("{base}/CF_V3_NEW")), &token),
        &json!({ "workspaceId": project, "environment": "staging", "secretPath": FOLDER, "secretValue": "v" }),
    ))
    .await;
    assert_eq!(created.status, 200);
    let deleted = send(with_json(
        authorized(client.delete(format!("{base}/CF_V3_NEW")), &token),
        &json!({ "workspaceId": project, "environment": "staging", "secretPath": FOLDER }),
    ))
    .await;
    assert_eq!(deleted.status, 200);
}

#[tokio::test]
async fn failing_writes_answer_500_and_change_nothing() {
    let emulator = start().await;
    let token = login(&emulator).await;
    let project = credential(&emulator, "INFISICAL_PROJECT_ID");
    emulator.world().faults.infisical_fail_writes = true;

    let reply = send(with_json(
        authorized(Client::new().patch(v4(&emulator, "CF_PAGES_READ")), &token),
        &json!({ "projectId": project, "environment": "prod", "secretPath": FOLDER, "secretValue": "new" }),
    ))
    .await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body["statusCode"], 500);
    let world = emulator.world();
    let secret = world
        .infisical_secret("prod", FOLDER, "CF_PAGES_READ")
        .expect("seeded");
    assert_eq!(secret.version(), 1);
}

/// What a write may set besides the value (reminder, multiline flag, metadata) is kept and
/// shown back; fields of the wrong type, and query flags that are not "true"/"false", are
/// zod's 422; malformed JSON at login is a 400, as on every route.
#[tokio::test]
async fn write_fields_are_kept_and_checked_like_the_api_does() {
    let emulator = start().await;
    let token = login(&emulator).await;
    let project = credential(&emulator, "INFISICAL_PROJECT_ID");
    let client = Client::new();
    let base = json!({ "projectId": project, "environment": "dev", "secretPath": FOLDER });
    let with = |extra: Value| {
        let mut body = base.clone();
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };

    let created = send(with_json(
        authorized(client.post(v4(&emulator, "NOTED")), &token),
        &with(json!({
            "secretValue": "noted value",
            "secretReminderNote": "rotate me",
            "secretReminderRepeatDays": 30,
            "skipMultilineEncoding": true,
            "secretMetadata": [{ "key": "owner", "value": "ops" }],
            "type": "shared",
            "tagIds": null,
        })),
    ))
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let secret = &created.body["secret"];
    assert_eq!(secret["secretReminderNote"], "rotate me");
    assert_eq!(secret["secretReminderRepeatDays"], 30);
    assert_eq!(secret["skipMultilineEncoding"], true);
    assert_eq!(
        secret["secretMetadata"],
        json!([{ "key": "owner", "value": "ops", "isEncrypted": false }])
    );
    // An update keeps what it does not name, and `null` clears the reminder.
    let updated = send(with_json(
        authorized(client.patch(v4(&emulator, "NOTED")), &token),
        &with(json!({ "secretValue": "new value", "secretReminderNote": null })),
    ))
    .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["secret"]["secretReminderNote"], Value::Null);
    assert_eq!(updated.body["secret"]["secretReminderRepeatDays"], 30);
    assert_eq!(updated.body["secret"]["skipMultilineEncoding"], true);
    let read = send(authorized(
        client.get(format!(
            "{}?projectId={project}&environment=dev&secretPath={FOLDER}",
            v4(&emulator, "NOTED")
        )),
        &token,
    ))
    .await;
    assert_eq!(read.body["secret"]["secretMetadata"][0]["key"], "owner");

    for (extra, field, message) in [
        (
            json!({ "secretValue": "x", "secretComment": 5 }),
            "secretComment",
            "Expected string, received number",
        ),
        (
            json!({ "secretValue": "x", "projectId": 7 }),
            "projectId",
            "Expected string, received number",
        ),
        (
            json!({ "secretValue": "x", "tagIds": "t" }),
            "tagIds",
            "Expected array, received string",
        ),
        (
            json!({ "secretValue": "x", "skipMultilineEncoding": "yes" }),
            "skipMultilineEncoding",
            "Expected boolean, received string",
        ),
        (
            json!({ "secretValue": "x", "secretReminderNote": "n".repeat(1025) }),
            "secretReminderNote",
            "String must contain at most 1024 character(s)",
        ),
        (
            json!({ "secretValue": "x", "type": "bogus" }),
            "type",
            "Invalid enum value. Expected 'shared' | 'personal'",
        ),
    ] {
        let refused = send(with_json(
            authorized(client.post(v4(&emulator, "REFUSED")), &token),
            &with(extra),
        ))
        .await;
        assert_eq!(refused.status, 422, "{field}: {}", refused.body);
        assert_eq!(refused.body["error"], "ValidationFailure");
        assert_eq!(
            refused.body["message"],
            json!([{ "path": [field], "message": message }])
        );
    }
    assert!(
        emulator
            .world()
            .infisical()
            .secret("dev", FOLDER, "REFUSED")
            .is_none()
    );

    for flag in [
        "expandSecretReferences=maybe",
        "include_imports=perhaps",
        "type=bogus",
    ] {
        let refused = send(authorized(
            client.get(format!(
                "{}?projectId={project}&environment=dev&secretPath={FOLDER}&{flag}",
                v4(&emulator, "NOTED")
            )),
            &token,
        ))
        .await;
        assert_eq!(refused.status, 422, "{flag}: {}", refused.body);
    }

    let malformed = send(
        client
            .post(format!(
                "{}/api/v1/auth/universal-auth/login",
                emulator.url()
            ))
            .header("content-type", "application/json")
            .body("{bad"),
    )
    .await;
    assert_eq!(malformed.status, 400, "{}", malformed.body);
}
