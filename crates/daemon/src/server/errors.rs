//! Operation errors as API answers: each with its HTTP status and stable code, and
//! the error with its causes on one line.

use super::http::{error, Answer};
use crate::error::{error_chain, OpError};
use crate::store::StoreError;
use berth_api::codes;
use berth_runtime::{CommandError, RuntimeError};
use hyper::StatusCode;

pub fn op_error(e: &OpError) -> Answer {
    let (status, code) = match e {
        OpError::Package(_) => (StatusCode::BAD_REQUEST, codes::PACKAGE_INVALID),
        OpError::NoSuchContainer(_) => (StatusCode::NOT_FOUND, codes::NO_SUCH_CONTAINER),
        OpError::AlreadyInstalled { .. } => (StatusCode::CONFLICT, codes::ALREADY_INSTALLED),
        OpError::Incompatible(_) => (StatusCode::CONFLICT, codes::INCOMPATIBLE),
        OpError::NoSpace(_) => (StatusCode::INSUFFICIENT_STORAGE, codes::NO_SPACE),
        OpError::BadRequest(_) => (StatusCode::BAD_REQUEST, codes::BAD_REQUEST),
        OpError::Unsupported(_) => (StatusCode::NOT_IMPLEMENTED, codes::RUNTIME_UNAVAILABLE),
        OpError::NotBuilt(_) => (StatusCode::NOT_IMPLEMENTED, codes::NOT_BUILT),
        OpError::Registry(_) => (StatusCode::BAD_GATEWAY, codes::REGISTRY_FAILED),
        OpError::Forbidden(_) => (StatusCode::FORBIDDEN, codes::REGISTRY_NOT_ALLOWED),
        OpError::Runtime {
            source: RuntimeError::Command(CommandError::Timeout { .. }),
            ..
        } => (StatusCode::GATEWAY_TIMEOUT, codes::RUNTIME_FAILED),
        OpError::Runtime {
            source: RuntimeError::NoSuchContainer(_),
            ..
        } => (StatusCode::CONFLICT, codes::RUNTIME_FAILED),
        OpError::Runtime { .. } => (StatusCode::BAD_GATEWAY, codes::RUNTIME_FAILED),
        OpError::Store(StoreError::Invalid(_)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, codes::STORE_INVALID)
        }
        OpError::Store(_) | OpError::Io { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL)
        }
    };
    error(status, code, error_chain(e))
}
