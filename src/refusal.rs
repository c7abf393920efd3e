//! A *refusal*: why a request was refused before anything was written to the client, with the
//! status it gets. Every layer that reads a request (its variables, its query, its rights) says
//! "no" with this one type, which is why it sits below them all.

use http::StatusCode;
use http::header::HeaderName;

/// Why a request was refused, before anything was written to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestError {
    /// The status the client gets.
    pub status: StatusCode,
    /// A short reason, sent as the plain-text body and logged.
    pub reason: String,
    /// A header the refusal needs, such as `Allow` for a 405 or `WWW-Authenticate` for a 401.
    pub header: Option<(HeaderName, &'static str)>,
    /// What only the error log gets: system error text and paths stay out of answers.
    pub detail: Option<String>,
}

impl RequestError {
    /// A `400 Bad Request` with a reason.
    pub fn bad_request(reason: impl Into<String>) -> RequestError {
        RequestError::new(StatusCode::BAD_REQUEST, reason)
    }

    /// An error with any status.
    pub fn new(status: StatusCode, reason: impl Into<String>) -> RequestError {
        RequestError {
            status,
            reason: reason.into(),
            header: None,
            detail: None,
        }
    }

    /// The same refusal with a detail for the error log only.
    pub fn with_detail(mut self, detail: impl Into<String>) -> RequestError {
        self.detail = Some(detail.into());
        self
    }

    /// The same refusal with a header it needs.
    pub fn with_header(mut self, name: HeaderName, value: &'static str) -> RequestError {
        self.header = Some((name, value));
        self
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.reason)?;
        match &self.detail {
            Some(detail) => write!(f, " ({detail})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for RequestError {}
