//! Signing in with OpenID Connect (docs/accounts.md). `/auth/{provider}/login` sends the
//! browser to the provider with a fresh `state`, `nonce` and PKCE challenge, kept in the index
//! (any replica may finish) and bound to this browser by a cookie; the callback takes that
//! sign-in once, checks the cookie, lets `crate::oidc` exchange the code and verify the ID
//! token, then signs the user in, links the identity, or (a first sign-in) asks for a username
//! at `/signup`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::session::{
    CSRF_HEADER, CookieKind, MAX_SIGN_INS_IN_FLIGHT, SIGN_IN_WINDOW, SIGN_UP_WINDOW, add_cookies,
};
use super::{AppState, Authenticated};
use crate::domain::accounts::{self, same_secret, secret};
use crate::domain::tokens::hash;
use crate::error::{ApiError, ApiResult, Code};
use crate::index::User;
use crate::index::accounts::AccountConflict;
use crate::index::sessions::{PendingAccount, SignIn};
use crate::oidc::{ProviderInfo, Providers};

/// The sign-in providers this registry offers (none: use an operator-made token).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderList {
    providers: Vec<ProviderInfo>,
}

/// List the sign-in providers.
///
/// Empty when the registry runs on operator-made tokens only; the page then says how to get a
/// token instead of showing a sign-in button.
#[utoipa::path(get, path = "/api/v1/auth/providers", tag = "accounts", operation_id = "list_providers",
    responses((status = 200, description = "The configured providers", body = ProviderList)))]
pub async fn providers(State(state): State<AppState>) -> Json<ProviderList> {
    Json(ProviderList {
        providers: state.accounts.providers.list(),
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct LoginQuery {
    /// A path on this site to return to after signing in (default `/`).
    #[param(max_length = 512)]
    return_to: Option<String>,
}

/// Start signing in with a provider.
///
/// Answers 303 to the provider's authorization endpoint (code flow, PKCE S256, `state`,
/// `nonce`) and sets a short-lived cookie binding the sign-in to this browser.
#[utoipa::path(get, path = "/auth/{provider}/login", tag = "accounts", operation_id = "sign_in",
    params(("provider" = String, Path, description = "A provider id from /api/v1/auth/providers"), LoginQuery),
    responses(
        (status = 303, description = "To the provider"),
        (status = 404, description = "No such provider", body = crate::error::ErrorBody),
        (status = 503, description = "The provider could not be reached, or too many sign-ins are under way (Retry-After)", body = crate::error::ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<LoginQuery>,
) -> ApiResult<Response> {
    let (url, cookie) = begin(&state, &provider, None, query.return_to.as_deref()).await?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    response
        .headers_mut()
        .insert(LOCATION, location(url.as_str())?);
    add_cookies(response.headers_mut(), [cookie]);
    Ok(response)
}

/// Stores a new sign-in and gives the provider's URL and the browser-binding cookie.
async fn begin(
    state: &AppState,
    provider: &str,
    link_user_id: Option<i64>,
    return_to: Option<&str>,
) -> ApiResult<(url::Url, HeaderValue)> {
    let settings = &state.accounts;
    let auth = settings.providers.authorize(provider).await?;
    let browser = secret().map_err(|e| ApiError::internal(e.to_string()))?;
    let now = Utc::now();
    let sign_in = SignIn {
        browser_hash: hash(&browser).to_vec(),
        provider: provider.to_owned(),
        nonce: auth.nonce,
        pkce_verifier: auth.pkce_verifier,
        link_user_id,
        return_to: Some(accounts::safe_return_to(return_to)),
        expires_at: now + SIGN_IN_WINDOW,
    };
    let stored = state
        .index
        .start_sign_in(&hash(&auth.state), &sign_in, now, MAX_SIGN_INS_IN_FLIGHT)
        .await?;
    if !stored {
        return Err(ApiError::busy(
            Code::Unavailable,
            "too many sign-ins are under way: try again in a minute",
            std::time::Duration::from_secs(60),
        ));
    }
    let cookie = settings.set_cookie(CookieKind::SignIn, &browser, SIGN_IN_WINDOW);
    Ok((auth.url, cookie))
}

fn location(url: &str) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(url).map_err(|e| ApiError::internal(e.to_string()))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct CallbackQuery {
    /// The authorization code the provider issued.
    #[param(max_length = 2048)]
    code: Option<String>,
    /// The `state` this registry sent with the authorization request.
    #[param(max_length = 512)]
    state: Option<String>,
    /// Set by a provider that refused (the user cancelled, say).
    #[param(max_length = 256)]
    error: Option<String>,
    /// The provider's words on its `error`.
    #[param(max_length = 1024)]
    error_description: Option<String>,
}

/// Finish signing in (the provider's redirect back).
///
/// The `state` must be one this registry issued, unused, unexpired, for this provider, and
/// started in this browser; the code is exchanged with the PKCE verifier and the ID token
/// verified (signature, issuer, audience, expiry, nonce). Then 303: to where the sign-in
/// started (a session cookie set), to `/account` (a linked identity, or
/// `/account?link_error=identity_taken` when it is already another account's: nothing is
/// linked), or to `/signup` (a first sign-in, to choose a username).
#[utoipa::path(get, path = "/auth/{provider}/callback", tag = "accounts", operation_id = "sign_in_callback",
    params(("provider" = String, Path, description = "The provider id"), CallbackQuery),
    responses(
        (status = 303, description = "Signed in, linked, or on to choose a username"),
        (status = 400, description = "A refused sign-in: no or unknown or used state, another browser's, expired, the provider's error, a refused code or ID token; or an overlong parameter", body = crate::error::ErrorBody),
        (status = 414, description = "The request target is longer than the server takes", body = crate::error::ErrorBody),
        (status = 503, description = "The provider could not be reached", body = crate::error::ErrorBody),
    ))]
pub async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let refused = |m: String| ApiError::new(Code::BadRequest, m);
    for (field, value, max) in [
        ("code", &query.code, 2048),
        ("state", &query.state, 512),
        ("error", &query.error, 256),
        ("error_description", &query.error_description, 1024),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(ApiError::with_field(
                Code::InvalidParameter,
                field,
                format!("{field} is longer than {max} characters"),
            ));
        }
    }
    if let Some(error) = query.error {
        let detail = query.error_description.unwrap_or_default();
        return Err(refused(format!(
            "the provider did not sign you in: {error} {detail}"
        )));
    }
    let (Some(code), Some(state_param)) = (query.code, query.state) else {
        return Err(refused("the callback needs `code` and `state`".into()));
    };
    let settings = state.accounts.clone();
    let sign_in = state
        .index
        .take_sign_in(&hash(&state_param))
        .await?
        .ok_or_else(|| {
            refused("unknown or already used sign-in state: start signing in again".into())
        })?;
    let now = Utc::now();
    let browser = settings
        .read_cookie(&headers, CookieKind::SignIn)
        .map(|b| hex::encode(hash(&b)))
        .unwrap_or_default();
    if !same_secret(&browser, &hex::encode(&sign_in.browser_hash)) {
        return Err(refused(
            "this sign-in was not started in this browser: start signing in again".into(),
        ));
    }
    if now >= sign_in.expires_at || sign_in.provider != provider {
        return Err(refused(
            "this sign-in expired or belongs to another provider: start signing in again".into(),
        ));
    }
    let identity = settings
        .providers
        .finish(&provider, &code, &sign_in.nonce, &sign_in.pkce_verifier)
        .await?;
    let return_to = sign_in.return_to.unwrap_or_else(|| "/".into());
    let mut cookies = vec![settings.clear_cookie(CookieKind::SignIn)];
    let target = if let Some(user_id) = sign_in.link_user_id {
        match state.index.link_identity(user_id, &identity, now).await? {
            Ok(()) => return_to,
            // Nothing linked; the account page says why.
            Err(_) => "/account?link_error=identity_taken".to_owned(),
        }
    } else if let Some(user) = state.index.sign_in_identity(&identity, now).await? {
        cookies.push(open_session(&state, &user).await?);
        return_to
    } else {
        let token = secret().map_err(|e| ApiError::internal(e.to_string()))?;
        let pending = PendingAccount {
            identity,
            csrf_token: secret().map_err(|e| ApiError::internal(e.to_string()))?,
            return_to: Some(return_to),
            expires_at: now + SIGN_UP_WINDOW,
        };
        state.index.put_pending(&hash(&token), &pending).await?;
        cookies.push(settings.set_cookie(CookieKind::SignUp, &token, SIGN_UP_WINDOW));
        "/signup".to_owned()
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(LOCATION, location(&target)?);
    add_cookies(response.headers_mut(), cookies);
    Ok(response)
}

/// Opens a session for `user`; the `Set-Cookie` value that carries it.
pub(super) async fn open_session(state: &AppState, user: &User) -> ApiResult<HeaderValue> {
    let settings = &state.accounts;
    let token = secret().map_err(|e| ApiError::internal(e.to_string()))?;
    let csrf = secret().map_err(|e| ApiError::internal(e.to_string()))?;
    let now = Utc::now();
    state
        .index
        .create_session(
            user.id,
            &hash(&token),
            &csrf,
            now,
            now + settings.session_lifetime,
        )
        .await?;
    Ok(settings.set_cookie(CookieKind::Session, &token, settings.session_lifetime))
}

/// A first sign-in, waiting for its username.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PendingSignUp {
    provider: String,
    /// The verified ORCID iD, for an ORCID sign-in.
    orcid: Option<String>,
    email: Option<String>,
    name: Option<String>,
    /// A username to offer, if one can be made from the name or email.
    suggested_name: Option<String>,
    /// Send this back in X-CSRF-Token with `POST /api/v1/signup`.
    csrf_token: String,
    expires_at: chrono::DateTime<Utc>,
}

async fn pending(state: &AppState, headers: &HeaderMap) -> ApiResult<(String, PendingAccount)> {
    let token = state
        .accounts
        .read_cookie(headers, CookieKind::SignUp)
        .ok_or_else(no_signup)?;
    let pending = state
        .index
        .pending(&hash(&token), Utc::now())
        .await?
        .ok_or_else(no_signup)?;
    Ok((token, pending))
}

fn no_signup() -> ApiError {
    ApiError::new(
        Code::Unauthorized,
        "no sign-up under way in this browser (or it expired): sign in again",
    )
}

/// The sign-up under way in this browser.
///
/// What the provider said about the person signing in for the first time, a suggested
/// username, and the CSRF token for choosing one.
#[utoipa::path(get, path = "/api/v1/signup", tag = "accounts", operation_id = "pending_signup",
    responses(
        (status = 200, description = "What the provider said, and the CSRF token for choosing the username", body = PendingSignUp),
        (status = 401, description = "No sign-up under way in this browser", body = crate::error::ErrorBody),
    ))]
pub async fn show_signup(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<PendingSignUp>> {
    let (_, p) = pending(&state, &headers).await?;
    Ok(Json(PendingSignUp {
        suggested_name: Providers::suggestion(&p.identity),
        provider: p.identity.provider,
        orcid: p.identity.orcid,
        email: p.identity.email,
        name: p.identity.name,
        csrf_token: p.csrf_token,
        expires_at: p.expires_at,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    /// The username: 2 to 39 letters, digits and single hyphens; the `owner` of your tickets.
    #[schema(
        min_length = 2,
        max_length = 39,
        pattern = "^[A-Za-z0-9](-?[A-Za-z0-9])+$"
    )]
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedUp {
    name: String,
    /// Where the page goes next.
    return_to: String,
}

/// Choose a username and create the account (a first sign-in).
///
/// Needs the sign-up cookie and its CSRF token in X-CSRF-Token. Creates the account with the
/// identity linked and signs the browser in.
#[utoipa::path(post, path = "/api/v1/signup", tag = "accounts", operation_id = "sign_up",
    request_body(content = SignUpRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created and signed in (a session cookie is set)", body = SignedUp),
        (status = 400, description = "Not a valid username", body = crate::error::ErrorBody),
        (status = 401, description = "No sign-up under way in this browser", body = crate::error::ErrorBody),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::error::ErrorBody),
        (status = 409, description = "The name is taken, or the identity already has an account", body = crate::error::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::error::ErrorBody),
    ))]
pub async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<Response> {
    let request: SignUpRequest = serde_json::from_value(body)
        .map_err(|e| ApiError::new(Code::InvalidParameter, format!("invalid sign-up: {e}")))?;
    let (token, pending) = pending(&state, &headers).await?;
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !same_secret(sent, &pending.csrf_token) {
        return Err(ApiError::new(
            Code::Forbidden,
            "choosing a username needs the sign-up's CSRF token in X-CSRF-Token (GET /api/v1/signup gives it)",
        ));
    }
    let name = accounts::check_name(&request.name)
        .map_err(|m| ApiError::with_field(Code::InvalidParameter, "name", m))?;
    let user = match state
        .index
        .create_account(&name, &hash(&token), Utc::now())
        .await?
    {
        Ok(user) => user,
        Err(AccountConflict::NameTaken) => {
            return Err(ApiError::with_field(
                Code::Conflict,
                "name",
                format!("the name '{name}' is taken"),
            ));
        }
        Err(AccountConflict::IdentityTaken) => {
            return Err(ApiError::new(
                Code::Conflict,
                "this identity already has an account: sign in instead",
            ));
        }
        Err(AccountConflict::PendingGone) => return Err(no_signup()),
    };
    let cookies = [
        open_session(&state, &user).await?,
        state.accounts.clear_cookie(CookieKind::SignUp),
    ];
    let mut response = (
        StatusCode::CREATED,
        Json(SignedUp {
            name: user.name,
            return_to: pending.return_to.unwrap_or_else(|| "/".into()),
        }),
    )
        .into_response();
    add_cookies(response.headers_mut(), cookies);
    Ok(response)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// A provider id from /api/v1/auth/providers.
    #[schema(max_length = 64)]
    provider: String,
    /// A path on this site to return to afterwards (default `/account`).
    #[schema(max_length = 512)]
    return_to: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Redirect {
    /// Send the browser here.
    redirect: String,
}

/// Link another provider's identity to your account.
///
/// For a signed-in browser (session and X-CSRF-Token). Answers the provider URL to send the
/// browser to; its callback links the identity and returns to `return_to`.
#[utoipa::path(post, path = "/api/v1/account/identities", tag = "accounts", operation_id = "link_identity",
    request_body(content = LinkRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Where to send the browser", body = Redirect),
        (status = 400, description = "Malformed request", body = crate::error::ErrorBody),
        (status = 401, description = "Not a signed-in browser", body = crate::error::ErrorBody),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = crate::error::ErrorBody),
        (status = 404, description = "No such provider", body = crate::error::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 503, description = "The provider could not be reached, or too many sign-ins are under way (Retry-After)", body = crate::error::ErrorBody),
    ))]
pub async fn link(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<Response> {
    let request: LinkRequest = serde_json::from_value(body)
        .map_err(|e| ApiError::new(Code::InvalidParameter, format!("invalid request: {e}")))?;
    auth.session()?;
    let return_to = request.return_to.as_deref().unwrap_or("/account");
    let (url, cookie) = begin(
        &state,
        &request.provider,
        Some(auth.user.id),
        Some(return_to),
    )
    .await?;
    let mut response = Json(Redirect {
        redirect: url.to_string(),
    })
    .into_response();
    add_cookies(response.headers_mut(), [cookie]);
    Ok(response)
}
