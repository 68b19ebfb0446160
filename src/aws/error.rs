//! AWS errors, classified once: the SDK's error becomes an [`AwsError`] with a kind
//! (see [`ErrorKind`]) and a message that names what failed and what to do. Read
//! errors, remediation outcomes, status reasons, metric labels and the retry schedule
//! all take the kind from here.

use aws_sdk_apigateway::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::model::ErrorKind;

/// A failed AWS call: what kind of failure, and what to tell a person.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AwsError {
    pub kind: ErrorKind,
    pub message: String,
}

/// The permission a refused call needs, for the message.
#[derive(Clone, Copy, Debug)]
pub enum Needed<'a> {
    /// A read of a scan: the read-only policy.
    Read,
    /// A remediation call: this IAM action (on this resource).
    Write(&'a str),
}

/// Classifies an SDK error of `operation` in `region`.
pub fn classify<E>(
    region: &str,
    operation: &str,
    needed: Needed<'_>,
    err: &SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (kind, message) = match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or("Unknown");
            let text = inner.message().unwrap_or("no message");
            let status = service.raw().status().as_u16();
            let kind = kind_of_code(code, status);
            let message = match kind {
                ErrorKind::AccessDenied => {
                    let (grant, see) = match needed {
                        Needed::Read => (
                            format!(
                                "the scanning identity apigateway:GET on arn:aws:apigateway:{region}::/*"
                            ),
                            "docs/iam/",
                        ),
                        Needed::Write(action) => (action.to_string(), "docs/remediation.md"),
                    };
                    format!(
                        "{operation} in {region} was denied ({code}: {text}); grant {grant} (see {see})"
                    )
                }
                ErrorKind::Throttled => format!(
                    "{operation} in {region} was still throttled when the SDK's retries ran out \
                     (--max-attempts) ({code}: {text}); other callers share the account's API \
                     Gateway quota: lower --aws-rate-limit or scan again later"
                ),
                ErrorKind::Credentials => format!(
                    "{operation} in {region} rejected the credentials ({code}: {text}); refresh or \
                     fix the AWS credentials in use"
                ),
                ErrorKind::NotFound => format!(
                    "{operation} in {region}: {text} ({code}; the resource was deleted while \
                     scanning?)"
                ),
                _ => format!("{operation} in {region} failed: {code}: {text}"),
            };
            (kind, message)
        }
        SdkError::DispatchFailure(dispatch) if dispatch.is_timeout() => (
            ErrorKind::Unavailable,
            format!(
                "{operation} in {region} timed out ({}); the endpoint did not connect or answer in \
                 time: check the network (proxies, firewalls) and AWS_ENDPOINT_URL if set \
                 (--aws-read-timeout-seconds sets how long an answer may take)",
                error_chain(err)
            ),
        ),
        SdkError::DispatchFailure(dispatch) => {
            let what = if dispatch.is_io() {
                "could not connect"
            } else {
                "could not be sent"
            };
            (
                ErrorKind::Unavailable,
                format!(
                    "{operation} in {region} {what} ({}); check that {region} is a valid AWS \
                     region, that the network allows HTTPS to the AWS endpoint, and \
                     AWS_ENDPOINT_URL if set",
                    error_chain(err)
                ),
            )
        }
        SdkError::TimeoutError(_) => (
            ErrorKind::Unavailable,
            format!(
                "{operation} in {region} timed out; the endpoint is slow or unreachable: check \
                 the network and AWS_ENDPOINT_URL if set"
            ),
        ),
        SdkError::ResponseError(_) => (
            ErrorKind::Unavailable,
            format!(
                "{operation} in {region} got an answer it could not read: {}",
                error_chain(err)
            ),
        ),
        _ => (
            ErrorKind::Other,
            format!("{operation} in {region} failed: {}", error_chain(err)),
        ),
    };
    AwsError { kind, message }
}

/// The kind of a service error, from its code (the same codes across API Gateway,
/// API Gateway v2, WAFv2 and STS) or, for codes not listed, its HTTP status.
fn kind_of_code(code: &str, status: u16) -> ErrorKind {
    match code {
        "AccessDeniedException"
        | "AccessDenied"
        | "KMS.AccessDeniedException"
        | "UnauthorizedException"
        | "WAFAccessDeniedException" => ErrorKind::AccessDenied,
        "TooManyRequestsException"
        | "ThrottlingException"
        | "Throttling"
        | "LimitExceededException"
        | "RequestLimitExceeded" => ErrorKind::Throttled,
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "ExpiredTokenException"
        | "ExpiredToken" => ErrorKind::Credentials,
        "NotFoundException"
        | "ResourceNotFoundException"
        | "WAFNonexistentItemException"
        | "AWS.SimpleQueueService.NonExistentQueue"
        | "QueueDoesNotExist" => ErrorKind::NotFound,
        "WAFUnavailableEntityException" | "ServiceUnavailableException" | "InternalFailure" => {
            ErrorKind::Unavailable
        }
        "BadRequestException"
        | "ValidationException"
        | "ConflictException"
        | "WAFInvalidParameterException"
        | "WAFInvalidOperationException" => ErrorKind::Invalid,
        _ => match status {
            401 | 403 => ErrorKind::AccessDenied,
            404 => ErrorKind::NotFound,
            429 => ErrorKind::Throttled,
            400 | 409 | 422 => ErrorKind::Invalid,
            500..=599 => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        },
    }
}

/// An error and its sources as one line of their messages (`a: b: c`), without the
/// Debug dump that the SDK's `DisplayErrorContext` appends: this text reaches status
/// conditions and reports. A source whose message the previous one already contains
/// adds nothing and is skipped.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// The kind of a credentials provider's failure (an AssumeRole that STS refused, a
/// missing profile): the STS error's own kind when the chain carries one, else
/// `Credentials`.
pub fn credentials_error_kind(err: &(dyn std::error::Error + 'static)) -> ErrorKind {
    type StsAssumeRole =
        SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError, HttpResponse>;
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(SdkError::ServiceError(service)) = e.downcast_ref::<StsAssumeRole>() {
            let code = service.err().code().unwrap_or("Unknown");
            return kind_of_code(code, service.raw().status().as_u16());
        }
        next = e.source();
    }
    ErrorKind::Credentials
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_classify_the_same_across_services() {
        assert_eq!(
            kind_of_code("AccessDeniedException", 403),
            ErrorKind::AccessDenied
        );
        assert_eq!(
            kind_of_code("WAFAccessDeniedException", 400),
            ErrorKind::AccessDenied
        );
        assert_eq!(
            kind_of_code("TooManyRequestsException", 429),
            ErrorKind::Throttled
        );
        assert_eq!(
            kind_of_code("ExpiredTokenException", 403),
            ErrorKind::Credentials
        );
        assert_eq!(kind_of_code("NotFoundException", 404), ErrorKind::NotFound);
        assert_eq!(kind_of_code("BadRequestException", 400), ErrorKind::Invalid);
        assert_eq!(
            kind_of_code("WAFUnavailableEntityException", 400),
            ErrorKind::Unavailable
        );
        assert_eq!(kind_of_code("Whatever", 503), ErrorKind::Unavailable);
        assert_eq!(kind_of_code("Whatever", 403), ErrorKind::AccessDenied);
        assert_eq!(kind_of_code("Whatever", 418), ErrorKind::Other);
    }

    /// An error with a message and an optional cause, as the SDK's layers nest them.
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn an_error_chain_is_one_line_of_its_messages_without_repeats_or_debug() {
        let err = Layer(
            "dispatch failure",
            Some(Box::new(Layer(
                "timeout",
                Some(Box::new(Layer(
                    "HTTP read timeout occurred after 1s",
                    Some(Box::new(Layer("timeout", None))),
                ))),
            ))),
        );
        assert_eq!(
            error_chain(&err),
            "dispatch failure: timeout: HTTP read timeout occurred after 1s"
        );
        assert_eq!(error_chain(&Layer("denied", None)), "denied");
    }

    #[test]
    fn the_error_chain_is_one_line_without_repeats() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: inner")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("inner")]
        struct Inner;
        assert_eq!(error_chain(&Outer(Inner)), "outer: inner");
    }
}
