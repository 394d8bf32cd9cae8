//! GitHub Actions secrets: sealed boxes opened with the emulator's key, 201 then 204, 422 on
//! garbage, and auth.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crypto_box::PublicKey;
use crypto_box::aead::OsRng;
use reqwest::{Client, RequestBuilder};
use runbook::emulator::Emulator;
use serde_json::json;

use super::{credential, send, start, with_json};

fn github(request: RequestBuilder, token: &str) -> RequestBuilder {
    request
        .header("authorization", format!("token {token}"))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
}

/// Fetches the public key at `base` and seals `value` for it, as a GitHub client does.
async fn seal(emulator: &Emulator, base: &str, value: &str) -> (String, String) {
    let token = credential(emulator, "GITHUB_TOKEN");
    let key = send(github(
        Client::new().get(format!("{base}/public-key")),
        &token,
    ))
    .await;
    assert_eq!(key.status, 200);
    let key_id = key.body["key_id"].as_str().expect("a key id").to_owned();
    let bytes = STANDARD
        .decode(key.body["key"].as_str().expect("a key"))
        .expect("base64");
    let public_key = PublicKey::from_slice(&bytes).expect("32 bytes");
    let sealed = public_key
        .seal(&mut OsRng, value.as_bytes())
        .expect("sealed");
    (key_id, STANDARD.encode(sealed))
}

#[tokio::test]
async fn sealed_box_round_trip_creates_then_updates() {
    let emulator = start().await;
    let token = credential(&emulator, "GITHUB_TOKEN");
    let repository = credential(&emulator, "GITHUB_REPOSITORY");
    let base = format!("{}/repos/{repository}/actions/secrets", emulator.url());
    let client = Client::new();

    let (key_id, encrypted) = seal(&emulator, &base, "first value").await;
    let created = send(with_json(
        github(client.put(format!("{base}/CF_SANDBOX")), &token),
        &json!({ "encrypted_value": encrypted, "key_id": key_id }),
    ))
    .await;
    assert_eq!(created.status, 201);
    let first_update = {
        let world = emulator.world();
        let secret = world.github_secret("CF_SANDBOX").expect("stored");
        assert_eq!(secret.value(), "first value");
        secret.updated_at
    };

    let (key_id, encrypted) = seal(&emulator, &base, "second value").await;
    let updated = send(with_json(
        github(client.put(format!("{base}/CF_SANDBOX")), &token),
        &json!({ "encrypted_value": encrypted, "key_id": key_id }),
    ))
    .await;
    assert_eq!(updated.status, 204);
    {
        let world = emulator.world();
        let secret = world.github_secret("CF_SANDBOX").expect("stored");
        assert_eq!(secret.value(), "second value");
        assert!(
            secret.updated_at > first_update,
            "updated_at moves on every write"
        );
        assert_eq!(secret.updated_at.subsec_nanosecond(), 0);
    }

    let metadata = send(github(client.get(format!("{base}/CF_SANDBOX")), &token)).await;
    assert_eq!(metadata.status, 200);
    assert_eq!(metadata.body["name"], "CF_SANDBOX");
    assert!(metadata.body.get("value").is_none());
    let listed = send(github(client.get(&base), &token)).await;
    assert_eq!(listed.body["total_count"], 7);

    assert_eq!(
        send(github(client.delete(format!("{base}/CF_SANDBOX")), &token))
            .await
            .status,
        204
    );
    assert_eq!(
        send(github(client.get(format!("{base}/CF_SANDBOX")), &token))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn garbage_and_a_wrong_key_id_are_422() {
    let emulator = start().await;
    let token = credential(&emulator, "GITHUB_TOKEN");
    let repository = credential(&emulator, "GITHUB_REPOSITORY");
    let base = format!("{}/repos/{repository}/actions/secrets", emulator.url());
    let client = Client::new();
    let (key_id, encrypted) = seal(&emulator, &base, "value").await;
    let put = |body: serde_json::Value| {
        with_json(
            github(client.put(format!("{base}/CF_PAGES_DEPLOY")), &token),
            &body,
        )
    };

    let not_a_box = send(put(
        json!({ "encrypted_value": STANDARD.encode([7u8; 64]), "key_id": key_id }),
    ))
    .await;
    assert_eq!(not_a_box.status, 422);
    assert_eq!(not_a_box.body["status"], "422");
    assert!(not_a_box.body["documentation_url"].is_string());
    let unpadded = send(put(
        json!({ "encrypted_value": encrypted.trim_end_matches('='), "key_id": key_id }),
    ))
    .await;
    assert_eq!(unpadded.status, 422);
    let wrong_key = send(put(json!({ "encrypted_value": encrypted, "key_id": "1" }))).await;
    assert_eq!(wrong_key.status, 422);
    let missing = send(put(json!({ "key_id": key_id }))).await;
    assert_eq!(missing.status, 422);

    let seeded = credential(&emulator, "CF_PAGES_DEPLOY");
    let stored = emulator
        .world()
        .github_secret("CF_PAGES_DEPLOY")
        .map(|secret| secret.value().to_owned());
    assert_eq!(stored, Some(seeded), "a rejected write changes nothing");
}

#[tokio::test]
async fn environment_secrets_have_their_own_key() {
    let emulator = start().await;
    let token = credential(&emulator, "GITHUB_TOKEN");
    let repository = credential(&emulator, "GITHUB_REPOSITORY");
    let base = format!(
        "{}/repos/{repository}/environments/production/secrets",
        emulator.url()
    );
    let client = Client::new();
    let (key_id, encrypted) = seal(&emulator, &base, "env value").await;
    let repository_key = emulator.world().github().actions().key.key_id.clone();
    assert_ne!(key_id, repository_key);

    let created = send(with_json(
        github(client.put(format!("{base}/CF_PAGES_DEPLOY")), &token),
        &json!({ "encrypted_value": encrypted, "key_id": key_id }),
    ))
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        emulator
            .world()
            .github()
            .environment_secret("production", "CF_PAGES_DEPLOY")
            .map(|secret| secret.value().to_owned()),
        Some("env value".to_owned())
    );

    // An environment that does not exist is a 404, with or without a body.
    let unknown = base.replace("/production/", "/nope/");
    let empty = send(github(
        client.put(format!("{unknown}/CF_PAGES_DEPLOY")),
        &token,
    ))
    .await;
    assert_eq!(empty.status, 404);
    let full = send(with_json(
        github(client.put(format!("{unknown}/CF_PAGES_DEPLOY")), &token),
        &json!({ "encrypted_value": encrypted, "key_id": key_id }),
    ))
    .await;
    assert_eq!(full.status, 404);
}

#[tokio::test]
async fn repository_needs_a_token_and_points_back_at_the_emulator() {
    let emulator = start().await;
    let repository = credential(&emulator, "GITHUB_REPOSITORY");
    let url = format!("{}/repos/{repository}", emulator.url());
    let client = Client::new();

    assert_eq!(send(client.get(&url)).await.status, 401);
    let bad = send(github(client.get(&url), "ghp_wrong")).await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body["message"], "Bad credentials");
    let info = send(github(
        client.get(url.to_lowercase()),
        &credential(&emulator, "GITHUB_TOKEN"),
    ))
    .await;
    assert_eq!(info.status, 200);
    assert_eq!(info.body["full_name"], "MooseQuest/raxx");
    assert_eq!(info.body["url"], url.as_str());
}

#[tokio::test]
async fn environments_list_and_read_one_by_one() {
    let emulator = start().await;
    let token = credential(&emulator, "GITHUB_TOKEN");
    let repository = credential(&emulator, "GITHUB_REPOSITORY");
    let url = format!("{}/repos/{repository}/environments", emulator.url());
    let client = Client::new();

    assert_eq!(send(client.get(&url)).await.status, 401);
    let listed = send(github(client.get(&url), &token)).await;
    assert_eq!(listed.status, 200);
    let names: Vec<&str> = listed.body["environments"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|environment| environment["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["production"]);
    assert_eq!(listed.body["total_count"], 1);
    assert_eq!(
        listed.body["environments"][0]["url"],
        format!("{url}/production").as_str()
    );

    let one = send(github(client.get(format!("{url}/production")), &token)).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body, listed.body["environments"][0]);
    let unknown = send(github(client.get(format!("{url}/staging")), &token)).await;
    assert_eq!(unknown.status, 404);
}
