//! Invoking the Lambda functions from the sandbox's event sources (the SQS poller and the
//! schedules), with the same event JSON whichever way the function runs:
//!
//! * [`InProcess`]: handlers registered by name and called in this process (tests, the
//!   demo), each invocation on its own task so that a panic is a function error, as the
//!   Lambda runtime reports it;
//! * [`LambdaEndpoint`]: a Lambda runtime endpoint over HTTP, as `cargo lambda watch`
//!   serves it on 127.0.0.1 (`POST /2015-03-31/functions/<name>/invocations`, the Lambda
//!   Invoke API's path).
//!
//! Either way the outcome is Lambda's: the function's JSON answer, an
//! [`Error::FunctionError`] when the function ran and failed (`errorType`/`errorMessage`),
//! or an [`Error::Invoke`] when it could not be invoked at all.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::error::{Error, Result};

/// The future an [`Invoke::invoke`] call returns (boxed, so that `dyn Invoke` works).
pub type InvokeFuture<'a> = Pin<Box<dyn Future<Output = Result<Value>> + Send + 'a>>;

/// Something that runs a Lambda function by name on a JSON event and returns its JSON
/// answer, like Lambda's synchronous (`RequestResponse`) Invoke.
///
/// In spirit `async fn invoke(&self, function: &str, payload: Value) -> Result<Value>`;
/// written with a boxed future so that actors can hold an `Arc<dyn Invoke>`.
pub trait Invoke: Send + Sync + fmt::Debug {
    /// Invokes `function` with `payload`.
    fn invoke<'a>(&'a self, function: &'a str, payload: Value) -> InvokeFuture<'a>;
}

impl<T: Invoke + ?Sized> Invoke for Arc<T> {
    fn invoke<'a>(&'a self, function: &'a str, payload: Value) -> InvokeFuture<'a> {
        (**self).invoke(function, payload)
    }
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, FunctionFailure>> + Send>>;
type Handler = Arc<dyn Fn(Value) -> HandlerFuture + Send + Sync>;

/// A function's error as the Lambda runtime reports it (`errorType`, `errorMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FunctionFailure {
    error_type: String,
    message: String,
}

impl FunctionFailure {
    fn from_error<E: fmt::Display>(error: &E) -> Self {
        Self {
            // What lambda_runtime does without a `Diagnostic`: the error's type name.
            error_type: std::any::type_name::<E>().to_owned(),
            message: error.to_string(),
        }
    }
}

/// Handlers called in this process, registered by function name.
///
/// ```no_run
/// # use sandbox::actors::invoke::InProcess;
/// let functions = InProcess::new().handler("interruption", |event: serde_json::Value| async move {
///     Ok::<_, std::io::Error>(serde_json::json!({ "batchItemFailures": [] }))
/// });
/// ```
#[derive(Clone, Default)]
pub struct InProcess {
    handlers: BTreeMap<String, Handler>,
}

impl fmt::Debug for InProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcess")
            .field("functions", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl InProcess {
    /// No functions yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `function` as a handler of raw event JSON. An `Err` is the function's
    /// error: `errorType` is the error's type name, `errorMessage` its `Display`.
    pub fn handler<F, Fut, E>(self, function: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        self.raw(function.into(), move |event| {
            let fut = handler(event);
            async move { fut.await.map_err(|e| FunctionFailure::from_error(&e)) }
        })
    }

    fn raw<F, Fut>(mut self, function: String, handler: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, FunctionFailure>> + Send + 'static,
    {
        self.handlers
            .insert(function, Arc::new(move |event| Box::pin(handler(event))));
        self
    }

    /// Registers `function` as a typed handler, as `lambda_runtime::service_fn` runs one:
    /// the event JSON is deserialized into `T` (a failure is the function's error, as the
    /// runtime's `DeserializeError`), the answer serialized from `R`.
    pub fn typed<T, R, F, Fut, E>(self, function: impl Into<String>, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        let handler = Arc::new(handler);
        self.raw(function.into(), move |event: Value| {
            let handler = Arc::clone(&handler);
            async move {
                let event: T = serde_json::from_value(event).map_err(|e| FunctionFailure {
                    error_type: "&lambda_runtime::deserializer::DeserializeError".to_owned(),
                    message: format!("failed to deserialize the incoming data: {e}"),
                })?;
                let answer = handler(event)
                    .await
                    .map_err(|e| FunctionFailure::from_error(&e))?;
                serde_json::to_value(answer).map_err(|e| FunctionFailure::from_error(&e))
            }
        })
    }

    /// The registered function names.
    pub fn functions(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }

    /// Whether `function` is registered.
    pub fn has(&self, function: &str) -> bool {
        self.handlers.contains_key(function)
    }
}

impl fmt::Display for FunctionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl Invoke for InProcess {
    fn invoke<'a>(&'a self, function: &'a str, payload: Value) -> InvokeFuture<'a> {
        Box::pin(async move {
            let Some(handler) = self.handlers.get(function) else {
                return Err(Error::Invoke {
                    function: function.to_owned(),
                    message: format!(
                        "no such function; registered: {:?}",
                        self.handlers.keys().collect::<Vec<_>>()
                    ),
                });
            };
            // Its own task: a panicking handler is a function error, not a dead actor.
            let outcome = tokio::spawn(handler(payload)).await;
            match outcome {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(failure)) => Err(Error::FunctionError {
                    function: function.to_owned(),
                    error_type: failure.error_type,
                    message: failure.message,
                }),
                Err(join) if join.is_panic() => Err(Error::FunctionError {
                    function: function.to_owned(),
                    error_type: "Panic".to_owned(),
                    message: "the handler panicked".to_owned(),
                }),
                Err(join) => Err(Error::Invoke {
                    function: function.to_owned(),
                    message: format!("the invocation was cancelled: {join}"),
                }),
            }
        })
    }
}

/// The Lambda Invoke API's path for `function`.
pub fn invocation_path(function: &str) -> String {
    format!("/2015-03-31/functions/{function}/invocations")
}

/// A Lambda runtime endpoint over HTTP, e.g. `cargo lambda watch --invoke-address
/// 127.0.0.1 --invoke-port 9000` (`http://127.0.0.1:9000`). Each invocation is a
/// `POST /2015-03-31/functions/<name>/invocations` with the event JSON as the body.
#[derive(Debug, Clone)]
pub struct LambdaEndpoint {
    url: String,
    authority: String,
    timeout: Duration,
}

impl LambdaEndpoint {
    /// An endpoint at `url` (`http://host:port`), with a 15-minute invocation timeout
    /// (Lambda's maximum).
    pub fn new(url: &str) -> Result<Self> {
        let parsed = url::Url::parse(url).map_err(|e| Error::Url(format!("{url}: {e}")))?;
        if parsed.scheme() != "http" {
            return Err(Error::Url(format!(
                "{url}: a Lambda runtime endpoint is served over http"
            )));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| Error::Url(format!("{url}: no host")))?;
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| Error::Url(format!("{url}: no port")))?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            authority: format!("{host}:{port}"),
            timeout: Duration::from_secs(900),
        })
    }

    /// With another invocation timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The endpoint's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn post(&self, function: &str, payload: &Value) -> Result<Value> {
        let fail = |message: String| Error::Invoke {
            function: function.to_owned(),
            message: format!("{}: {message}", self.url),
        };
        if function.is_empty()
            || !function
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
        {
            return Err(fail("not a valid function name".to_owned()));
        }
        let body = serde_json::to_vec(payload)?;
        let stream = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| fail(format!("connecting: {e}")))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| fail(format!("HTTP handshake: {e}")))?;
        let connection = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "Lambda endpoint connection ended");
            }
        });
        let request = hyper::Request::post(invocation_path(function))
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header("X-Amz-Invocation-Type", "RequestResponse")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| fail(format!("building the request: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| fail(format!("sending: {e}")))?;
        let status = response.status();
        let function_error = response
            .headers()
            .get("X-Amz-Function-Error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| fail(format!("reading the answer: {e}")))?
            .to_bytes();
        connection.abort();
        let text = String::from_utf8_lossy(&bytes);
        let json: Option<Value> = if text.trim().is_empty() {
            Some(Value::Null)
        } else {
            serde_json::from_str(&text).ok()
        };
        // The function's own error: Lambda answers 200 with X-Amz-Function-Error and the
        // error document; `cargo lambda watch` answers 5xx with the same document.
        let error_doc = json
            .as_ref()
            .filter(|v| v.get("errorType").is_some() || v.get("errorMessage").is_some());
        if function_error.is_some() || (status.is_server_error() && error_doc.is_some()) {
            let (error_type, message) = match error_doc {
                Some(doc) => (
                    doc["errorType"].as_str().unwrap_or("Unhandled").to_owned(),
                    doc["errorMessage"].as_str().unwrap_or_default().to_owned(),
                ),
                None => (
                    function_error.unwrap_or_else(|| "Unhandled".to_owned()),
                    text.into_owned(),
                ),
            };
            return Err(Error::FunctionError {
                function: function.to_owned(),
                error_type,
                message,
            });
        }
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}: {text}")));
        }
        json.ok_or_else(|| fail(format!("the answer is not JSON: {text}")))
    }
}

impl Invoke for LambdaEndpoint {
    fn invoke<'a>(&'a self, function: &'a str, payload: Value) -> InvokeFuture<'a> {
        Box::pin(async move {
            match tokio::time::timeout(self.timeout, self.post(function, &payload)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Error::FunctionError {
                    function: function.to_owned(),
                    error_type: "Sandbox.Timedout".to_owned(),
                    message: format!("no answer within {:?}", self.timeout),
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn in_process_handlers_answer_fail_and_panic_as_lambda_reports_it() {
        #[derive(serde::Deserialize)]
        struct Event {
            n: u32,
        }
        let functions = InProcess::new()
            .handler("echo", |v: Value| async move { Ok::<_, std::io::Error>(v) })
            .typed("double", |e: Event| async move {
                Ok::<_, std::io::Error>(json!({ "n": e.n * 2 }))
            })
            .handler("boom", |_v: Value| async move {
                if true {
                    panic!("boom");
                }
                Ok::<_, std::io::Error>(Value::Null)
            });
        let echo = functions.invoke("echo", json!({"a": 1})).await;
        assert_eq!(echo.expect("echo"), json!({"a": 1}));
        let doubled = functions.invoke("double", json!({"n": 21})).await;
        assert_eq!(doubled.expect("double"), json!({"n": 42}));
        match functions.invoke("double", json!({"m": 1})).await {
            Err(Error::FunctionError { error_type, .. }) => {
                assert!(error_type.contains("DeserializeError"), "{error_type}");
            }
            other => panic!("expected a function error, got {other:?}"),
        }
        assert!(matches!(
            functions.invoke("boom", Value::Null).await,
            Err(Error::FunctionError { ref error_type, .. }) if error_type == "Panic"
        ));
        assert!(matches!(
            functions.invoke("missing", Value::Null).await,
            Err(Error::Invoke { .. })
        ));
    }

    #[test]
    fn endpoint_urls_are_checked() {
        assert!(LambdaEndpoint::new("http://127.0.0.1:9000").is_ok());
        assert!(LambdaEndpoint::new("https://127.0.0.1:9000").is_err());
        assert_eq!(
            invocation_path("interruption"),
            "/2015-03-31/functions/interruption/invocations"
        );
    }
}
