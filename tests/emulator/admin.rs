//! The `/_emulator/` admin surface, the credentials hand-off and the background runner.

use reqwest::Client;
use runbook::emulator::{Emulator, EmulatorConfig};
use secrecy::ExposeSecret;
use serde_json::json;

use super::{send, start, with_json};
use crate::support::world::PUBLIC_CREDENTIALS;

#[tokio::test]
async fn state_dump_shows_no_secret_value() {
    let emulator = start().await;
    let state = send(Client::new().get(format!("{}/_emulator/state", emulator.url()))).await;
    assert_eq!(state.status, 200);
    let text = state.body.to_string();
    assert!(state.body["cloudflare"]["account_id"].is_string());
    for (name, value) in emulator.credentials() {
        if !PUBLIC_CREDENTIALS.contains(&name.as_str()) {
            assert!(
                !text.contains(value.expose_secret()),
                "{name} leaked into the state dump"
            );
        }
    }
}

#[tokio::test]
async fn faults_can_be_set_by_name_over_http() {
    let emulator = start().await;
    let url = format!("{}/_emulator/faults", emulator.url());
    let client = Client::new();

    let set = send(with_json(client.post(&url), &json!({ "infisical_fail_writes": true, "origin_policy_client_ids": ["abc.access"], "restart_window_ms": 50 }))).await;
    assert_eq!(set.status, 200);
    assert_eq!(set.body["infisical_fail_writes"], true);
    assert_eq!(set.body["console_unhealthy"], false);
    {
        let world = emulator.world();
        assert!(world.faults.infisical_fail_writes);
        assert_eq!(
            world.faults.origin_policy_client_ids,
            Some(vec!["abc.access".to_owned()])
        );
        assert_eq!(world.restart_window, std::time::Duration::from_millis(50));
    }

    let unknown = send(with_json(
        client.post(&url),
        &json!({ "make_it_rain": true }),
    ))
    .await;
    assert_eq!(unknown.status, 400);
    let wrong_type = send(with_json(
        client.post(&url),
        &json!({ "console_unhealthy": "yes" }),
    ))
    .await;
    assert_eq!(wrong_type.status, 400);
}

#[test]
fn background_emulator_serves_synchronous_callers_and_stops_on_drop() {
    let emulator = Emulator::start_in_background(EmulatorConfig::default()).expect("starts");
    let url = emulator.url();
    assert_eq!(emulator.service_urls().len(), 7);
    assert_eq!(emulator.credentials().len(), 15);
    let address = url.trim_start_matches("http://").to_owned();
    assert!(std::net::TcpStream::connect(&address).is_ok());
    drop(emulator);
    assert!(
        std::net::TcpStream::connect(&address).is_err(),
        "the port is closed after drop"
    );
}

#[test]
fn a_port_in_use_is_named_with_what_to_do() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let outcome = crate::support::Runbook::new(["emulator", "--port", &port]).run();
    assert_eq!(outcome.code, 6, "{outcome:?}");
    assert_eq!(
        outcome.stderr,
        format!(
            "runbook: cannot listen on 127.0.0.1:{port}: another program uses that port; pick another with --port, or --port 0 for any free one\n"
        )
    );
}
