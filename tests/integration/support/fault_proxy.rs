//! A fault-injecting HTTP proxy on 127.0.0.1 in front of moto: requests pass through
//! unless a rule matches their path, in which case the proxy answers with an HTTP
//! status of its choosing, resets the connection before forwarding anything, stalls and
//! then drops it, forwards it late, or forwards it and loses the answer. Rules fire a
//! given number of times or for ever, so a test can bring about a burst and watch the
//! operator recover once it clears. Every request is logged (method and path), so a
//! test can tell what reached AWS.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with a matching request.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Answers with this status (and a JSON body naming it) without forwarding.
    Status(u16),
    /// Closes the connection without an answer, before forwarding anything.
    Reset,
    /// Waits this long without answering, then closes the connection.
    Stall(Duration),
    /// Waits this long, then forwards the request and answers as usual: a slow call
    /// in flight.
    Delay(Duration),
    /// Forwards the request (it reaches AWS and takes effect), then closes the
    /// connection without the answer: the caller cannot tell whether it was applied.
    LoseAnswer,
}

#[derive(Debug)]
struct Rule {
    path_contains: String,
    method: Option<&'static str>,
    fault: Fault,
    /// `None`: for ever.
    remaining: Option<u32>,
    fired: u32,
}

/// The proxy: point an SDK (or `AWS_ENDPOINT_URL`) at `url`.
#[derive(Clone, Debug)]
pub struct FaultProxy {
    pub url: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    /// `METHOD path` of every request received, in order.
    log: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    /// A proxy forwarding to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (shared, logged) = (rules.clone(), log.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(
                    client,
                    upstream.clone(),
                    shared.clone(),
                    logged.clone(),
                ));
            }
        });
        FaultProxy { url, rules, log }
    }

    /// `METHOD path` of every request received so far (faulted or not), in order.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    /// From now on, `times` requests (`None`: all) whose path contains `path_contains`
    /// (and whose method is `method`, when given) meet `fault`.
    pub fn inject(
        &self,
        path_contains: &str,
        method: Option<&'static str>,
        fault: Fault,
        times: Option<u32>,
    ) {
        self.rules.lock().expect("rules").push(Rule {
            path_contains: path_contains.to_string(),
            method,
            fault,
            remaining: times,
            fired: 0,
        });
    }

    /// No fault from now on: the outage is over.
    pub fn clear(&self) {
        self.rules.lock().expect("rules").clear();
    }

    /// How many requests met a fault so far.
    pub fn fired(&self) -> u32 {
        self.rules
            .lock()
            .expect("rules")
            .iter()
            .map(|r| r.fired)
            .sum()
    }
}

fn fault_for(rules: &Mutex<Vec<Rule>>, method: &str, path: &str) -> Option<Fault> {
    let mut rules = rules.lock().expect("rules");
    let rule = rules.iter_mut().find(|r| {
        path.contains(&r.path_contains)
            && r.method.is_none_or(|m| m == method)
            && r.remaining != Some(0)
    })?;
    if let Some(n) = rule.remaining.as_mut() {
        *n -= 1;
    }
    rule.fired += 1;
    Some(rule.fault)
}

/// One client connection: request after request (keep-alive), each forwarded on a
/// connection of its own (`Connection: close` upstream) unless a rule says otherwise.
async fn serve(
    mut client: TcpStream,
    upstream: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    log: Arc<Mutex<Vec<String>>>,
) {
    let mut buffered = Vec::new();
    loop {
        let Some((head, body)) = read_request(&mut client, &mut buffered).await else {
            return;
        };
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_string();
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        log.lock().expect("log").push(format!("{method} {path}"));
        let fault = fault_for(&rules, &method, &path);
        match fault {
            Some(Fault::Status(code)) => {
                // The error type API Gateway gives each status, so the SDK classifies
                // the injected answer as it would AWS's (429: throttling).
                let kind = match code {
                    429 => "TooManyRequestsException",
                    500 => "InternalFailure",
                    _ => "ServiceUnavailableException",
                };
                let body = format!(r#"{{"__type":"{kind}","message":"injected {code}"}}"#);
                let answer = format!(
                    "HTTP/1.1 {code} Injected\r\ncontent-type: application/json\r\nx-amzn-errortype: {kind}\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if client.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
            Some(Fault::Reset) => return,
            Some(Fault::Stall(wait)) => {
                tokio::time::sleep(wait).await;
                return;
            }
            None | Some(Fault::Delay(_)) | Some(Fault::LoseAnswer) => {
                if let Some(Fault::Delay(wait)) = fault {
                    tokio::time::sleep(wait).await;
                }
                let mut forwarded = format!("{request_line}\r\n");
                for line in lines.filter(|l| !l.to_ascii_lowercase().starts_with("connection:")) {
                    forwarded.push_str(line);
                    forwarded.push_str("\r\n");
                }
                forwarded.push_str("connection: close\r\n\r\n");
                let Ok(mut server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                if server.write_all(forwarded.as_bytes()).await.is_err()
                    || server.write_all(&body).await.is_err()
                {
                    return;
                }
                let mut answer = Vec::new();
                if server.read_to_end(&mut answer).await.is_err()
                    || matches!(fault, Some(Fault::LoseAnswer))
                    || client.write_all(&answer).await.is_err()
                {
                    return;
                }
                // The upstream answer says `connection: close`; so does our client then.
                return;
            }
        }
    }
}

/// Reads one request (head without the final blank line, and its body by
/// content-length); `None` at end of stream.
async fn read_request(stream: &mut TcpStream, buffered: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(at) = buffered.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffered.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffered[..end]).to_string();
    let length = head
        .split("\r\n")
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    let body_start = end + 4;
    while buffered.len() < body_start + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffered.extend_from_slice(&chunk[..n]);
    }
    let body = buffered[body_start..body_start + length].to_vec();
    buffered.drain(..body_start + length);
    Some((head, body))
}
