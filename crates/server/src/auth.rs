//! Bearer-token check for intake and the API.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use crate::{ApiError, AppState};

/// Lets the request through when no token is configured or the request carries
/// `Authorization: Bearer <token>`; answers 401 otherwise.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(expected) = state.api_token.as_deref() else {
        return Ok(next.run(req).await);
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        None => Err(ApiError::unauthorized(
            "missing bearer token: send `Authorization: Bearer <token>` (the server's PAGERLESS_API_TOKEN)",
        )),
        Some(token) if bool::from(token.as_bytes().ct_eq(expected.as_bytes())) => {
            Ok(next.run(req).await)
        }
        Some(_) => Err(ApiError::unauthorized("wrong bearer token")),
    }
}
