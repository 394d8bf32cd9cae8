//! Cloudflare: Access service tokens, user token verify/list/roll, Pages projects, and auth.

use reqwest::Client;
use serde_json::json;

use super::{bearer, credential, send, start, user_token_id, with_json};

#[tokio::test]
async fn create_service_token_answers_201_with_a_secret_shown_once() {
    let emulator = start().await;
    let account = credential(&emulator, "CF_ACCOUNT_ID");
    let url = format!(
        "{}/accounts/{account}/access/service_tokens",
        emulator.service_urls()[0].1
    );
    let management = credential(&emulator, "CF_ACCESS_MGMT");
    let client = Client::new();

    let created = send(with_json(
        client
            .post(&url)
            .header("authorization", bearer(&management)),
        &json!({ "name": "raxx-console-svc-2026-06-01" }),
    ))
    .await;

    assert_eq!(created.status, 201);
    assert_eq!(created.body["success"], true);
    let result = &created.body["result"];
    let secret = result["client_secret"].as_str().expect("a client secret");
    assert_eq!(secret.len(), 64);
    assert_eq!(result["duration"], "8760h");
    assert!(
        result.get("expires_at").is_none(),
        "create has no expires_at"
    );
    let id = result["id"].as_str().expect("an id").to_owned();
    {
        let world = emulator.world();
        let token = world.cloudflare().service_token(&id).expect("stored");
        assert_eq!(token.client_secret(), secret);
        assert!(token.expires_at.is_some());
        assert_eq!(world.cloudflare().live_service_tokens().len(), 3);
    }

    // The list never shows a secret.
    let listed = send(
        client
            .get(&url)
            .header("authorization", bearer(&management)),
    )
    .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["result_info"]["total_count"], 3);
    assert!(listed.body["result"][2].get("client_secret").is_none());
}

#[tokio::test]
async fn create_service_token_rejects_a_missing_name_and_a_bad_duration() {
    let emulator = start().await;
    let account = credential(&emulator, "CF_ACCOUNT_ID");
    let url = format!(
        "{}/client/v4/accounts/{account}/access/service_tokens",
        emulator.url()
    );
    let management = bearer(&credential(&emulator, "CF_ACCESS_MGMT"));
    let client = Client::new();

    let nameless = send(with_json(
        client
            .post(&url)
            .header("authorization", management.clone()),
        &json!({}),
    ))
    .await;
    assert_eq!(nameless.status, 400);
    assert_eq!(nameless.body["success"], false);
    assert!(nameless.body["result"].is_null());

    let bad_duration = send(with_json(
        client
            .post(&url)
            .header("authorization", management.clone()),
        &json!({ "name": "x", "duration": "a year" }),
    ))
    .await;
    assert_eq!(bad_duration.status, 400);

    let not_json = send(
        client
            .post(&url)
            .header("authorization", management)
            .body("name=x"),
    )
    .await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.body["errors"][0]["code"], 6007);
}

#[tokio::test]
async fn deleted_service_token_is_gone_and_a_second_delete_is_404() {
    let emulator = start().await;
    let account = credential(&emulator, "CF_ACCOUNT_ID");
    let id = credential(&emulator, "CF_ACCESS_SVC_TOKEN_ID");
    let url = format!(
        "{}/client/v4/accounts/{account}/access/service_tokens/{id}",
        emulator.url()
    );
    let management = bearer(&credential(&emulator, "CF_ACCESS_MGMT"));
    let client = Client::new();

    let deleted = send(
        client
            .delete(&url)
            .header("authorization", management.clone()),
    )
    .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["result"]["id"], id.as_str());
    assert!(deleted.body["result"].get("client_secret").is_none());
    assert!(emulator.world().cloudflare().service_token(&id).is_none());

    let again = send(client.delete(&url).header("authorization", management)).await;
    assert_eq!(again.status, 404);
    assert_eq!(again.body["success"], false);
    assert!(again.body["errors"][0]["code"].is_u64());
}

#[tokio::test]
async fn one_service_token_reads_without_its_secret_until_it_is_deleted() {
    let emulator = start().await;
    let account = credential(&emulator, "CF_ACCOUNT_ID");
    let id = credential(&emulator, "CF_ACCESS_SVC_TOKEN_ID");
    let url = format!(
        "{}/client/v4/accounts/{account}/access/service_tokens/{id}",
        emulator.url()
    );
    let management = bearer(&credential(&emulator, "CF_ACCESS_MGMT"));
    let client = Client::new();

    let read = send(client.get(&url).header("authorization", management.clone())).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["success"], true);
    let stored = emulator
        .world()
        .cloudflare()
        .service_token(&id)
        .expect("seeded")
        .name
        .clone();
    assert_eq!(read.body["result"]["id"], id.as_str());
    assert_eq!(read.body["result"]["name"], stored.as_str());
    assert!(read.body["result"]["expires_at"].is_string());
    assert!(read.body["result"].get("client_secret").is_none());

    let unauthenticated = send(client.get(&url)).await;
    assert_eq!(unauthenticated.status, 400);
    assert_eq!(unauthenticated.body["success"], false);

    let deleted = send(
        client
            .delete(&url)
            .header("authorization", management.clone()),
    )
    .await;
    assert_eq!(deleted.status, 200);
    let gone = send(client.get(&url).header("authorization", management)).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["errors"][0]["code"], 12130);
}

#[tokio::test]
async fn one_user_token_reads_with_its_policies_never_its_value() {
    let emulator = start().await;
    let cloudflare = emulator.service_urls()[0].1.clone();
    let rotation = bearer(&credential(&emulator, "CF_ROTATION_TOKEN"));
    let value = credential(&emulator, "CF_PAGES_DEPLOY");
    let id = user_token_id(&emulator, "CF_PAGES_DEPLOY");
    let client = Client::new();

    let read = send(
        client
            .get(format!("{cloudflare}/user/tokens/{id}"))
            .header("authorization", rotation.clone()),
    )
    .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["result"]["id"], id.as_str());
    assert_eq!(read.body["result"]["name"], "CF_PAGES_DEPLOY");
    assert_eq!(read.body["result"]["status"], "active");
    assert!(
        !read.body["result"]["policies"]
            .as_array()
            .expect("policies")
            .is_empty()
    );
    assert!(
        !read.body.to_string().contains(&value),
        "the value is never shown"
    );

    let unknown = send(
        client
            .get(format!("{cloudflare}/user/tokens/0123456789abcdef"))
            .header("authorization", rotation),
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["errors"][0]["code"], 7003);

    // Reading tokens needs the API tokens permission, which a Pages token lacks.
    let pages = send(
        client
            .get(format!("{cloudflare}/user/tokens/{id}"))
            .header("authorization", bearer(&value)),
    )
    .await;
    assert_eq!(pages.status, 403);
}

#[tokio::test]
async fn a_method_a_path_does_not_take_is_405_in_cloudflare_s_envelope() {
    let emulator = start().await;
    let cloudflare = emulator.service_urls()[0].1.clone();
    let client = Client::new();

    let refused = send(client.put(format!("{cloudflare}/user/tokens/verify"))).await;
    assert_eq!(refused.status, 405);
    assert_eq!(refused.body["success"], false);
    assert_eq!(refused.body["errors"][0]["code"], 7001);

    // Outside Cloudflare's prefix a wrong method reads as an unknown route, as those APIs do.
    let github = send(client.post(format!(
        "{}/repos/MooseQuest/raxx/actions/secrets/public-key",
        emulator.url()
    )))
    .await;
    assert_eq!(github.status, 404);
    assert_eq!(github.body["message"], "Not Found");
}

#[tokio::test]
async fn rotate_changes_the_secret_in_place_and_refresh_shows_none() {
    let emulator = start().await;
    let account = credential(&emulator, "CF_ACCOUNT_ID");
    let id = credential(&emulator, "CF_ACCESS_SVC_TOKEN_ID");
    let base = format!(
        "{}/client/v4/accounts/{account}/access/service_tokens/{id}",
        emulator.url()
    );
    let management = bearer(&credential(&emulator, "CF_ACCESS_MGMT"));
    let client = Client::new();
    let (client_id, old_secret) = {
        let world = emulator.world();
        let token = world.cloudflare().service_token(&id).expect("seeded");
        (token.client_id.clone(), token.client_secret().to_owned())
    };

    let rotated = send(
        client
            .post(format!("{base}/rotate"))
            .header("authorization", management.clone()),
    )
    .await;
    assert_eq!(rotated.status, 200);
    assert_eq!(rotated.body["result"]["id"], id.as_str());
    assert_eq!(rotated.body["result"]["client_id"], client_id.as_str());
    let new_secret = rotated.body["result"]["client_secret"]
        .as_str()
        .expect("a new secret");
    assert_ne!(new_secret, old_secret);
    {
        let world = emulator.world();
        assert!(
            !world
                .cloudflare()
                .service_token_pair_is_live(&client_id, &old_secret)
        );
        assert!(
            world
                .cloudflare()
                .service_token_pair_is_live(&client_id, new_secret)
        );
    }

    let refreshed = send(
        client
            .post(format!("{base}/refresh"))
            .header("authorization", management),
    )
    .await;
    assert_eq!(refreshed.status, 200);
    assert!(refreshed.body["result"].get("client_secret").is_none());
    assert!(refreshed.body["result"]["expires_at"].is_string());
}

#[tokio::test]
async fn service_tokens_need_the_access_permission_and_a_token() {
    let emulator = start().await;
    let account = credential(&emulator, "CF_ACCOUNT_ID");
    let url = format!(
        "{}/client/v4/accounts/{account}/access/service_tokens",
        emulator.url()
    );
    let client = Client::new();

    let pages_token = send(client.get(&url).header(
        "authorization",
        bearer(&credential(&emulator, "CF_PAGES_DEPLOY")),
    ))
    .await;
    assert_eq!(pages_token.status, 403);
    assert_eq!(pages_token.body["errors"][0]["code"], 10000);

    let anonymous = send(client.get(&url)).await;
    assert_eq!(anonymous.status, 400);
    assert_eq!(anonymous.body["errors"][0]["code"], 9106);

    let other_account = format!(
        "{}/client/v4/accounts/{}/access/service_tokens",
        emulator.url(),
        "0".repeat(32)
    );
    let wrong_account = send(client.get(other_account).header(
        "authorization",
        bearer(&credential(&emulator, "CF_ACCESS_MGMT")),
    ))
    .await;
    assert_eq!(wrong_account.status, 403);
}

#[tokio::test]
async fn roll_kills_the_old_value_at_once_and_the_new_one_verifies() {
    let emulator = start().await;
    let cloudflare = emulator.service_urls()[0].1.clone();
    let rotation = bearer(&credential(&emulator, "CF_ROTATION_TOKEN"));
    let old_value = credential(&emulator, "CF_PAGES_DEPLOY");
    let id = user_token_id(&emulator, "CF_PAGES_DEPLOY");
    let client = Client::new();

    let before = send(
        client
            .get(format!("{cloudflare}/user/tokens/verify"))
            .header("authorization", bearer(&old_value)),
    )
    .await;
    assert_eq!(before.status, 200);
    assert_eq!(before.body["result"]["status"], "active");
    assert_eq!(before.body["result"]["id"], id.as_str());
    // Dates that are not set are left out: the schema types them as strings, never null.
    assert_eq!(
        before.body["result"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["id", "status"]
    );

    let listed = send(
        client
            .get(format!("{cloudflare}/user/tokens?per_page=5&page=1"))
            .header("authorization", rotation.clone()),
    )
    .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["result_info"]["total_count"], 4);
    for token in listed.body["result"].as_array().unwrap() {
        assert!(
            token
                .as_object()
                .unwrap()
                .values()
                .all(|value| !value.is_null()),
            "{token}"
        );
    }
    assert!(
        listed.body["result"]
            .as_array()
            .expect("a list")
            .iter()
            .any(|token| token["id"] == id.as_str())
    );

    let url = format!("{cloudflare}/user/tokens/{id}/value");
    let rolled = send(with_json(
        client.put(&url).header("authorization", rotation),
        &json!({}),
    ))
    .await;
    assert_eq!(rolled.status, 200);
    let new_value = rolled.body["result"]
        .as_str()
        .expect("the result is a bare string")
        .to_owned();
    assert_ne!(new_value, old_value);
    {
        let world = emulator.world();
        assert_eq!(
            world.cloudflare().user_token_value("CF_PAGES_DEPLOY"),
            Some(new_value.as_str())
        );
        assert!(!world.cloudflare().is_live_user_token(&old_value));
    }

    let old = send(
        client
            .get(format!("{cloudflare}/user/tokens/verify"))
            .header("authorization", bearer(&old_value)),
    )
    .await;
    assert_eq!(old.status, 401);
    assert_eq!(
        old.body,
        json!({"success": false, "errors": [{"code": 1000, "message": "Invalid API token"}], "messages": [], "result": null})
    );
    let new = send(
        client
            .get(format!("{cloudflare}/user/tokens/verify"))
            .header("authorization", bearer(&new_value)),
    )
    .await;
    assert_eq!(new.status, 200);
    assert_eq!(new.body["result"]["status"], "active");
    assert_eq!(new.body["result"]["id"], id.as_str());
}

#[tokio::test]
async fn roll_needs_a_json_body_and_the_api_tokens_permission() {
    let emulator = start().await;
    let cloudflare = emulator.service_urls()[0].1.clone();
    let id = user_token_id(&emulator, "CF_PAGES_READ");
    let url = format!("{cloudflare}/user/tokens/{id}/value");
    let client = Client::new();
    let before = credential(&emulator, "CF_PAGES_READ");

    let no_body = send(client.put(&url).header(
        "authorization",
        bearer(&credential(&emulator, "CF_ROTATION_TOKEN")),
    ))
    .await;
    assert_eq!(no_body.status, 400);
    assert_eq!(no_body.body["success"], false);

    let without_permission = send(with_json(
        client.put(&url).header(
            "authorization",
            bearer(&credential(&emulator, "CF_ACCESS_MGMT")),
        ),
        &json!({}),
    ))
    .await;
    assert_eq!(without_permission.status, 403);

    let unknown = send(with_json(
        client
            .put(format!("{cloudflare}/user/tokens/{}/value", "f".repeat(32)))
            .header(
                "authorization",
                bearer(&credential(&emulator, "CF_ROTATION_TOKEN")),
            ),
        &json!({}),
    ))
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        emulator
            .world()
            .cloudflare()
            .user_token_value("CF_PAGES_READ"),
        Some(before.as_str())
    );
}

#[tokio::test]
async fn pages_projects_need_a_pages_token() {
    let emulator = start().await;
    let account = credential(&emulator, "CF_ACCOUNT_ID");
    let url = format!(
        "{}/client/v4/accounts/{account}/pages/projects",
        emulator.url()
    );
    let client = Client::new();

    let read = send(client.get(&url).header(
        "authorization",
        bearer(&credential(&emulator, "CF_PAGES_READ")),
    ))
    .await;
    assert_eq!(read.status, 200);
    assert!(
        read.body["result"]
            .as_array()
            .is_some_and(|projects| !projects.is_empty())
    );

    let management = send(client.get(&url).header(
        "authorization",
        bearer(&credential(&emulator, "CF_ACCESS_MGMT")),
    ))
    .await;
    assert_eq!(management.status, 403);
}

#[tokio::test]
async fn rotate_with_a_grace_period_keeps_the_old_secret_until_then() {
    let emulator = start().await;
    let account = credential(&emulator, "CF_ACCOUNT_ID");
    let id = credential(&emulator, "CF_ACCESS_SVC_VAULT_TOKEN_ID");
    let url = format!(
        "{}/client/v4/accounts/{account}/access/service_tokens/{id}/rotate",
        emulator.url()
    );
    let (client_id, old_secret) = {
        let world = emulator.world();
        let token = world.cloudflare().service_token(&id).expect("seeded");
        (token.client_id.clone(), token.client_secret().to_owned())
    };
    let until = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);

    let rotated = send(with_json(
        Client::new().post(url).header(
            "authorization",
            bearer(&credential(&emulator, "CF_ACCESS_MGMT")),
        ),
        &json!({ "previous_client_secret_expires_at": until.to_string() }),
    ))
    .await;
    assert_eq!(rotated.status, 200);
    let new_secret = rotated.body["result"]["client_secret"]
        .as_str()
        .expect("a new secret");
    let world = emulator.world();
    assert!(
        world
            .cloudflare()
            .service_token_pair_is_live(&client_id, &old_secret)
    );
    assert!(
        world
            .cloudflare()
            .service_token_pair_is_live(&client_id, new_secret)
    );
}
