//! Reliability under faults: what the operator's AWS edge does with answers it cannot
//! use. A local server on 127.0.0.1 answers every API Gateway request with arbitrary
//! bytes; the reader must report read errors, never panic and never report a pass for
//! what it could not read.

use std::time::Duration;

use apigw_compliance::inventory::Needs;
use apigw_compliance::inventory::reader::{ReadOptions, read_inventory};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `bodies` in turn (then from the start again) as `200 OK` JSON answers to
/// whatever is asked; returns the endpoint URL.
async fn garbage_server(bodies: Vec<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let mut next = 0usize;
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let body = bodies[next % bodies.len()].clone();
            next += 1;
            tokio::spawn(async move {
                // Read the request head (and whatever body came with it).
                let mut seen = Vec::new();
                let mut buffer = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    url
}

/// Bodies an API Gateway answer could never be: random bytes, cut and bent JSON, the
/// right shapes with the wrong types (a fixed xorshift sequence).
fn garbage() -> Vec<Vec<u8>> {
    let valid = [
        r#"{"item":[{"id":"a1","name":"orders","tags":{"team":"a"}}],"position":null}"#,
        r#"{"item":[{"stageName":"prod","methodSettings":{"*/*":{"loggingLevel":"INFO"}},"tracingEnabled":true}]}"#,
        r#"{"items":[{"apiId":"v1","name":"chat","protocolType":"WEBSOCKET"}],"nextToken":""}"#,
        r#"{"items":[{"routeId":"r1","routeKey":"$default","authorizationType":"NONE"}]}"#,
    ];
    let mut out: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        br#"{"item":"not a list"}"#.to_vec(),
        br#"{"items":[{"apiId":7,"protocolType":["HTTP"]}]}"#.to_vec(),
        br#"{"item":[{"stageName":null,"methodSettings":[]}]}"#.to_vec(),
        br#"{"position":{"x":1},"item":[]}"#.to_vec(),
        br#"{"items":[],"nextToken":12}"#.to_vec(),
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for sample in valid {
        for cut in (0..sample.len()).step_by(7) {
            out.push(sample.as_bytes()[..cut].to_vec());
        }
        for _ in 0..40 {
            let mut bytes = sample.as_bytes().to_vec();
            for _ in 0..=(next() % 6) {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = (next() & 0xff) as u8;
            }
            out.push(bytes);
        }
    }
    for _ in 0..40 {
        let len = (next() % 300) as usize;
        out.push((0..len).map(|_| (next() & 0xff) as u8).collect());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_answers_become_read_errors_never_a_panic_or_a_pass() {
    let bodies = garbage();
    let bodies_len = bodies.len();
    let url = garbage_server(bodies).await;
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&url)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDFAULTS",
            "secret",
            None,
            None,
            "faults",
        )))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .build();
    let options = ReadOptions {
        needs: Needs {
            rest: true,
            v2: true,
            routes: true,
            http_integrations: true,
            integrations: true,
            domain_names: true,
        },
        ..ReadOptions::default()
    };
    // Each read walks on through the bodies (the server's turn moves with every
    // request); 100 reads of 3 or more requests each meet every body at least once.
    assert!(bodies_len <= 100 * 3, "{bodies_len} bodies");
    for _ in 0..100 {
        let inventory = read_inventory(&sdk, &["us-east-1".to_string()], &options).await;
        // A region whose lists could not be read is an error, never an empty pass.
        if inventory.regions.is_empty() {
            assert!(!inventory.errors.is_empty(), "{inventory:?}");
        }
    }
}
