//! Cross-site request protection for a server without API keys.
//!
//! A keyless server listens on loopback only, but a browser on the same machine can still
//! reach it: any web page can send a "simple" cross-site POST (`text/plain`, no preflight),
//! and a DNS-rebinding page (its own domain name resolving to 127.0.0.1) can even read the
//! answers. With keys configured none of this works (a browser cannot add `Authorization`
//! to a cross-site request without a CORS preflight, which this server never grants), so
//! these rules apply only to a server without keys:
//!
//! - the `Host` must be a loopback name: `localhost`, `127.0.0.1`, `[::1]` (any port, so that
//!   SSH tunnels and local proxies keep working; the name is what a rebinding page cannot
//!   fake); a request without `Host` is not a browser's and is let through;
//! - an `Origin` must be the server's own (`http(s)://` plus the `Host` value);
//! - `Sec-Fetch-Site`, when sent, must be `same-origin` or `none`;
//! - a `POST` must declare a YAML or JSON body ([`SPEC_MEDIA_TYPES`]): the media types a page
//!   cannot send without a preflight, and what `ctl` and innominatus clients send.
//!
//! Refusals are 403 (`cross_site`) and 415 (`unsupported_media_type`) in the usual JSON
//! envelope. This module must never relax a rule when keys are configured: it is simply not
//! consulted then, and authentication decides.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::api_error::ApiError;

/// The `Content-Type` media types accepted on a POST to a keyless server.
pub(crate) const SPEC_MEDIA_TYPES: &[&str] = &[
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "text/x-yaml",
    "application/json",
];

/// The axum middleware: lets a request through, or answers the refusal.
pub(crate) async fn keyless_same_origin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.keys().is_empty() {
        if let Err(refusal) = check(request.method(), request.headers()) {
            return refusal.into_response();
        }
    }
    next.run(request).await
}

/// The rules of this module, for a request of a keyless server.
pub(crate) fn check(method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    let host = match headers.get(header::HOST) {
        None => None,
        Some(value) => {
            let host = value.to_str().ok().filter(|h| is_loopback_host(h));
            Some(host.ok_or_else(|| {
                ApiError::cross_site(
                    "This server has no API keys and answers only requests addressed to \
                     localhost, 127.0.0.1 or [::1] (Host header)",
                )
            })?)
        }
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = origin
            .to_str()
            .ok()
            .and_then(|o| {
                o.strip_prefix("http://")
                    .or_else(|| o.strip_prefix("https://"))
            })
            .zip(host)
            .is_some_and(|(authority, host)| authority.eq_ignore_ascii_case(host));
        if !own {
            return Err(ApiError::cross_site(
                "Cross-origin requests are refused by a server without API keys (Origin header)",
            ));
        }
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        let same = site
            .to_str()
            .is_ok_and(|s| s.eq_ignore_ascii_case("same-origin") || s.eq_ignore_ascii_case("none"));
        if !same {
            return Err(ApiError::cross_site(
                "Cross-site requests are refused by a server without API keys (Sec-Fetch-Site header)",
            ));
        }
    }
    if method == Method::POST {
        let declared = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim());
        let accepted =
            declared.is_some_and(|t| SPEC_MEDIA_TYPES.iter().any(|m| m.eq_ignore_ascii_case(t)));
        if !accepted {
            return Err(ApiError::unsupported_media_type(format!(
                "A spec must be sent with Content-Type {}",
                SPEC_MEDIA_TYPES.join(", ")
            )));
        }
    }
    Ok(())
}

/// Whether a `Host` value names this machine by a loopback name, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // `[::1]` or `[::1]:8081`.
        Some(rest) => match rest.split_once(']') {
            Some((inside, after)) if after.is_empty() || is_port(after) => {
                return inside == "::1";
            }
            _ => return false,
        },
        None => match host.split_once(':') {
            Some((name, port)) if is_port(&format!(":{port}")) => name,
            Some(_) => return false,
            None => host,
        },
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1"
}

/// `:` followed by 1 to 5 digits.
fn is_port(text: &str) -> bool {
    text.strip_prefix(':')
        .is_some_and(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn loopback_names_only() {
        for ok in [
            "localhost",
            "LOCALHOST:8081",
            "127.0.0.1",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:65535",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8081",
            "localhost.evil.example",
            "127.0.0.1.nip.io:8081",
            "127.0.0.2:8081",
            "[::2]:8081",
            "[::1]x",
            "localhost:",
            "localhost:80x",
            "",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn same_origin_yaml_posts_pass_and_cross_site_ones_do_not() {
        let post = Method::POST;
        let host = ("host", "127.0.0.1:8081");
        let yaml = ("content-type", "application/yaml");
        assert!(check(&post, &headers(&[host, yaml])).is_ok());
        assert!(
            check(
                &post,
                &headers(&[host, ("content-type", "application/json; charset=utf-8")])
            )
            .is_ok()
        );
        assert!(
            check(
                &post,
                &headers(&[host, yaml, ("origin", "http://127.0.0.1:8081")])
            )
            .is_ok()
        );
        assert!(
            check(
                &post,
                &headers(&[host, yaml, ("sec-fetch-site", "same-origin")])
            )
            .is_ok()
        );
        assert!(check(&Method::GET, &headers(&[host])).is_ok());
        assert!(check(&Method::GET, &headers(&[])).is_ok());

        let refused = |pairs: &[(&'static str, &str)], status: u16| {
            let err = check(&post, &headers(pairs)).unwrap_err();
            assert_eq!(err.status().as_u16(), status, "{pairs:?}");
        };
        refused(&[host, ("content-type", "text/plain")], 415);
        refused(
            &[host, ("content-type", "application/x-www-form-urlencoded")],
            415,
        );
        refused(&[host], 415);
        refused(&[("host", "evil.example:8081"), yaml], 403);
        refused(&[host, yaml, ("origin", "http://evil.example")], 403);
        refused(&[host, yaml, ("origin", "http://localhost:3000")], 403);
        refused(&[host, yaml, ("origin", "null")], 403);
        refused(&[host, yaml, ("sec-fetch-site", "cross-site")], 403);
        refused(&[host, yaml, ("sec-fetch-site", "same-site")], 403);
    }
}
