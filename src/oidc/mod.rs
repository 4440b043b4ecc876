//! Signing in with OpenID Connect, through the `openidconnect` crate: the configured providers,
//! their discovery documents and keys (fetched when first needed, then cached a while), the
//! authorization request (code flow with PKCE S256, `state` and `nonce`), and the callback's
//! code exchange and ID-token verification (signature against the provider's JWKS, issuer,
//! audience, expiry, nonce). No JWT code of our own. Uses `domain/` only.

mod http_client;

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, TokenResponse,
};
use tokio::sync::Mutex;

use crate::domain::accounts;
use crate::domain::accounts::VerifiedIdentity;
use http_client::Http;

/// How long a provider's discovery document and keys are trusted before being fetched again
/// (so a rotated signing key is picked up).
const METADATA_TTL: Duration = Duration::from_secs(300);

/// What kind of provider: a generic one, or ORCID (whose subject is the person's ORCID iD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Generic,
    Orcid,
}

/// One provider, as configured (`TICKETBOOTH_OIDC_<ID>_*`).
#[derive(Clone)]
pub struct ProviderConfig {
    /// Lowercase id, used in URLs: `/auth/<id>/login`.
    pub id: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub kind: ProviderKind,
    /// Shown on the sign-in button.
    pub display_name: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for ProviderConfig {
    // Never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A provider as the page lists it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ProviderInfo {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
}

/// Why a sign-in could not be finished.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("no sign-in provider '{0}' is configured")]
    UnknownProvider(String),
    /// The provider could not be reached or answered nonsense: try again later.
    #[error("the sign-in provider could not be reached: {0}")]
    Unreachable(String),
    /// The provider refused the code (used twice, expired, wrong verifier...).
    #[error("the sign-in provider refused the authorization code: {0}")]
    CodeRefused(String),
    /// The ID token failed verification: signature, issuer, audience, expiry or nonce.
    #[error("the sign-in provider's ID token was refused: {0}")]
    BadIdToken(String),
}

/// Everything the redirect to the provider carries and the callback needs back.
pub struct Authorization {
    pub url: url::Url,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A client made from a provider's discovery document: authorization endpoint set, token
/// endpoint as discovered.
type DiscoveredClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

struct Provider {
    config: ProviderConfig,
    metadata: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

/// The configured providers; cheap to clone.
#[derive(Clone)]
pub struct Providers {
    inner: Arc<Vec<Provider>>,
    public_url: url::Url,
    http: Http,
}

impl Providers {
    /// `public_url` is where browsers reach the registry; callbacks are `<public_url>/auth/<id>/callback`.
    pub fn new(configs: Vec<ProviderConfig>, public_url: url::Url) -> anyhow::Result<Self> {
        Ok(Providers {
            inner: Arc::new(
                configs
                    .into_iter()
                    .map(|config| Provider {
                        config,
                        metadata: Mutex::new(None),
                    })
                    .collect(),
            ),
            public_url,
            http: Http::new()?,
        })
    }

    /// No provider: the registry runs on operator-made tokens only.
    pub fn none() -> Self {
        Providers::new(
            Vec::new(),
            url::Url::parse("http://127.0.0.1/").expect("a valid URL"),
        )
        .expect("an HTTP client without TLS roots builds")
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    pub fn public_url(&self) -> &url::Url {
        &self.public_url
    }

    pub fn list(&self) -> Vec<ProviderInfo> {
        self.inner
            .iter()
            .map(|p| ProviderInfo {
                id: p.config.id.clone(),
                name: p.config.display_name.clone(),
                kind: p.config.kind,
            })
            .collect()
    }

    fn provider(&self, id: &str) -> Result<&Provider, SignInError> {
        self.inner
            .iter()
            .find(|p| p.config.id == id)
            .ok_or_else(|| SignInError::UnknownProvider(id.to_owned()))
    }

    fn redirect_url(&self, id: &str) -> Result<RedirectUrl, SignInError> {
        let url = self
            .public_url
            .join(&format!("auth/{id}/callback"))
            .map_err(|e| SignInError::Unreachable(format!("bad public URL: {e}")))?;
        Ok(RedirectUrl::from_url(url))
    }

    async fn client(&self, provider: &Provider) -> Result<DiscoveredClient, SignInError> {
        let metadata = {
            let mut cached = provider.metadata.lock().await;
            match cached.as_ref() {
                Some((at, m)) if at.elapsed() < METADATA_TTL => m.clone(),
                _ => {
                    let issuer = IssuerUrl::new(provider.config.issuer.clone())
                        .map_err(|e| SignInError::Unreachable(format!("bad issuer URL: {e}")))?;
                    let m = CoreProviderMetadata::discover_async(issuer, &self.http)
                        .await
                        .map_err(|e| SignInError::Unreachable(error_chain(&e)))?;
                    *cached = Some((Instant::now(), m.clone()));
                    m
                }
            }
        };
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(provider.config.client_id.clone()),
            Some(ClientSecret::new(provider.config.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect_url(&provider.config.id)?))
    }

    /// The provider's authorization URL for a new sign-in, with fresh `state`, `nonce` and
    /// PKCE verifier (S256).
    pub async fn authorize(&self, id: &str) -> Result<Authorization, SignInError> {
        let provider = self.provider(id)?;
        let client = self.client(provider).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &provider.config.scopes {
            request = request.add_scope(openidconnect::Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok(Authorization {
            url,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the callback's code (with the PKCE verifier) and verifies the ID token against
    /// the provider's keys, this client's id as audience, and the sign-in's nonce.
    pub async fn finish(
        &self,
        id: &str,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<VerifiedIdentity, SignInError> {
        let provider = self.provider(id)?;
        let client = self.client(provider).await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| SignInError::Unreachable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => {
                    SignInError::CodeRefused(r.to_string())
                }
                other => SignInError::Unreachable(error_chain(&other)),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| SignInError::BadIdToken("the token response has no id_token".into()))?;
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(nonce.to_owned()))
            .map_err(|e| SignInError::BadIdToken(e.to_string()))?;
        let subject = claims.subject().as_str().to_owned();
        let orcid = match provider.config.kind {
            ProviderKind::Orcid => Some(accounts::orcid(&subject).ok_or_else(|| {
                SignInError::BadIdToken(format!(
                    "the ORCID provider's subject {subject:?} is not an ORCID iD"
                ))
            })?),
            ProviderKind::Generic => None,
        };
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned())
            .or_else(|| {
                // ORCID gives the parts.
                let given = claims.given_name().and_then(|n| n.get(None))?;
                let family = claims.family_name().and_then(|n| n.get(None));
                Some(match family {
                    Some(f) => format!("{} {}", given.as_str(), f.as_str()),
                    None => given.as_str().to_owned(),
                })
            });
        let email = claims
            .email()
            .filter(|_| claims.email_verified() != Some(false))
            .map(|e| e.as_str().to_owned());
        Ok(VerifiedIdentity {
            provider: provider.config.id.clone(),
            issuer: claims.issuer().as_str().to_owned(),
            subject,
            email,
            name: name.map(|n| n.chars().take(200).collect()),
            orcid,
        })
    }

    /// What the username form may suggest: the preferred username, else the email's local part.
    pub fn suggestion(identity: &VerifiedIdentity) -> Option<String> {
        accounts::suggest_name(&[identity.name.as_deref(), identity.email.as_deref()])
    }
}

/// An error and its sources, for the log and the 503's cause.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
