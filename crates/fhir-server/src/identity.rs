//! Who is calling: every handler receives the caller's [`Identity`] from the authentication
//! middleware.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Identity {
    /// The site's own organization (its process engine and local tools): every interaction.
    LocalOrganization,
}

/// How callers are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Development only: plain HTTP on loopback, every caller is the local organization.
    DevInsecure,
}

/// Middleware: establishes the caller's identity and hands it to the handlers.
pub async fn authenticate(
    State(mode): State<AuthMode>,
    mut request: Request,
    next: Next,
) -> Response {
    let identity = match mode {
        AuthMode::DevInsecure => Identity::LocalOrganization,
    };
    request.extensions_mut().insert(identity);
    next.run(request).await
}
