use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).unwrap()
}

#[test]
fn builds_the_range_query_url() {
    let url = query_url("http://prom:9090/", r#"up{app="a b"}"#, t(1000), t(1120), Duration::from_secs(60)).unwrap();
    assert_eq!(
        url.as_str(),
        "http://prom:9090/api/v1/query_range?query=up%7Bapp%3D%22a+b%22%7D&start=1000.000&end=1120.000&step=60"
    );
    // A path prefix (Prometheus behind a proxy) is kept; sub-second steps and times work.
    let start = Utc.timestamp_millis_opt(1_500).unwrap();
    let url = query_url("https://example.com/prometheus", "up", start, start, Duration::from_millis(500)).unwrap();
    assert_eq!(
        url.as_str(),
        "https://example.com/prometheus/api/v1/query_range?query=up&start=1.500&end=1.500&step=0.5"
    );

    assert!(query_url("", "up", t(0), t(0), Duration::from_secs(1)).unwrap_err().contains("no prometheus address"));
    assert!(query_url("prom:9090", "up", t(0), t(0), Duration::from_secs(1)).is_err());
    assert!(check_address("file:///etc/passwd").unwrap_err().contains("unsupported scheme"));
    assert!(check_address("http://prometheus.monitoring.svc:9090").is_ok());
}

#[test]
fn redacts_passwords_only() {
    assert_eq!(redact("https://admin:hunter2@prom.example.com/"), "https://admin:***@prom.example.com");
    assert_eq!(redact("http://prom:9090"), "http://prom:9090");
    assert_eq!(redact("not a url"), "not a url");
}

#[test]
fn debug_hides_the_token() {
    let client =
        PrometheusClient::new().unwrap().bearer_token("s3cret-token").address_override(Some("http://u:pw@p".into()));
    let shown = format!("{client:?}");
    assert!(!shown.contains("s3cret-token") && !shown.contains("pw@"), "{shown}");
    assert!(shown.contains("***"));
    assert_eq!(client.effective_address("http://ignored"), "http://u:pw@p");
    assert_eq!(PrometheusClient::new().unwrap().effective_address("http://mine"), "http://mine");
}

#[test]
fn decodes_a_matrix() {
    let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"__name__":"x","app":"a"},"values":[[1000,"0.012"],[1060.5,"NaN"],[1120,"+Inf"],[1180,"-Inf"]]},
        {"metric":{},"values":[]}]}}"#;
    let series = decode(StatusCode::OK, body, "http://p").unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].labels.get("app").map(String::as_str), Some("a"));
    assert_eq!(series[0].selector(), r#"{__name__="x",app="a"}"#);
    assert_eq!(series[1].selector(), "{}");
    let s = &series[0].samples;
    assert_eq!((s[0].0, s[0].1), (t(1000), 0.012));
    assert_eq!(s[1].0, Utc.timestamp_millis_opt(1_060_500).unwrap());
    assert!(s[1].1.is_nan());
    assert_eq!((s[2].1, s[3].1), (f64::INFINITY, f64::NEG_INFINITY));
}

#[test]
fn decodes_errors() {
    let e = decode(
        StatusCode::BAD_REQUEST,
        br#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"#,
        "http://p",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "prometheus at http://p answered 400 bad_data: 1:5: parse error: unexpected end of input"
    );

    let e = decode(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>", "http://p").unwrap_err();
    assert_eq!(e.to_string(), "prometheus at http://p answered 502: <html>bad gateway</html>");

    let e = decode(StatusCode::OK, b"not json", "http://p").unwrap_err();
    assert!(matches!(e, PromError::Decode { .. }), "{e:?}");

    let vector = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
    let e = decode(StatusCode::OK, vector, "http://p").unwrap_err();
    assert!(e.to_string().contains("expected a matrix"), "{e}");

    let bad_value =
        br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}"#;
    let e = decode(StatusCode::OK, bad_value, "http://p").unwrap_err();
    assert!(e.to_string().contains("invalid sample value \"x\""), "{e}");
}

/// Serves one canned answer and returns the request it received.
async fn one_shot_server(status: &str, body: &'static str) -> (String, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let status = status.to_string();
    let handle = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    (address, handle)
}

#[tokio::test]
async fn sends_the_query_and_the_bearer_token() {
    let body = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"app":"a"},"values":[[1000,"1"]]}]}}"#;
    let (address, server) = one_shot_server("200 OK", body).await;
    let client = PrometheusClient::new().unwrap().bearer_token("tok-123");
    let series = client.query_range(&address, "up", t(1000), t(1000), Duration::from_secs(60)).await.unwrap();
    assert_eq!(series[0].samples, vec![(t(1000), 1.0)]);
    let request = server.await.unwrap();
    assert!(
        request.starts_with("GET /api/v1/query_range?query=up&start=1000.000&end=1000.000&step=60 HTTP/1.1"),
        "{request}"
    );
    assert!(request.to_ascii_lowercase().contains("authorization: bearer tok-123"), "{request}");
}

#[tokio::test]
async fn the_override_replaces_every_address() {
    let body = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
    let (address, server) = one_shot_server("200 OK", body).await;
    let client = PrometheusClient::new().unwrap().address_override(Some(address));
    let series = client.query_range("http://in-cluster.invalid:9090", "up", t(0), t(0), Duration::from_secs(1)).await;
    assert_eq!(series, Ok(vec![]));
    assert!(!server.await.unwrap().to_ascii_lowercase().contains("authorization"));
}

#[tokio::test]
async fn unreachable_and_error_answers_are_errors_with_text() {
    let (address, _server) = one_shot_server(
        "422 Unprocessable Entity",
        r#"{"status":"error","errorType":"execution","error":"query timed out"}"#,
    )
    .await;
    let client = PrometheusClient::new().unwrap();
    let e = client.query_range(&address, "up", t(0), t(0), Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(e.to_string(), format!("prometheus at {address} answered 422 execution: query timed out"));

    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("http://127.0.0.1:{port}");
    let e = client.query_range(&address, "up", t(0), t(0), Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(e, PromError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().starts_with(&format!("prometheus at {address} unreachable: ")), "{e}");
}
