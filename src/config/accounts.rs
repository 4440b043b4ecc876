//! `serve`'s sign-in settings: the public URL callbacks come back to, cookies, session and
//! token lifetimes, and the OpenID Connect providers, which are read from the environment as
//! `TICKETBOOTH_OIDC_<ID>_ISSUER`, `_CLIENT_ID`, `_CLIENT_SECRET`, and optionally `_KIND`
//! (`orcid` or `generic`), `_NAME` (the button's label) and `_SCOPES` (space-separated, besides
//! `openid`). No provider: the registry runs on operator-made tokens, as before.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;

use super::parse_duration;
use crate::oidc::{ProviderConfig, ProviderKind};

#[derive(Debug, Args, Clone)]
pub struct AccountArgs {
    /// Where browsers reach this registry (scheme, host, port, no path), for sign-in callbacks:
    /// `<public-url>/auth/<id>/callback` is the redirect URI to register with each provider.
    /// Default: http:// and the listen address.
    #[arg(long, env = "TICKETBOOTH_PUBLIC_URL")]
    pub public_url: Option<url::Url>,
    /// Mark session cookies `Secure` (and name them `__Host-`): `auto` does when the public URL
    /// is https.
    #[arg(long, env = "TICKETBOOTH_SECURE_COOKIES", default_value = "auto", value_parser = ["auto", "true", "false"])]
    pub secure_cookies: String,
    /// How long a browser session lasts after sign-in.
    #[arg(long, env = "TICKETBOOTH_SESSION_LIFETIME", default_value = "14d", value_parser = parse_duration)]
    pub session_lifetime: Duration,
    /// The longest life of an API token created on the web page (from a session).
    #[arg(long, env = "TICKETBOOTH_MAX_SESSION_TOKEN_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub max_session_token_days: u32,
}

impl AccountArgs {
    /// Whether cookies are `Secure`, given where the registry is reached.
    pub fn secure(&self, public_url: &url::Url) -> bool {
        match self.secure_cookies.as_str() {
            "true" => true,
            "false" => false,
            _ => public_url.scheme() == "https",
        }
    }
}

/// The providers configured in `vars` (the process environment, or a test's), sorted by id.
pub fn providers_from_env(
    vars: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<Vec<ProviderConfig>> {
    const PREFIX: &str = "TICKETBOOTH_OIDC_";
    const KEYS: [&str; 6] = [
        "ISSUER",
        "CLIENT_ID",
        "CLIENT_SECRET",
        "KIND",
        "NAME",
        "SCOPES",
    ];
    let mut found: BTreeMap<String, BTreeMap<&'static str, String>> = BTreeMap::new();
    for (key, value) in vars {
        let Some(rest) = key.strip_prefix(PREFIX) else {
            continue;
        };
        // The id may itself contain underscores: match the longest known suffix.
        let Some((id, field)) = KEYS.iter().find_map(|k| {
            rest.strip_suffix(k)
                .and_then(|id| id.strip_suffix('_'))
                .filter(|id| !id.is_empty())
                .map(|id| (id, *k))
        }) else {
            anyhow::bail!(
                "{key}: expected {PREFIX}<ID>_{{ISSUER,CLIENT_ID,CLIENT_SECRET,KIND,NAME,SCOPES}}"
            );
        };
        found
            .entry(id.to_lowercase().replace('_', "-"))
            .or_default()
            .insert(field, value);
    }
    found
        .into_iter()
        .map(|(id, mut f)| {
            let mut take = |k: &str| f.remove(k).filter(|v| !v.trim().is_empty());
            let required = |v: Option<String>, k: &str| {
                v.ok_or_else(|| {
                    anyhow::anyhow!(
                        "provider '{id}': {PREFIX}{}_{k} is not set",
                        id.to_uppercase().replace('-', "_")
                    )
                })
            };
            let issuer = required(take("ISSUER"), "ISSUER")?;
            url::Url::parse(&issuer).map_err(|e| {
                anyhow::anyhow!("provider '{id}': the issuer {issuer:?} is not a URL: {e}")
            })?;
            let kind = match take("KIND").as_deref().map(str::to_lowercase).as_deref() {
                None | Some("generic") | Some("oidc") => ProviderKind::Generic,
                Some("orcid") => ProviderKind::Orcid,
                Some(other) => {
                    anyhow::bail!("provider '{id}': unknown KIND {other:?} (orcid or generic)")
                }
            };
            let scopes = match take("SCOPES") {
                Some(s) => s
                    .split_whitespace()
                    .filter(|s| *s != "openid")
                    .map(str::to_owned)
                    .collect(),
                // ORCID answers only `openid`; others also give a name and an email.
                None if kind == ProviderKind::Orcid => Vec::new(),
                None => vec!["profile".to_owned(), "email".to_owned()],
            };
            Ok(ProviderConfig {
                display_name: take("NAME").unwrap_or_else(|| match kind {
                    ProviderKind::Orcid => "ORCID".to_owned(),
                    ProviderKind::Generic => id.clone(),
                }),
                client_id: required(take("CLIENT_ID"), "CLIENT_ID")?,
                client_secret: required(take("CLIENT_SECRET"), "CLIENT_SECRET")?,
                issuer,
                kind,
                scopes,
                id,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn providers_are_read_by_id_with_kind_and_defaults() {
        let got = providers_from_env(vars(&[
            ("PATH", "/bin"),
            ("TICKETBOOTH_OIDC_ORCID_ISSUER", "https://orcid.org"),
            ("TICKETBOOTH_OIDC_ORCID_CLIENT_ID", "APP-1"),
            ("TICKETBOOTH_OIDC_ORCID_CLIENT_SECRET", "s1"),
            ("TICKETBOOTH_OIDC_ORCID_KIND", "orcid"),
            (
                "TICKETBOOTH_OIDC_MY_LAB_ISSUER",
                "https://id.lab.example/realms/x",
            ),
            ("TICKETBOOTH_OIDC_MY_LAB_CLIENT_ID", "tb"),
            ("TICKETBOOTH_OIDC_MY_LAB_CLIENT_SECRET", "s2"),
            ("TICKETBOOTH_OIDC_MY_LAB_NAME", "Lab Keycloak"),
        ]))
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].id, "my-lab");
        assert_eq!(got[0].display_name, "Lab Keycloak");
        assert_eq!(got[0].kind, ProviderKind::Generic);
        assert_eq!(got[0].scopes, ["profile", "email"]);
        assert_eq!(got[1].id, "orcid");
        assert_eq!(got[1].kind, ProviderKind::Orcid);
        assert_eq!(got[1].display_name, "ORCID");
        assert!(got[1].scopes.is_empty());
        assert!(
            !format!("{:?}", got[1]).contains("s1"),
            "Debug hides the secret"
        );
    }

    #[test]
    fn an_incomplete_or_unknown_setting_names_the_problem() {
        let missing =
            providers_from_env(vars(&[("TICKETBOOTH_OIDC_X_ISSUER", "https://a.example")]))
                .unwrap_err()
                .to_string();
        assert!(
            missing.contains("TICKETBOOTH_OIDC_X_CLIENT_ID"),
            "{missing}"
        );
        let typo = providers_from_env(vars(&[("TICKETBOOTH_OIDC_X_ISSUR", "https://a.example")]))
            .unwrap_err()
            .to_string();
        assert!(typo.contains("TICKETBOOTH_OIDC_X_ISSUR"), "{typo}");
        let kind = providers_from_env(vars(&[
            ("TICKETBOOTH_OIDC_X_ISSUER", "https://a.example"),
            ("TICKETBOOTH_OIDC_X_CLIENT_ID", "a"),
            ("TICKETBOOTH_OIDC_X_CLIENT_SECRET", "b"),
            ("TICKETBOOTH_OIDC_X_KIND", "saml"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(kind.contains("saml"), "{kind}");
        assert!(providers_from_env(vars(&[])).unwrap().is_empty());
    }
}
