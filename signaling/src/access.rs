//! Who may do what: bearer tokens with roles, and the browser origins allowed to call
//! the server from other pages.
//!
//! [`Access`] maps tokens to a [`Role`]. With no token configured the server is open:
//! every client is a controller (the server then listens on loopback only unless told
//! otherwise; see the `server` crate). With tokens, every request must carry one, as
//! `Authorization: Bearer <token>`, or as an `access_token` query parameter where a
//! browser cannot set headers (a WebSocket); a missing or unknown token is a `401`.
//!
//! [`Origins`] is the allow-list of pages (`scheme://host[:port]`) that may call the
//! server from a browser: CORS replies name them, and a request that a browser sent
//! from any other page (its `Origin` header names neither an allowed origin nor the
//! server itself) is refused with a `403` before it does anything.
//!
//! Length: Over 600 lines only with its tests (about 190 lines).

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a client may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Watches, and moves its own view's camera.
    Viewer,
    /// Edits the scene too.
    Controller,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Controller => "controller",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The shortest token accepted: guessing one must be hopeless.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why a token configuration was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("a {role} token is {len} characters; tokens must be at least {MIN_TOKEN_LEN}")]
    TooShort { role: Role, len: usize },
    #[error("a {role} token has a character other than printable ASCII (spaces and control characters are not allowed)")]
    BadCharacter { role: Role },
    #[error("the same token is given as both a viewer and a controller token")]
    BothRoles,
    #[error("line {line}: {problem}")]
    File { line: usize, problem: String },
}

/// Why a request was not let in.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("a token is required: send Authorization: Bearer <token> (or ?access_token=<token> on a WebSocket)")]
    Missing,
    #[error("the token is not valid")]
    Invalid,
    #[error("the Authorization header is not a bearer token")]
    Malformed,
    #[error("this request needs the controller role; the token is a viewer's")]
    Forbidden,
}

impl AccessError {
    /// The HTTP reply: `401` with a `WWW-Authenticate` challenge (RFC 6750), or `403`.
    pub fn into_response(self) -> Response {
        let status = match self {
            AccessError::Forbidden => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        };
        let mut r = (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{self}\n"),
        )
            .into_response();
        let challenge = match self {
            AccessError::Missing => Some("Bearer realm=\"streamtracer\""),
            AccessError::Invalid | AccessError::Malformed => {
                Some("Bearer realm=\"streamtracer\", error=\"invalid_token\"")
            }
            AccessError::Forbidden => None,
        };
        if let Some(c) = challenge {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        r
    }
}

/// The tokens and their roles.
#[derive(Clone, Default)]
pub struct Access {
    tokens: Vec<(String, Role)>,
}

impl fmt::Debug for Access {
    // Never print the tokens themselves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl Access {
    /// No tokens: every client is a controller.
    pub fn open() -> Access {
        Access::default()
    }

    /// These viewer and controller tokens, each checked.
    pub fn new(
        viewer: impl IntoIterator<Item = String>,
        controller: impl IntoIterator<Item = String>,
    ) -> Result<Access, TokenError> {
        let mut tokens = Vec::new();
        for (role, list) in [
            (Role::Viewer, viewer.into_iter().collect::<Vec<_>>()),
            (Role::Controller, controller.into_iter().collect()),
        ] {
            for token in list {
                if token.len() < MIN_TOKEN_LEN {
                    return Err(TokenError::TooShort {
                        role,
                        len: token.len(),
                    });
                }
                if !token.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(TokenError::BadCharacter { role });
                }
                match tokens.iter().find(|(t, _)| *t == token) {
                    Some((_, r)) if *r != role => return Err(TokenError::BothRoles),
                    Some(_) => {}
                    None => tokens.push((token, role)),
                }
            }
        }
        Ok(Access { tokens })
    }

    /// Reads a token file: one `viewer TOKEN` or `controller TOKEN` per line; blank
    /// lines and lines starting with `#` are skipped. Returns (viewer, controller).
    pub fn parse_token_file(text: &str) -> Result<(Vec<String>, Vec<String>), TokenError> {
        let (mut viewer, mut controller) = (Vec::new(), Vec::new());
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let (role, token) = (words.next(), words.next());
            let problem = |problem: &str| TokenError::File {
                line: i + 1,
                problem: problem.to_owned(),
            };
            if words.next().is_some() {
                return Err(problem(
                    "expected `viewer TOKEN` or `controller TOKEN`, found more words",
                ));
            }
            match (role, token) {
                (Some("viewer"), Some(t)) => viewer.push(t.to_owned()),
                (Some("controller"), Some(t)) => controller.push(t.to_owned()),
                _ => return Err(problem("expected `viewer TOKEN` or `controller TOKEN`")),
            }
        }
        Ok((viewer, controller))
    }

    /// Whether no token is configured (every client is a controller).
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The role of `token`. Every configured token is compared, each in time that
    /// does not depend on where the bytes differ, so timing tells nothing.
    pub fn role(&self, token: Option<&str>) -> Result<Role, AccessError> {
        self.caller(token).map(|c| c.role)
    }

    /// Who presents `token`: its role and which configured token it is.
    pub fn caller(&self, token: Option<&str>) -> Result<Caller, AccessError> {
        if self.is_open() {
            return Ok(Caller::OPEN);
        }
        let token = token.ok_or(AccessError::Missing)?;
        let mut found = None;
        for (i, (t, role)) in self.tokens.iter().enumerate() {
            if constant_time_eq(t.as_bytes(), token.as_bytes()) {
                found = Some(Caller {
                    role: *role,
                    token: Some(TokenId(i)),
                });
            }
        }
        found.ok_or(AccessError::Invalid)
    }

    /// The role of a request: its bearer token, or else its `access_token` query
    /// parameter (`query` is the URI's query string, percent-encoded).
    pub fn role_of(&self, headers: &HeaderMap, query: Option<&str>) -> Result<Role, AccessError> {
        self.caller_of(headers, query).map(|c| c.role)
    }

    /// Who sent a request (see [`Access::role_of`]): its role and its token.
    pub fn caller_of(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Caller, AccessError> {
        if self.is_open() {
            return Ok(Caller::OPEN);
        }
        self.caller(request_token(headers, query)?.as_deref())
    }

    /// The role of a request and who it is, for limits kept per client: the token it
    /// presented, or on an open server (no tokens) `peer`, the address it came from
    /// (unspecified when the transport does not say).
    pub fn identify(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        peer: Option<IpAddr>,
    ) -> Result<(Role, Credential), AccessError> {
        let caller = self.caller_of(headers, query)?;
        Ok((caller.role, caller.credential(peer)))
    }
}

/// The token a request presents: its bearer token, or else its `access_token` query
/// parameter (percent-decoded); an `Authorization` header that is not a bearer token
/// is an error.
fn request_token(headers: &HeaderMap, query: Option<&str>) -> Result<Option<String>, AccessError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| AccessError::Malformed)?;
        let (scheme, token) = value.split_once(' ').ok_or(AccessError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AccessError::Malformed);
        }
        return Ok(Some(token.trim().to_owned()));
    }
    Ok(query_param(query, "access_token"))
}
/// Who a client is, for what is limited per client (the edit rate): the token it
/// presented, named by its place in the configuration (never the secret itself), or,
/// on a server without tokens, the address it connects from. Every connection and
/// request of one client has the same credential, whatever carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Credential {
    /// The configured token with this index.
    Token(usize),
    /// A client address: an IPv4 address, or an IPv6 /64 network (one host commonly
    /// has a whole /64 to pick addresses from, so it counts as one client).
    Address(IpAddr),
}

impl Credential {
    /// The credential of a client at `ip` on an open server.
    pub fn address(ip: IpAddr) -> Credential {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            v4 => v4,
        };
        Credential::Address(ip)
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Token(i) => write!(f, "token #{}", i + 1),
            Credential::Address(IpAddr::V6(v6)) => write!(f, "{v6}/64"),
            Credential::Address(ip) => write!(f, "{ip}"),
        }
    }
}

/// Which configured token a request carried: its place in the configuration, never
/// the token itself, so it can be kept (as the credential that created a session)
/// without keeping a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenId(usize);

/// Who sent a request: the role its token grants, and the token (`None` when no
/// token is configured: every client is then a controller and none is told apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub role: Role,
    pub token: Option<TokenId>,
}

impl Caller {
    /// Any client of a server without tokens.
    pub const OPEN: Caller = Caller {
        role: Role::Controller,
        token: None,
    };

    /// Who this caller is for limits kept per client: its token, or without tokens
    /// `peer`, the address it came from (unspecified when the transport does not say).
    pub fn credential(&self, peer: Option<IpAddr>) -> Credential {
        match self.token {
            Some(TokenId(i)) => Credential::Token(i),
            None => Credential::address(peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))),
        }
    }
}

/// Whether two secrets are equal, in time that does not depend on where they differ
/// (only on their lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// The value of query parameter `name` in a URI's query string (as sent, still
/// percent-encoded), decoded as `application/x-www-form-urlencoded` the way browsers
/// encode it (`URLSearchParams`, `encodeURIComponent`): `%XX` escapes and `+` for a
/// space. The first occurrence counts.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The browser origins allowed to call the server from their pages.
#[derive(Clone, Debug, Default)]
pub struct Origins {
    /// `None`: any origin.
    allowed: Option<Vec<String>>,
}

impl Origins {
    /// Any page may call the server (requests still need a token where tokens are set).
    pub fn any() -> Origins {
        Origins { allowed: None }
    }

    /// Only these origins (`scheme://host[:port]`, as browsers send them); `*` in the
    /// list means any.
    pub fn only(list: impl IntoIterator<Item = String>) -> Result<Origins, String> {
        let mut allowed = Vec::new();
        for origin in list {
            let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
            if origin == "*" {
                return Ok(Origins::any());
            }
            let Some((scheme, rest)) = origin.split_once("://") else {
                return Err(format!(
                    "allowed origin {origin:?} is not scheme://host[:port] (for example https://dashboard.example.com)"
                ));
            };
            if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') {
                return Err(format!(
                    "allowed origin {origin:?} is not http(s)://host[:port], with no path"
                ));
            }
            allowed.push(origin);
        }
        Ok(Origins {
            allowed: Some(allowed),
        })
    }

    /// Whether a request with these headers may proceed: it has no `Origin` (not
    /// sent by a page in a browser, or a same-origin navigation), its origin is the
    /// server's own (its host is the request's `Host`), or the origin is allowed.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
        if self.allows(&origin) || same_origin(&origin, headers) {
            Ok(())
        } else {
            Err(format!(
                "origin {origin} is not allowed to use this server (see --allowed-origin)"
            ))
        }
    }

    fn allows(&self, origin: &str) -> bool {
        match &self.allowed {
            None => true,
            Some(list) => list.iter().any(|o| o == origin),
        }
    }

    /// Adds the CORS headers for a request with `request` headers to `response`.
    pub fn decorate(&self, request: &HeaderMap, response: &mut Response) {
        let h = response.headers_mut();
        match (&self.allowed, request.get(header::ORIGIN)) {
            (None, _) => {
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
            }
            (Some(_), Some(origin)) => {
                let text = origin.to_str().unwrap_or("").to_ascii_lowercase();
                if self.allows(&text) {
                    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                }
                h.append(header::VARY, HeaderValue::from_static("Origin"));
            }
            (Some(_), None) => {
                h.append(header::VARY, HeaderValue::from_static("Origin"));
            }
        }
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            // What a page of another origin may read: a session's URL, when to retry,
            // and which picture a snapshot is.
            HeaderValue::from_static(
                "Location, Retry-After, X-Streamtracer-Revision, X-Streamtracer-Samples, X-Streamtracer-Denoised",
            ),
        );
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request was sent to.
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

/// The server's policy for browser and token checks, shared by every route.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub access: Access,
    pub origins: Origins,
}

impl Policy {
    /// Applied around every route: answers CORS preflights, refuses requests from
    /// pages whose origin is not allowed (`403`, before the route runs), and adds
    /// the CORS headers to every reply.
    pub async fn middleware(
        policy: axum::extract::State<std::sync::Arc<Policy>>,
        request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> Response {
        let headers = request.headers().clone();
        let mut response = if let Err(message) = policy.origins.check(&headers) {
            (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{message}\n"),
            )
                .into_response()
        } else if request.method() == Method::OPTIONS
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            preflight()
        } else {
            next.run(request).await
        };
        policy.origins.decorate(&headers, &mut response);
        response
    }
}

/// The answer to a CORS preflight: every method and header the API uses.
fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    for (name, value) in [
        (
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, POST, PUT, DELETE, PATCH, OPTIONS",
        ),
        (
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Content-Type, Authorization",
        ),
        (header::ACCESS_CONTROL_MAX_AGE, "600"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(c: char) -> String {
        std::iter::repeat_n(c, MIN_TOKEN_LEN).collect()
    }

    #[test]
    fn tokens_map_to_roles_and_others_are_refused() {
        let access = Access::new([token('v')], [token('c')]).unwrap();
        assert_eq!(access.role(Some(&token('v'))), Ok(Role::Viewer));
        assert_eq!(access.role(Some(&token('c'))), Ok(Role::Controller));
        assert_eq!(access.role(Some(&token('x'))), Err(AccessError::Invalid));
        assert_eq!(access.role(Some("short")), Err(AccessError::Invalid));
        assert_eq!(access.role(None), Err(AccessError::Missing));
        assert_eq!(Access::open().role(None), Ok(Role::Controller));
    }

    #[test]
    fn a_request_is_identified_by_its_token_or_else_its_address() {
        let access = Access::new([token('v')], [token('c'), token('d')]).unwrap();
        let bearer = |t: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::AUTHORIZATION,
                format!("Bearer {t}").parse().unwrap(),
            );
            h
        };
        let here: IpAddr = "192.0.2.7".parse().unwrap();
        let (role, c) = access
            .identify(&bearer(&token('c')), None, Some(here))
            .unwrap();
        assert_eq!((role, c), (Role::Controller, Credential::Token(1)));
        // The same token in the query is the same credential, from any address.
        let query = format!("access_token={}", token('c'));
        let from_elsewhere = Some("198.51.100.1".parse().unwrap());
        assert_eq!(
            access.identify(&HeaderMap::new(), Some(&query), from_elsewhere),
            Ok((Role::Controller, Credential::Token(1)))
        );
        assert_eq!(
            access.identify(&bearer(&token('d')), None, Some(here)),
            Ok((Role::Controller, Credential::Token(2)))
        );
        assert_eq!(
            access.identify(&bearer(&token('x')), None, Some(here)),
            Err(AccessError::Invalid)
        );
        // Without tokens: the address, an IPv6 host by its /64, a mapped IPv4 as IPv4.
        let open = Access::open();
        let of = |ip: &str| open.identify(&HeaderMap::new(), None, Some(ip.parse().unwrap()));
        assert_eq!(
            of("192.0.2.7"),
            Ok((Role::Controller, Credential::Address(here)))
        );
        assert_eq!(of("::ffff:192.0.2.7"), of("192.0.2.7"));
        assert_eq!(of("2001:db8:1:2::1"), of("2001:db8:1:2:ffff::9"));
        assert_ne!(of("2001:db8:1:2::1"), of("2001:db8:1:3::1"));
        assert_eq!(Credential::Token(1).to_string(), "token #2");
    }

    #[test]
    fn bad_token_configurations_are_refused() {
        assert!(matches!(
            Access::new(["short".to_owned()], []),
            Err(TokenError::TooShort { len: 5, .. })
        ));
        assert!(matches!(
            Access::new([format!("{} x", token('a'))], []),
            Err(TokenError::BadCharacter { .. })
        ));
        assert_eq!(
            Access::new([token('a')], [token('a')]).unwrap_err(),
            TokenError::BothRoles
        );
    }

    #[test]
    fn token_files_name_a_role_per_line() {
        let text = format!(
            "# tokens\n\nviewer {}\ncontroller {}\n",
            token('v'),
            token('c')
        );
        let (v, c) = Access::parse_token_file(&text).unwrap();
        assert_eq!((v, c), (vec![token('v')], vec![token('c')]));
        let e = Access::parse_token_file("viewer a b\n").unwrap_err();
        assert!(e.to_string().starts_with("line 1:"), "{e}");
        let e = Access::parse_token_file("\nadmin abc\n").unwrap_err();
        assert!(e.to_string().starts_with("line 2:"), "{e}");
    }

    #[test]
    fn requests_carry_tokens_in_the_header_or_the_query() {
        let access = Access::new([token('v')], []).unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(access.role_of(&headers, None), Err(AccessError::Missing));
        let q = format!("view=main&access_token={}", token('v'));
        assert_eq!(access.role_of(&headers, Some(&q)), Ok(Role::Viewer));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", token('v'))).unwrap(),
        );
        assert_eq!(access.role_of(&headers, None), Ok(Role::Viewer));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(access.role_of(&headers, None), Err(AccessError::Malformed));
    }

    #[test]
    fn query_parameters_are_percent_decoded() {
        let q = Some("view=side%20one&access_token=a%2Bb%25c%26d%3De+f&x&resume=%zz");
        assert_eq!(query_param(q, "view").as_deref(), Some("side one"));
        assert_eq!(
            query_param(q, "access_token").as_deref(),
            Some("a+b%c&d=e f")
        );
        assert_eq!(query_param(q, "x").as_deref(), Some(""));
        // A malformed escape is kept as it was sent, as browsers and axum's Query do.
        assert_eq!(query_param(q, "resume").as_deref(), Some("%zz"));
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(query_param(None, "view"), None);
    }

    #[test]
    fn tokens_with_percent_plus_and_ampersand_work_in_the_query() {
        let odd = "odd%token+with&and=signs-0123".to_owned();
        let access = Access::new([odd.clone()], []).unwrap();
        let encoded: String = form_urlencoded::byte_serialize(odd.as_bytes()).collect();
        assert_ne!(encoded, odd);
        let q = format!("view=main&access_token={encoded}");
        assert_eq!(
            access.role_of(&HeaderMap::new(), Some(&q)),
            Ok(Role::Viewer)
        );
        // The raw token is not a valid query value: it is cut at `&` and `+` is a space.
        let raw = format!("access_token={odd}");
        assert_eq!(
            access.role_of(&HeaderMap::new(), Some(&raw)),
            Err(AccessError::Invalid)
        );
    }

    #[test]
    fn callers_are_told_apart_by_token() {
        let access = Access::new([token('v'), token('w')], [token('c')]).unwrap();
        let v = access.caller(Some(&token('v'))).unwrap();
        let w = access.caller(Some(&token('w'))).unwrap();
        let c = access.caller(Some(&token('c'))).unwrap();
        assert_eq!(
            (v.role, w.role, c.role),
            (Role::Viewer, Role::Viewer, Role::Controller)
        );
        assert!(v.token.is_some() && v.token != w.token && w.token != c.token);
        assert_eq!(access.caller(Some(&token('v'))).unwrap(), v, "stable");
        assert_eq!(Access::open().caller(None), Ok(Caller::OPEN));
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sane") && !constant_time_eq(b"same", b"samey"));
    }

    #[test]
    fn origins_allow_the_list_and_the_server_itself() {
        let origins = Origins::only(["https://Dash.example.com/".to_owned()]).unwrap();
        let mut headers = HeaderMap::new();
        assert!(origins.check(&headers).is_ok(), "no Origin: not a page");
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://dash.example.com"),
        );
        assert!(origins.check(&headers).is_ok());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(origins.check(&headers).is_ok(), "same origin");
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        let e = origins.check(&headers).unwrap_err();
        assert!(e.contains("https://evil.example"), "{e}");
        assert!(Origins::any().check(&headers).is_ok());
        assert!(Origins::only(["dash.example.com".to_owned()]).is_err());
        assert!(Origins::only(["https://a.example/path".to_owned()]).is_err());
    }
}
