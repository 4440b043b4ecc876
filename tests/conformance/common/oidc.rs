//! Signing in against the real OpenID Connect provider the test command starts on loopback
//! (`tests/oidc/provider.mjs`: issuers in TEST_OIDC_ISSUER and TEST_OIDC_ORCID_ISSUER), and a
//! small browser: a client that follows no redirects and keeps cookies, so each step of the
//! flow can be seen and tampered with.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use ticketbooth::oidc::{ProviderConfig, ProviderKind};

use super::{Response, TestServer};

/// The two providers of the test provider (`local`, generic; `orcid`, of kind orcid), or
/// `None` when it is not running: a failure under CI=true.
pub fn test_providers() -> Option<Vec<ProviderConfig>> {
    let local = std::env::var("TEST_OIDC_ISSUER")
        .ok()
        .filter(|s| !s.is_empty());
    let orcid = std::env::var("TEST_OIDC_ORCID_ISSUER")
        .ok()
        .filter(|s| !s.is_empty());
    let (Some(local), Some(orcid)) = (local, orcid) else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "CI=true but TEST_OIDC_ISSUER / TEST_OIDC_ORCID_ISSUER are not set: the sign-in tests cannot be skipped"
            );
        }
        eprintln!("skipping: no test OpenID Connect provider (TEST_OIDC_ISSUER)");
        return None;
    };
    let provider = |id: &str, issuer: String, kind| ProviderConfig {
        id: id.to_owned(),
        issuer,
        client_id: "ticketbooth".to_owned(),
        client_secret: "ticketbooth-secret".to_owned(),
        kind,
        display_name: id.to_owned(),
        scopes: match kind {
            ProviderKind::Orcid => vec![],
            ProviderKind::Generic => vec!["profile".into(), "email".into()],
        },
    };
    Some(vec![
        provider("local", local, ProviderKind::Generic),
        provider("orcid", orcid, ProviderKind::Orcid),
    ])
}

/// The issuer of a configured provider.
pub fn issuer(providers: &[ProviderConfig], id: &str) -> String {
    providers
        .iter()
        .find(|p| p.id == id)
        .unwrap()
        .issuer
        .clone()
}

/// One browser: its own cookies (all hosts are 127.0.0.1, so one jar by name, as a browser
/// shares cookies across ports), no automatic redirects.
pub struct Browser {
    client: reqwest::Client,
    jar: Mutex<BTreeMap<String, String>>,
}

impl Default for Browser {
    fn default() -> Self {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: Mutex::default(),
        }
    }
}

impl Browser {
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar.lock().unwrap().insert(name.into(), value.into());
    }

    pub async fn request(
        &self,
        method: Method,
        url: &str,
        json: Option<&Value>,
        csrf: Option<&str>,
    ) -> Response {
        let mut req = self.client.request(method, url);
        if let Some(token) = csrf {
            req = req.header("X-CSRF-Token", token);
        }
        if let Some(body) = json {
            req = req.json(body);
        }
        self.send(req).await
    }

    pub async fn get(&self, url: &str) -> Response {
        self.request(Method::GET, url, None, None).await
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Response {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = self
            .client
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    /// Sends with the jar's cookies and keeps the ones the answer sets.
    async fn send(&self, mut req: reqwest::RequestBuilder) -> Response {
        let cookies = {
            let jar = self.jar.lock().unwrap();
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if !cookies.is_empty() {
            req = req.header(COOKIE, cookies);
        }
        self.keep(Response::read(req.send().await.unwrap()).await)
    }

    fn keep(&self, response: Response) -> Response {
        let mut jar = self.jar.lock().unwrap();
        for value in response.headers.get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let expired = attrs.to_ascii_lowercase().contains("max-age=0")
                || attrs
                    .to_ascii_lowercase()
                    .contains("expires=thu, 01 jan 1970");
            if expired || value.is_empty() {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        response
    }
}

/// A redirect's target, made absolute against `base`.
pub fn location(r: &Response, base: &str) -> String {
    assert!(
        (300..400).contains(&r.status),
        "expected a redirect, got {}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    url::Url::parse(base)
        .unwrap()
        .join(r.header(LOCATION.as_str()))
        .unwrap()
        .to_string()
}

/// One query parameter of a URL.
pub fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Starts a sign-in at `path` on the registry (`/auth/<id>/login?...`), and at the provider
/// signs in as `user` (alice, bob, carol): the URL of the provider's redirect back to the
/// registry's callback, not yet visited, and the authorization URL the registry sent.
pub async fn through_provider(
    b: &Browser,
    srv: &TestServer,
    start: &str,
    user: &str,
) -> (String, String) {
    let r = b.get(&format!("{}{start}", srv.url)).await;
    let authorize = location(&r, &srv.url);
    through_provider_from(b, &authorize, user, &srv.url).await
}

/// [`through_provider`] from the provider's authorization URL.
pub async fn through_provider_from(
    b: &Browser,
    authorize: &str,
    user: &str,
    registry: &str,
) -> (String, String) {
    let mut url = authorize.to_owned();
    for _ in 0..10 {
        if url.starts_with(registry) {
            return (url, authorize.to_owned());
        }
        let r = b.get(&url).await;
        if r.status == 200 {
            // The provider's sign-in form: /interaction/<uid>.
            let form = format!("{}/login", url.trim_end_matches('/'));
            let r = b.post_form(&form, &[("login", user)]).await;
            url = location(&r, &url);
        } else {
            url = location(&r, &url);
        }
    }
    panic!("the provider never sent the browser back to the registry (last at {url})");
}

/// Registers a one-shot tamper rule at the test provider for the sign-in whose authorization
/// URL is `authorize`: its ID token comes back changed (`nonce`, `audience`, `issuer`,
/// `expired`, `key`, `none`).
pub async fn tamper(issuer: &str, authorize: &str, mode: &str) {
    let nonce = param(authorize, "nonce").expect("the authorization request carries a nonce");
    let r = reqwest::Client::new()
        .post(format!("{issuer}/__test/tamper"))
        .json(&json!({"nonce": nonce, "mode": mode}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "tamper {mode}");
}

/// Signs `user` in with `provider` in a fresh browser, choosing `username` on a first sign-in:
/// the browser, now holding a session, and the account's CSRF token.
pub async fn signed_in(
    srv: &TestServer,
    provider: &str,
    user: &str,
    username: &str,
) -> (Browser, String) {
    let b = Browser::default();
    let (callback, _) = through_provider(
        &b,
        srv,
        &format!("/auth/{provider}/login?return_to=/upload"),
        user,
    )
    .await;
    let r = b.get(&callback).await;
    let next = location(&r, &srv.url);
    if next.ends_with("/signup") {
        let pending = b.get(&srv.api("/signup")).await;
        assert_eq!(
            pending.status,
            200,
            "{}",
            String::from_utf8_lossy(&pending.body)
        );
        let csrf = pending.json()["csrf_token"].as_str().unwrap().to_owned();
        let r = b
            .request(
                Method::POST,
                &srv.api("/signup"),
                Some(&json!({"name": username})),
                Some(&csrf),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    } else {
        assert!(
            next.ends_with("/upload"),
            "signed in, back where it started: {next}"
        );
    }
    let account = b.get(&srv.api("/account")).await;
    assert_eq!(
        account.status,
        200,
        "{}",
        String::from_utf8_lossy(&account.body)
    );
    assert_eq!(account.json()["name"], username);
    let csrf = account.json()["csrf_token"].as_str().unwrap().to_owned();
    (b, csrf)
}
