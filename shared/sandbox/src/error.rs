//! The crate's one error type.

/// Everything that can go wrong starting or driving the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("generating the sandbox certificate authority: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("configuring TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("encoding JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("encoding YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("invalid URL: {0}")]
    Url(String),
    #[error("building the kube client: {0}")]
    Kube(#[from] kube::Error),
    /// A store operation refused, carrying the Kubernetes `Status` the HTTP API would answer.
    #[error("{reason} ({code}): {message}")]
    Api {
        code: u16,
        reason: String,
        message: String,
    },
    /// No Python with moto was found (the venv is missing).
    #[error("moto is not installed: no Python interpreter at {tried}; {hint}")]
    MotoNotInstalled { tried: String, hint: String },
    /// The moto server process did not start or did not answer.
    #[error("starting moto (`{command}`): {message}")]
    MotoStart { command: String, message: String },
    /// A request to moto failed (no answer, or a non-2xx status with moto's error body).
    #[error("moto request {request} failed (status {status:?}): {message}")]
    MotoRequest {
        request: String,
        status: Option<u16>,
        message: String,
    },
    /// A Lambda function could not be invoked (no such function, no answer from the
    /// runtime endpoint, an unreadable response). The function itself did not run or its
    /// outcome is unknown.
    #[error("invoking Lambda function `{function}`: {message}")]
    Invoke { function: String, message: String },
    /// The Lambda function ran and returned an error (Lambda's `X-Amz-Function-Error`).
    #[error("Lambda function `{function}` failed: {error_type}: {message}")]
    FunctionError {
        function: String,
        error_type: String,
        message: String,
    },
    /// A schedule expression, SAM template or event-source setting the Lambda wiring
    /// (schedule and SQS actors) cannot use.
    #[error("Lambda wiring: {0}")]
    LambdaWiring(String),
    /// EC2 user data a node's bootstrap cannot read (the node actor).
    #[error("user data: {0}")]
    UserData(String),
}

/// `Result` with the crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
