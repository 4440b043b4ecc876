//! The one error type. Every failure a client can see is an [`ApiError`] with a stable code;
//! it becomes HTTP here and nowhere else. Internal causes go to the log, never to the body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::inspector::InvalidSafetensors;
use crate::domain::metadata::InvalidMetadata;
use crate::domain::search::InvalidParameter;
use crate::domain::tokens::{Denied, RequestError};
use crate::index::IndexError;
use crate::ingest::multipart::MultipartError;
use crate::ingest::pipeline::IngestError;

/// Stable, machine-readable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    BadRequest,
    InvalidParameter,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    Conflict,
    PayloadTooLarge,
    UriTooLong,
    UnsupportedMediaType,
    RangeNotSatisfiable,
    InvalidSafetensors,
    InvalidMetadata,
    /// Two tickets whose masks cannot be compared (different architectures).
    NotComparable,
    RateLimited,
    HeadersTooLarge,
    Unavailable,
    Internal,
}

impl Code {
    pub fn status(self) -> StatusCode {
        match self {
            Code::BadRequest | Code::InvalidParameter => StatusCode::BAD_REQUEST,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Forbidden => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Code::Conflict => StatusCode::CONFLICT,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::UriTooLong => StatusCode::URI_TOO_LONG,
            Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            Code::InvalidSafetensors | Code::InvalidMetadata | Code::NotComparable => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Code::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code for a bare status produced outside our handlers (a layer or the router).
    pub fn for_status(status: StatusCode) -> Code {
        match status.as_u16() {
            401 => Code::Unauthorized,
            403 => Code::Forbidden,
            404 => Code::NotFound,
            405 => Code::MethodNotAllowed,
            408 => Code::RequestTimeout,
            409 => Code::Conflict,
            413 => Code::PayloadTooLarge,
            414 => Code::UriTooLong,
            415 => Code::UnsupportedMediaType,
            416 => Code::RangeNotSatisfiable,
            429 => Code::RateLimited,
            431 => Code::HeadersTooLarge,
            503 | 504 => Code::Unavailable,
            400..=499 => Code::BadRequest,
            _ => Code::Internal,
        }
    }
}

/// A boxed error cause, so `ApiError` can carry any failure to the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A client-facing error: its message is safe to show.
    #[error("{message}")]
    Client {
        code: Code,
        message: String,
        field: Option<String>,
    },
    /// Too much at once (a rate limit, or every upload slot taken): safe to show, and the
    /// client should come back after `retry_after`.
    #[error("{message}")]
    Busy {
        code: Code,
        message: String,
        retry_after: std::time::Duration,
    },
    /// Infrastructure is down or saturated; the cause is logged, not shown.
    #[error("unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// A bug or unexpected failure; the cause is logged, not shown.
    #[error("internal: {0}")]
    Internal(#[source] Cause),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError::Client {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn with_field(code: Code, field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Client {
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(Code::NotFound, what)
    }

    pub fn internal(cause: impl Into<Cause>) -> Self {
        ApiError::Internal(cause.into())
    }

    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        ApiError::Unavailable(cause.into())
    }

    pub fn busy(code: Code, message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        ApiError::Busy {
            code,
            message: message.into(),
            retry_after,
        }
    }

    pub fn code(&self) -> Code {
        match self {
            ApiError::Client { code, .. } | ApiError::Busy { code, .. } => *code,
            ApiError::Unavailable(_) => Code::Unavailable,
            ApiError::Internal(_) => Code::Internal,
        }
    }
}

impl From<InvalidSafetensors> for ApiError {
    fn from(e: InvalidSafetensors) -> Self {
        ApiError::with_field(Code::InvalidSafetensors, "file", e.0)
    }
}

impl From<InvalidParameter> for ApiError {
    fn from(e: InvalidParameter) -> Self {
        ApiError::with_field(Code::InvalidParameter, e.field, e.message)
    }
}

impl From<InvalidMetadata> for ApiError {
    fn from(e: InvalidMetadata) -> Self {
        ApiError::with_field(Code::InvalidMetadata, e.field, e.message)
    }
}

/// A token that cannot be used at all is no credential (401); a valid one without the scope
/// an action needs is a refusal (403).
impl From<Denied> for ApiError {
    fn from(e: Denied) -> Self {
        match e {
            Denied::Revoked(_) | Denied::Expired(_) => {
                ApiError::new(Code::Unauthorized, e.to_string())
            }
            Denied::MissingScope(_) => ApiError::new(Code::Forbidden, e.to_string()),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Invalid { field, message } => {
                ApiError::with_field(Code::InvalidParameter, field, message)
            }
            RequestError::Escalation { field, message } => {
                ApiError::with_field(Code::Forbidden, field, message)
            }
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Multipart(e) => multipart(e),
            IngestError::DuplicatePart(ref name) => {
                ApiError::with_field(Code::BadRequest, name.clone(), e.to_string())
            }
            IngestError::UnnamedPart => ApiError::new(Code::BadRequest, e.to_string()),
            IngestError::MissingFile => {
                ApiError::with_field(Code::BadRequest, "file", e.to_string())
            }
            IngestError::Safetensors(e) => e.into(),
            IngestError::Metadata(e) => e.into(),
            IngestError::Description(e) => {
                ApiError::with_field(Code::InvalidMetadata, "description", e.to_string())
            }
            IngestError::NameTaken(..) => {
                ApiError::with_field(Code::Conflict, "name", e.to_string())
            }
            IngestError::NotYourOwner(_) => {
                ApiError::with_field(Code::Forbidden, "owner", e.to_string())
            }
            IngestError::UnknownOwner(_) => {
                ApiError::with_field(Code::InvalidMetadata, "owner", e.to_string())
            }
            IngestError::UnknownParent(_) => {
                ApiError::with_field(Code::InvalidMetadata, "parent_id", e.to_string())
            }
            IngestError::Index(e) => e.into(),
            IngestError::Storage(cause) => ApiError::unavailable(cause),
            IngestError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// What a multipart body's own failure means to the client.
fn multipart(e: MultipartError) -> ApiError {
    use MultipartError as E;
    match e {
        E::BodyTooLarge { .. } => ApiError::new(Code::PayloadTooLarge, e.to_string()),
        E::PartTooLarge { ref name, .. } => {
            ApiError::with_field(Code::PayloadTooLarge, name.clone(), e.to_string())
        }
        E::UnknownPart { ref name, .. } => {
            ApiError::with_field(Code::BadRequest, name.clone(), e.to_string())
        }
        E::FramingTooLong(_) | E::Malformed(_) | E::Incomplete => {
            ApiError::new(Code::BadRequest, e.to_string())
        }
        E::Read(cause) if went_quiet(&*cause) => ApiError::new(
            Code::RequestTimeout,
            "the request body stopped arriving (idle timeout); the upload was dropped",
        ),
        E::Read(_) => ApiError::new(
            Code::BadRequest,
            "the request body ended before the upload was complete",
        ),
    }
}

/// Whether a body read failed because tower-http's idle timeout fired (the cause is wrapped).
fn went_quiet(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

impl From<IndexError> for ApiError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::NameTaken => ApiError::with_field(
                Code::Conflict,
                "name",
                "you already have a ticket with this name",
            ),
            IndexError::UnknownParent => ApiError::with_field(
                Code::InvalidMetadata,
                "parent_id",
                "the parent ticket does not exist",
            ),
            IndexError::NotFound => ApiError::not_found("no such ticket"),
            IndexError::TooManyTokens(limit) => ApiError::new(
                Code::Conflict,
                format!(
                    "this account already has {limit} live tokens, the most it may hold; revoke one first"
                ),
            ),
            IndexError::DuplicateResult => ApiError::new(
                Code::Conflict,
                "you already reported a result of this kind, dataset and seed for this ticket; delete it first to replace it",
            ),
            IndexError::TooManyResults(limit) => ApiError::new(
                Code::Conflict,
                format!("this ticket already holds {limit} results, the most it may"),
            ),
            IndexError::NotAUser(_) => ApiError::new(Code::Conflict, e.to_string()),
            IndexError::Unavailable(e) => ApiError::unavailable(e),
            IndexError::Cancelled(e) => {
                tracing::warn!(error = %e, "a statement ran past the statement timeout");
                ApiError::busy(
                    Code::Unavailable,
                    "the query took too long and was cancelled; retry, or narrow the query",
                    std::time::Duration::from_secs(2),
                )
            }
            IndexError::Other(e) => ApiError::internal(e),
        }
    }
}

/// Every error: `{"error": {"code", "message", "field"}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    pub code: Code,
    pub message: &'a str,
    pub field: Option<&'a str>,
}

/// The JSON error response for a code and message.
pub fn error_response(code: Code, message: &str, field: Option<&str>) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            message,
            field,
        },
    };
    (code.status(), Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Client {
                code,
                message,
                field,
            } => error_response(*code, message, field.as_deref()),
            ApiError::Busy {
                code,
                message,
                retry_after,
            } => {
                let mut response = error_response(*code, message, None);
                // Whole seconds, rounded up: "retry after 0" would invite a hot loop.
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(seconds.max(1)),
                );
                response
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "service unavailable");
                error_response(
                    Code::Unavailable,
                    "The service is temporarily unavailable; try again shortly.",
                    None,
                )
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                error_response(Code::Internal, "Internal Server Error", None)
            }
        }
    }
}

impl From<crate::domain::accounts::MemberDenied> for ApiError {
    fn from(e: crate::domain::accounts::MemberDenied) -> Self {
        use crate::domain::accounts::MemberDenied;
        let code = match e {
            MemberDenied::NotAdmin => Code::Forbidden,
            MemberDenied::NotMember => Code::NotFound,
            MemberDenied::LastAdmin => Code::Conflict,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<crate::oidc::SignInError> for ApiError {
    fn from(e: crate::oidc::SignInError) -> Self {
        use crate::oidc::SignInError;
        match e {
            SignInError::UnknownProvider(_) => ApiError::not_found(e.to_string()),
            // The provider's outage is ours to report, its cause to log.
            SignInError::Unreachable(_) => ApiError::unavailable(e),
            SignInError::CodeRefused(_) | SignInError::BadIdToken(_) => {
                ApiError::new(Code::BadRequest, e.to_string())
            }
        }
    }
}
