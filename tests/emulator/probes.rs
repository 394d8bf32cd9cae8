//! The probes the runbooks verify with: the Access-protected origin, the console's site status
//! and the API's dependency health.

use reqwest::Client;
use serde_json::json;

use super::{bearer, credential, send, start, user_token_id, with_json};

fn console_pair(emulator: &runbook::emulator::Emulator) -> (String, String) {
    let id = credential(emulator, "CF_ACCESS_SVC_TOKEN_ID");
    let world = emulator.world();
    let token = world.cloudflare().service_token(&id).expect("seeded");
    (token.client_id.clone(), token.client_secret().to_owned())
}

#[tokio::test]
async fn origin_admits_a_live_service_token_only() {
    let emulator = start().await;
    let (client_id, client_secret) = console_pair(&emulator);
    let url = format!("{}/health", emulator.url());
    let client = Client::new();

    let admitted = send(
        client
            .get(&url)
            .header("CF-Access-Client-Id", &client_id)
            .header("CF-Access-Client-Secret", &client_secret),
    )
    .await;
    assert_eq!(admitted.status, 200);
    let wrong_secret = send(
        client
            .get(&url)
            .header("CF-Access-Client-Id", &client_id)
            .header("CF-Access-Client-Secret", "0".repeat(64)),
    )
    .await;
    assert_eq!(wrong_secret.status, 403);
    let anonymous = send(client.get(&url)).await;
    assert_eq!(anonymous.status, 403);
}

#[tokio::test]
async fn origin_scoped_by_client_id_rejects_a_new_token_until_listed() {
    let emulator = start().await;
    let (old_client_id, _) = console_pair(&emulator);
    emulator.world().faults.origin_policy_client_ids = Some(vec![old_client_id]);
    let account = credential(&emulator, "CF_ACCOUNT_ID");
    let client = Client::new();
    let created = send(with_json(
        client
            .post(format!(
                "{}/client/v4/accounts/{account}/access/service_tokens",
                emulator.url()
            ))
            .header(
                "authorization",
                bearer(&credential(&emulator, "CF_ACCESS_MGMT")),
            ),
        &json!({ "name": "raxx-console-svc-2026-06-01", "duration": "8760h" }),
    ))
    .await;
    let new_id = created.body["result"]["client_id"]
        .as_str()
        .expect("client id")
        .to_owned();
    let new_secret = created.body["result"]["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let probe = || {
        client
            .get(format!("{}/health", emulator.url()))
            .header("CF-Access-Client-Id", &new_id)
            .header("CF-Access-Client-Secret", &new_secret)
    };

    assert_eq!(send(probe()).await.status, 403);
    emulator
        .world()
        .faults
        .origin_policy_client_ids
        .as_mut()
        .expect("scoped")
        .push(new_id.clone());
    assert_eq!(send(probe()).await.status, 200);
}

#[tokio::test]
async fn console_sites_need_the_ops_session_and_follow_the_fault_switch() {
    let emulator = start().await;
    let url = format!("{}/api/status/sites", emulator.url());
    let cookie = format!(
        "theme=dark; ops_session={}",
        credential(&emulator, "RAXX_OPS_SESSION")
    );
    let client = Client::new();

    assert_eq!(send(client.get(&url)).await.status, 401);
    let healthy = send(client.get(&url).header("cookie", &cookie)).await;
    assert_eq!(healthy.status, 200);
    let sites = healthy.body["sites"].as_array().expect("sites").clone();
    let site = |id: &str| {
        sites
            .iter()
            .find(|site| site["id"] == id)
            .cloned()
            .expect("listed")
    };
    assert_eq!(site("console-prod")["provider"], "cloudflare_access");
    assert_eq!(site("console-prod")["liveness"]["ok"], true);
    assert_eq!(site("vault-prod")["liveness"]["ok"], true);
    let pages: Vec<_> = sites
        .iter()
        .filter(|site| site["provider"] == "cloudflare_pages")
        .collect();
    assert!(pages.len() >= 2);
    assert!(pages.iter().all(|site| site["liveness"]["ok"] == true));

    emulator.world().faults.console_unhealthy = true;
    let unhealthy = send(client.get(&url).header("cookie", &cookie)).await;
    assert!(
        unhealthy.body["sites"]
            .as_array()
            .expect("sites")
            .iter()
            .all(|site| site["liveness"]["ok"] == false)
    );
}

#[tokio::test]
async fn deleting_the_configured_service_token_makes_console_prod_not_live() {
    let emulator = start().await;
    let account = credential(&emulator, "CF_ACCOUNT_ID");
    let id = credential(&emulator, "CF_ACCESS_SVC_TOKEN_ID");
    let client = Client::new();
    send(
        client
            .delete(format!(
                "{}/client/v4/accounts/{account}/access/service_tokens/{id}",
                emulator.url()
            ))
            .header(
                "authorization",
                bearer(&credential(&emulator, "CF_ACCESS_MGMT")),
            ),
    )
    .await;

    let cookie = format!("ops_session={}", credential(&emulator, "RAXX_OPS_SESSION"));
    let status = send(
        client
            .get(format!("{}/api/status/sites", emulator.url()))
            .header("cookie", cookie),
    )
    .await;
    let sites = status.body["sites"].as_array().expect("sites");
    let console = sites
        .iter()
        .find(|site| site["id"] == "console-prod")
        .expect("listed");
    let vault = sites
        .iter()
        .find(|site| site["id"] == "vault-prod")
        .expect("listed");
    assert_eq!(console["liveness"]["ok"], false);
    assert_eq!(vault["liveness"]["ok"], true);
}

#[tokio::test]
async fn api_dependencies_fail_once_a_configured_token_is_rolled() {
    let emulator = start().await;
    let url = format!("{}/health/dependencies", emulator.url());
    let client = Client::new();
    let healthy = send(client.get(&url)).await;
    assert_eq!(healthy.status, 200);
    assert_eq!(healthy.body["cloudflare"]["ok"], true);

    let id = user_token_id(&emulator, "CF_PAGES_READ");
    send(with_json(
        client
            .put(format!(
                "{}/client/v4/user/tokens/{id}/value",
                emulator.url()
            ))
            .header(
                "authorization",
                bearer(&credential(&emulator, "CF_ROTATION_TOKEN")),
            ),
        &json!({}),
    ))
    .await;

    let stale = send(client.get(&url)).await;
    assert_eq!(stale.body["cloudflare"]["ok"], false);
    assert_eq!(stale.body["cloudflare"]["tokens"]["CF_PAGES_READ"], false);
}
