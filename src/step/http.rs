//! Sending one HTTP request and reading its response, with transport failures told apart
//! (refused, timed out, TLS, DNS) so the operator knows what to check.
//!
//! Redirects are never followed: a request that carries a credential must not be replayed to a
//! host the runbook did not name. A 3xx is returned as it is and judged like any other status.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};

use crate::runbook::model::Method;
use crate::secret::Redactor;

/// The largest response body read; a runbook talks to control-plane APIs, not file servers.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A request with every template rendered.
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub content_type: Option<&'static str>,
    pub timeout: Duration,
}

pub struct Response {
    pub status: u16,
    /// Lowercase names, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    json: OnceLock<Result<serde_json::Value, String>>,
    /// The run's redactor: what is quoted from the response is masked before it is cut short,
    /// so a secret that straddles the cut cannot leave a piece of itself behind.
    redactor: Arc<Redactor>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Response")
            .field("status", &self.status)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Response {
    pub fn new(
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        redactor: Arc<Redactor>,
    ) -> Response {
        Response {
            status,
            headers,
            body,
            json: OnceLock::new(),
            redactor,
        }
    }

    /// Text from this response, masked, at most `limit` characters: for messages.
    pub fn quote(&self, text: &str, limit: usize) -> String {
        cut(&self.redactor.redact(text), limit)
    }

    /// Text from this response with every secret masked. Mask before cutting or trimming:
    /// a part of a secret is no longer its form.
    pub fn masked<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        self.redactor.redact(text)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON, once; the error says what the body was instead.
    pub fn json(&self) -> Result<&serde_json::Value, &str> {
        self.json
            .get_or_init(|| {
                if self.body.iter().all(u8::is_ascii_whitespace) {
                    return Err("the response body is empty".to_string());
                }
                // A byte-order mark is not JSON, but some servers put one before it.
                let body = self
                    .body
                    .strip_prefix(b"\xef\xbb\xbf")
                    .unwrap_or(&self.body);
                serde_json::from_slice(body).map_err(|error| {
                    let kind = self.header("content-type").unwrap_or("no content type");
                    format!("the response body is not JSON ({kind}): {error}")
                })
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// The status and its standard reason, "404 Not Found"; only the number for a status
    /// that has no standard reason ("599").
    pub fn status_text(&self) -> String {
        match reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|status| status.canonical_reason())
        {
            Some(reason) => format!("{} {reason}", self.status),
            None => self.status.to_string(),
        }
    }
}

/// Why a request got no response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportError {
    Refused,
    Timeout(Duration),
    Tls(String),
    Dns(String),
    Connect(String),
    TooLarge,
    InvalidRequest(String),
    Other(String),
}

impl TransportError {
    /// A sentence for the operator, with what to check.
    pub fn describe(&self, url: &str) -> String {
        let host = reqwest::Url::parse(url)
            .ok()
            .and_then(|url| {
                url.host_str()
                    .map(|host| format!("{host}:{}", url.port_or_known_default().unwrap_or(0)))
            })
            .unwrap_or_else(|| url.to_string());
        match self {
            TransportError::Refused => format!(
                "connection refused by {host}: nothing is listening there; check the service URL (`--service NAME=URL`) and that the service is up"
            ),
            TransportError::Timeout(after) => format!(
                "no response from {host} within {}; the service may be slow or unreachable (raise the step's `timeout` if it is expected)",
                humanize(*after)
            ),
            TransportError::Tls(reason) => format!(
                "TLS handshake with {host} failed: {reason}; check the URL's host and that its certificate is valid"
            ),
            TransportError::Dns(reason) => {
                format!("cannot resolve {host}: {reason}; check the host name")
            }
            TransportError::Connect(reason) => format!("cannot connect to {host}: {reason}"),
            TransportError::TooLarge => format!(
                "the response from {host} is larger than {} MiB",
                MAX_BODY_BYTES / 1024 / 1024
            ),
            TransportError::InvalidRequest(reason) => {
                format!("the request cannot be sent: {reason}")
            }
            TransportError::Other(reason) => format!("the request to {host} failed: {reason}"),
        }
    }
}

pub fn humanize(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis}ms")
    } else if millis < 60_000 {
        let seconds = duration.as_secs_f64();
        if seconds.fract() < 0.05 {
            format!("{}s", seconds.round() as u64)
        } else {
            format!("{seconds:.1}s")
        }
    } else {
        format!("{}m{}s", millis / 60_000, (millis % 60_000) / 1000)
    }
}

/// How many times a request is sent at most on connection errors, 429 and 5xx.
pub const TRANSPORT_TRIES: u32 = 4;
/// The longest Retry-After this waits for; longer, and the step fails with the reason.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// Exponential backoff with jitter: about 0.5s, 1s, 2s … (±25%), at most 30s.
pub fn backoff(tries: u32) -> Duration {
    let base = 0.5 * 2f64.powi(tries.saturating_sub(1).min(16) as i32);
    let jitter = 0.75 + rand::random::<f64>() * 0.5;
    Duration::from_secs_f64((base * jitter).min(30.0))
}

/// Retry-After, in seconds or as an HTTP date (RFC 9110 §10.2.3).
pub fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.header("retry-after")?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = jiff::fmt::rfc2822::parse(value).ok()?;
    let wait = date.timestamp().duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// Why a request is worth sending again, and how long the server asks to wait: a connection
/// error, a 429 or a 5xx. `None` for an answer, for a request that cannot be sent, and for an
/// answer too large to read (it would be as large again).
pub fn transient(
    sent: &Result<Response, TransportError>,
    url: &str,
) -> Option<(String, Option<Duration>)> {
    match sent {
        Err(TransportError::InvalidRequest(_) | TransportError::TooLarge) => None,
        Err(error) => Some((error.describe(url), None)),
        Ok(response) if response.status == 429 || response.status >= 500 => {
            Some((response.status_text(), retry_after(response)))
        }
        Ok(_) => None,
    }
}

/// At most `limit` characters of `text`, with `…` when some were left out.
pub fn cut(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The HTTP client a run shares: one connection pool per scheme, no redirects. Proxies come from
/// `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` as usual; https goes through a proxy as a `CONNECT`
/// tunnel, so a proxy never sees a header (plain http off loopback is a `check` warning).
///
/// Plain-http requests (a local emulator, a benchmark) use a client built without the system's
/// root certificates; the TLS client, which reads them from disk, is built on the first https
/// request, so a run that never needs it never pays for it.
#[derive(Clone)]
pub struct Client {
    plain: reqwest::Client,
    secure: Arc<OnceLock<Result<reqwest::Client, String>>>,
    redactor: Arc<Redactor>,
    /// The only origins requests may go to, when set (see [`Client::reaching_only`]).
    reachable: Option<Arc<[String]>>,
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
}

impl Client {
    /// A client whose responses mask what they quote with `redactor`.
    pub fn new(redactor: Arc<Redactor>) -> Result<Client, String> {
        let plain = builder()
            .tls_certs_only(std::iter::empty())
            .build()
            .map_err(|error| error.to_string())?;
        Ok(Client {
            plain,
            secure: Arc::default(),
            redactor,
            reachable: None,
        })
    }

    /// The same client, refusing every request to an origin not in `origins` (an `--emulate`
    /// rehearsal); `None` leaves it free.
    pub fn reaching_only(mut self, origins: Option<Vec<String>>) -> Client {
        self.reachable = origins.map(Arc::from);
        self
    }

    fn for_url(&self, url: &reqwest::Url) -> Result<&reqwest::Client, TransportError> {
        if url.scheme() != "https" {
            return Ok(&self.plain);
        }
        self.secure
            .get_or_init(|| builder().build().map_err(|error| error.to_string()))
            .as_ref()
            .map_err(|error| TransportError::Tls(format!("the TLS client cannot start: {error}")))
    }

    /// Masks a secret the run obtains along the way (a store's access token) everywhere from now
    /// on, before the next request is sent or the next answer quoted.
    pub fn register(&self, secret: &crate::secret::SecretString) {
        self.redactor.register(secret);
    }

    pub async fn send(&self, request: Request) -> Result<Response, TransportError> {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
            Method::Head => reqwest::Method::HEAD,
        };
        let url = reqwest::Url::parse(&request.url)
            .map_err(|error| {
                TransportError::InvalidRequest(format!(
                    "the URL `{}` is not valid: {error} (a URL starts with http:// or https://; `{{{{ services.NAME }}}}/…` gives one)",
                    request.url
                ))
            })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TransportError::InvalidRequest(format!(
                "the URL scheme is `{}`, not http or https",
                url.scheme()
            )));
        }
        if let Some(reachable) = &self.reachable {
            let origin = url.origin().ascii_serialization();
            if !reachable.contains(&origin) {
                return Err(TransportError::InvalidRequest(format!(
                    "{origin} is not one of the services a rehearsal reaches (--emulate sends nothing anywhere else): write the URL as {{{{ services.NAME }}}}/…, or pass --service NAME=URL"
                )));
            }
        }
        let mut builder = self
            .for_url(&url)?
            .request(method, url)
            .timeout(request.timeout);
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(content_type) = request.content_type {
            headers.insert(
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static(content_type),
            );
        }
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                TransportError::InvalidRequest(format!("invalid header name `{name}`"))
            })?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                TransportError::InvalidRequest(format!(
                    "the value of header `{name}` has characters a header cannot carry (a line break?)"
                ))
            })?;
            // Keeps the value out of any Debug output of the HTTP stack.
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        builder = builder.headers(headers);
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let mut response = builder
            .send()
            .await
            .map_err(|error| classify(&error, request.timeout))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| classify(&error, request.timeout))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(TransportError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response::new(status, headers, body, self.redactor.clone()))
    }
}

fn classify(error: &reqwest::Error, timeout: Duration) -> TransportError {
    if error.is_timeout() {
        return TransportError::Timeout(timeout);
    }
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return TransportError::Refused;
            }
            if io.kind() == std::io::ErrorKind::TimedOut {
                return TransportError::Timeout(timeout);
            }
            // The TLS error sits inside io::Errors (hyper-rustls wraps tokio-rustls's), and
            // io::Error's `source()` skips the error it wraps: look inside with `get_ref`.
            let mut inner = io.get_ref();
            while let Some(wrapped) = inner {
                if let Some(tls) = wrapped.downcast_ref::<rustls::Error>() {
                    return TransportError::Tls(tls.to_string());
                }
                inner = wrapped
                    .downcast_ref::<std::io::Error>()
                    .and_then(std::io::Error::get_ref);
            }
        }
        chain.push(current.to_string());
        source = current.source();
    }
    // The innermost message is the most specific; reqwest's outer ones repeat the URL.
    let reason = chain.last().cloned().unwrap_or_default();
    let all = chain.join(": ").to_lowercase();
    if all.contains("certificate")
        || all.contains("tls")
        || all.contains("handshake")
        || all.contains("invalid peer")
    {
        TransportError::Tls(reason)
    } else if all.contains("dns error")
        || all.contains("failed to lookup")
        || all.contains("name or service not known")
    {
        TransportError::Dns(reason)
    } else if error.is_connect() {
        TransportError::Connect(reason)
    } else {
        TransportError::Other(reason)
    }
}
