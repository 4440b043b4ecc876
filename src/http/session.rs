//! Browser sessions over cookies: the sign-in settings the handlers share, and the cookies
//! themselves. A session cookie holds a random secret whose sha256 the index keeps (so every
//! replica sees it); `HttpOnly`, `SameSite=Lax`, and `Secure` with a `__Host-` name behind
//! https. State-changing requests made with it also need the session's CSRF token in
//! `X-CSRF-Token` (`auth.rs` checks it).

use std::time::Duration;

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use cookie::{Cookie, SameSite};

use crate::config::accounts::{AccountArgs, providers_from_env};
use crate::oidc::Providers;

/// The header a page sends its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a sign-in may take at the provider, from redirect to callback.
pub const SIGN_IN_WINDOW: Duration = Duration::from_secs(600);

/// Sign-ins under way at once, across replicas (each a row for up to [`SIGN_IN_WINDOW`]): past
/// it, a new sign-in is answered 503, so nobody can fill the table by starting sign-ins.
pub const MAX_SIGN_INS_IN_FLIGHT: u32 = 10_000;

/// How long a first sign-in may take to choose a username.
pub const SIGN_UP_WINDOW: Duration = Duration::from_secs(1800);

/// The three cookies: the session, a sign-in under way (binds the callback to the browser that
/// started it), a first sign-in choosing its username.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieKind {
    Session,
    SignIn,
    SignUp,
}

/// What sign-in and sessions are configured with.
#[derive(Clone)]
pub struct AccountSettings {
    pub providers: Providers,
    pub secure_cookies: bool,
    pub session_lifetime: Duration,
    pub max_session_token_days: u32,
}

impl AccountSettings {
    /// No provider: tokens only, as before accounts existed.
    pub fn disabled() -> Self {
        AccountSettings {
            providers: Providers::none(),
            secure_cookies: false,
            session_lifetime: Duration::from_secs(14 * 86_400),
            max_session_token_days: 90,
        }
    }

    /// From `serve`'s flags and the providers in the environment.
    pub fn from_args(
        args: &AccountArgs,
        listen: std::net::SocketAddr,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let public_url = match &args.public_url {
            Some(url) => url.clone(),
            None => url::Url::parse(&format!("http://{listen}/"))?,
        };
        Ok(AccountSettings {
            providers: Providers::new(providers_from_env(vars)?, public_url.clone())?,
            secure_cookies: args.secure(&public_url),
            session_lifetime: args.session_lifetime,
            max_session_token_days: args.max_session_token_days,
        })
    }

    /// The cookie's name; with `Secure`, the `__Host-` prefix makes browsers refuse it unless
    /// set over https for this exact host and path `/`.
    pub fn cookie_name(&self, kind: CookieKind) -> &'static str {
        match (kind, self.secure_cookies) {
            (CookieKind::Session, false) => "tb_session",
            (CookieKind::Session, true) => "__Host-tb_session",
            (CookieKind::SignIn, false) => "tb_signin",
            (CookieKind::SignIn, true) => "__Host-tb_signin",
            (CookieKind::SignUp, false) => "tb_signup",
            (CookieKind::SignUp, true) => "__Host-tb_signup",
        }
    }

    /// A `Set-Cookie` value setting `kind` to `value` for `max_age`.
    pub fn set_cookie(&self, kind: CookieKind, value: &str, max_age: Duration) -> HeaderValue {
        let cookie = Cookie::build((self.cookie_name(kind), value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure_cookies)
            .max_age(cookie::time::Duration::seconds(max_age.as_secs() as i64))
            .build();
        HeaderValue::from_str(&cookie.to_string())
            .expect("hex and fixed names are valid header text")
    }

    /// A `Set-Cookie` value deleting `kind`.
    pub fn clear_cookie(&self, kind: CookieKind) -> HeaderValue {
        self.set_cookie(kind, "", Duration::ZERO)
    }

    /// The value of cookie `kind` in a request, if present and not empty.
    pub fn read_cookie(&self, headers: &HeaderMap, kind: CookieKind) -> Option<String> {
        let name = self.cookie_name(kind);
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| Cookie::split_parse(v.to_owned()))
            .filter_map(Result::ok)
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// Appends `Set-Cookie` headers to a response's headers.
pub fn add_cookies(headers: &mut HeaderMap, cookies: impl IntoIterator<Item = HeaderValue>) {
    for c in cookies {
        headers.append(SET_COOKIE, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_lax_and_secure_behind_https() {
        let mut s = AccountSettings::disabled();
        let plain = s.set_cookie(CookieKind::Session, "abc", Duration::from_secs(60));
        let plain = plain.to_str().unwrap();
        assert!(plain.starts_with("tb_session=abc"), "{plain}");
        for part in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=60"] {
            assert!(plain.contains(part), "{plain} lacks {part}");
        }
        assert!(!plain.contains("Secure"));
        s.secure_cookies = true;
        let secure = s.set_cookie(CookieKind::Session, "abc", Duration::from_secs(60));
        let secure = secure.to_str().unwrap();
        assert!(
            secure.starts_with("__Host-tb_session=abc") && secure.contains("Secure"),
            "{secure}"
        );
        assert!(
            s.clear_cookie(CookieKind::SignIn)
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
    }

    #[test]
    fn a_cookie_is_read_by_its_name_among_others() {
        let s = AccountSettings::disabled();
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("other=1; tb_session=s3cret; tb_signin="),
        );
        assert_eq!(
            s.read_cookie(&headers, CookieKind::Session).as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            s.read_cookie(&headers, CookieKind::SignIn),
            None,
            "empty is absent"
        );
        assert_eq!(s.read_cookie(&headers, CookieKind::SignUp), None);
    }
}
