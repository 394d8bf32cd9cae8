//! Heroku: the Accept and auth gate, PATCH semantics, releases, and the restart window that
//! makes the apps' health endpoints answer 503 for a while.

use reqwest::{Client, RequestBuilder};
use serde_json::json;

use super::{TEST_RESTART_WINDOW, bearer, credential, send, start, with_json};

fn heroku(request: RequestBuilder, api_key: &str) -> RequestBuilder {
    request
        .header("accept", "application/vnd.heroku+json; version=3")
        .header("authorization", bearer(api_key))
}

#[tokio::test]
async fn requests_need_the_version_3_accept_header_and_the_api_key() {
    let emulator = start().await;
    let url = format!("{}/apps/raxx-console-prod/config-vars", emulator.url());
    let client = Client::new();
    let api_key = credential(&emulator, "HEROKU_API_KEY");

    let no_accept = send(client.get(&url).header("authorization", bearer(&api_key))).await;
    assert_eq!(no_accept.status, 406);
    assert_eq!(no_accept.body["id"], "not_acceptable");
    assert!(no_accept.body["message"].is_string() && no_accept.body["url"].is_string());

    let wrong_key = send(heroku(client.get(&url), "not-the-key")).await;
    assert_eq!(wrong_key.status, 401);
    assert_eq!(wrong_key.body["id"], "unauthorized");

    let unknown_app = send(heroku(
        client.get(format!("{}/apps/nope/config-vars", emulator.url())),
        &api_key,
    ))
    .await;
    assert_eq!(unknown_app.status, 404);
    assert_eq!(unknown_app.body["id"], "not_found");

    let app = send(heroku(
        client.get(format!("{}/apps/raxx-api-prod", emulator.url())),
        &api_key,
    ))
    .await;
    assert_eq!(app.status, 200);
    assert_eq!(app.body["name"], "raxx-api-prod");
}

#[tokio::test]
async fn the_app_list_names_every_app_behind_the_same_gate() {
    let emulator = start().await;
    let url = format!("{}/apps", emulator.url());
    let client = Client::new();
    let api_key = credential(&emulator, "HEROKU_API_KEY");

    let listed = send(heroku(client.get(&url), &api_key)).await;
    assert_eq!(listed.status, 200);
    let names: Vec<&str> = listed
        .body
        .as_array()
        .expect("a list")
        .iter()
        .map(|app| app["name"].as_str().expect("a name"))
        .collect();
    let stored: Vec<String> = emulator
        .world()
        .heroku()
        .apps()
        .iter()
        .map(|app| app.name.clone())
        .collect();
    assert_eq!(names, stored);
    assert!(names.contains(&"raxx-api-prod"));

    let wrong_key = send(heroku(client.get(&url), "not-the-key")).await;
    assert_eq!(wrong_key.status, 401);
    let no_accept = send(client.get(&url).header("authorization", bearer(&api_key))).await;
    assert_eq!(no_accept.status, 406);
}

#[tokio::test]
async fn patch_returns_the_full_hash_releases_and_restarts_the_dynos() {
    let emulator = start().await;
    let base = format!("{}/apps/raxx-console-prod", emulator.url());
    let client = Client::new();
    let api_key = credential(&emulator, "HEROKU_API_KEY");
    let cookie = format!("ops_session={}", credential(&emulator, "RAXX_OPS_SESSION"));
    let before = emulator
        .world()
        .heroku_app("raxx-console-prod")
        .and_then(|app| app.current_release().map(|release| release.version))
        .expect("released");

    let patched = send(with_json(
        heroku(client.patch(format!("{base}/config-vars")), &api_key),
        &json!({ "FEATURE_FLAG": "on", "NODE_ENV": null }),
    ))
    .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["FEATURE_FLAG"], "on");
    assert!(patched.body.get("NODE_ENV").is_none());
    assert!(
        patched.body["CF_ACCESS_SVC_CONSOLE"].is_string(),
        "the whole hash comes back"
    );

    let newest = send(
        heroku(client.get(format!("{base}/releases")), &api_key)
            .header("range", "version ..; order=desc, max=1"),
    )
    .await;
    assert_eq!(newest.status, 206);
    assert!(newest.headers.get("next-range").is_some());
    let release = &newest.body[0];
    assert_eq!(release["version"], before + 1);
    assert_eq!(release["current"], true);
    assert_eq!(release["status"], "succeeded");

    let dynos = send(heroku(client.get(format!("{base}/dynos")), &api_key)).await;
    assert!(
        dynos
            .body
            .as_array()
            .expect("dynos")
            .iter()
            .all(|dyno| dyno["state"] == "starting" && dyno["release"]["version"] == before + 1)
    );
    let during = send(
        client
            .get(format!("{}/api/status/sites", emulator.url()))
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(during.status, 503);

    tokio::time::sleep(TEST_RESTART_WINDOW + std::time::Duration::from_millis(100)).await;
    let dynos = send(heroku(client.get(format!("{base}/dynos")), &api_key)).await;
    assert!(
        dynos
            .body
            .as_array()
            .expect("dynos")
            .iter()
            .all(|dyno| dyno["state"] == "up")
    );
    let after = send(
        client
            .get(format!("{}/api/status/sites", emulator.url()))
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(after.status, 200);

    let old_config = send(heroku(
        client.get(format!("{base}/releases/{before}/config-vars")),
        &api_key,
    ))
    .await;
    assert_eq!(old_config.body["NODE_ENV"], "production");
    {
        let world = emulator.world();
        let app = world.heroku_app("raxx-console-prod").expect("seeded");
        assert_eq!(app.config_var("FEATURE_FLAG"), Some("on"));
        assert_eq!(app.config_var("NODE_ENV"), None);
        assert_eq!(app.releases().len() as u64, before + 1);
    }
}

#[tokio::test]
async fn api_health_is_503_while_the_api_restarts() {
    let emulator = start().await;
    let client = Client::new();
    let api_key = credential(&emulator, "HEROKU_API_KEY");
    let value = credential(&emulator, "CF_PAGES_DEPLOY");
    let unchanged = send(with_json(
        heroku(
            client.patch(format!("{}/apps/raxx-api-prod/config-vars", emulator.url())),
            &api_key,
        ),
        &json!({ "CF_PAGES_DEPLOY": value }),
    ))
    .await;
    assert_eq!(unchanged.status, 200);
    assert_eq!(
        send(client.get(format!("{}/health/dependencies", emulator.url())))
            .await
            .status,
        200,
        "no change, no restart"
    );

    send(with_json(
        heroku(
            client.patch(format!("{}/apps/raxx-api-prod/config-vars", emulator.url())),
            &api_key,
        ),
        &json!({ "UNRELATED": "1" }),
    ))
    .await;
    assert_eq!(
        send(client.get(format!("{}/health/dependencies", emulator.url())))
            .await
            .status,
        503
    );
    tokio::time::sleep(TEST_RESTART_WINDOW + std::time::Duration::from_millis(100)).await;
    assert_eq!(
        send(client.get(format!("{}/health/dependencies", emulator.url())))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn patch_rejects_bad_names_bad_values_and_bad_json() {
    let emulator = start().await;
    let url = format!("{}/apps/raxx-api-staging/config-vars", emulator.url());
    let client = Client::new();
    let api_key = credential(&emulator, "HEROKU_API_KEY");
    let releases_before = emulator
        .world()
        .heroku_app("raxx-api-staging")
        .expect("seeded")
        .releases()
        .len();

    let bad_name = send(with_json(
        heroku(client.patch(&url), &api_key),
        &json!({ "MY-VAR": "x" }),
    ))
    .await;
    assert_eq!(bad_name.status, 422);
    assert_eq!(bad_name.body["id"], "invalid_params");
    let bad_value = send(with_json(
        heroku(client.patch(&url), &api_key),
        &json!({ "COUNT": 3 }),
    ))
    .await;
    assert_eq!(bad_value.status, 422);
    let bad_json = send(heroku(client.patch(&url), &api_key).body("{")).await;
    assert_eq!(bad_json.status, 400);
    let bad_range = send(
        heroku(
            client.get(format!("{}/apps/raxx-api-staging/releases", emulator.url())),
            &api_key,
        )
        .header("range", "colour .."),
    )
    .await;
    assert_eq!(bad_range.status, 416);

    assert_eq!(
        emulator
            .world()
            .heroku_app("raxx-api-staging")
            .expect("seeded")
            .releases()
            .len(),
        releases_before
    );
}

#[tokio::test]
async fn releases_page_with_next_range() {
    let emulator = start().await;
    let url = format!("{}/apps/raxx-api-prod/releases", emulator.url());
    let client = Client::new();
    let api_key = credential(&emulator, "HEROKU_API_KEY");

    let first = send(heroku(client.get(&url), &api_key).header("range", "version ..; max=2")).await;
    assert_eq!(first.status, 206);
    assert_eq!(first.body[0]["version"], 1);
    let next = first
        .headers
        .get("next-range")
        .and_then(|value| value.to_str().ok())
        .expect("next range")
        .to_owned();
    let second = send(heroku(client.get(&url), &api_key).header("range", next)).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body[0]["version"], 3);

    let by_version = send(heroku(client.get(format!("{url}/2")), &api_key)).await;
    assert_eq!(by_version.body["version"], 2);
    assert_eq!(by_version.body["current"], false);
}
