//! `demo-idp` (a JWKS endpoint that mints ES256 tokens and rotates keys) and `demo-echo`
//! (an upstream that answers with what it received), for `make run`.

use crate::serve::{self, Request, Response};
use crate::UsageError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clap::Args;
use jwt_compact::alg::Es256;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

type SigningKey = <Es256 as Algorithm>::SigningKey;

struct DemoKey {
    kid: String,
    key: SigningKey,
}

fn new_key(n: u32) -> Result<DemoKey, UsageError> {
    // A scalar from the OS RNG; the rare invalid one (0 or ≥ n) is simply drawn again.
    for _ in 0..16 {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).map_err(|e| UsageError(format!("no randomness: {e}")))?;
        if let Ok(key) = <SigningKey as jwt_compact::alg::SigningKey<Es256>>::from_slice(&bytes) {
            return Ok(DemoKey {
                kid: format!("demo-{n}"),
                key,
            });
        }
    }
    Err(UsageError("could not draw a signing key".into()))
}

fn public_jwk(k: &DemoKey) -> Value {
    let vk = <SigningKey as jwt_compact::alg::SigningKey<Es256>>::to_verifying_key(&k.key);
    let mut v = serde_json::to_value(JsonWebKey::from(&vk)).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("kid".into(), json!(k.kid));
        o.insert("alg".into(), json!("ES256"));
        o.insert("use".into(), json!("sig"));
    }
    v
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn mint(k: &DemoKey, claims: &Value) -> String {
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": k.kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = Es256.sign(&k.key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_bytes()))
}

struct Idp {
    issuer: String,
    audience: String,
    keys: Mutex<(u32, Vec<DemoKey>)>,
}

impl Idp {
    fn handle(&self, req: &Request) -> Response {
        let ok = |ct, body| Response {
            status: 200,
            content_type: ct,
            body,
        };
        let Ok(mut keys) = self.keys.lock() else {
            return Response {
                status: 500,
                content_type: "text/plain",
                body: "lock poisoned\n".into(),
            };
        };
        match req.path() {
            "/.well-known/jwks.json" => {
                let jwks = json!({"keys": keys.1.iter().map(public_jwk).collect::<Vec<_>>()});
                ok("application/json", jwks.to_string())
            }
            "/token" => {
                let Some(current) = keys.1.first() else {
                    return ok("text/plain", String::new());
                };
                let exp_in: i64 = req
                    .param("exp_in")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(300);
                let mut claims = json!({
                    "iss": self.issuer,
                    "aud": req.param("aud").unwrap_or_else(|| self.audience.clone()),
                    "sub": req.param("sub").unwrap_or_else(|| "alice".into()),
                    "iat": now(),
                    "exp": now() + exp_in,
                });
                if let Some(scope) = req.param("scope") {
                    crate::out::set(&mut claims, "scope", json!(scope));
                }
                if let Some(roles) = req.param("roles") {
                    crate::out::set(
                        &mut claims,
                        "roles",
                        json!(roles.split(',').collect::<Vec<_>>()),
                    );
                }
                ok("text/plain", format!("{}\n", mint(current, &claims)))
            }
            "/rotate" => {
                keys.0 += 1;
                let n = keys.0;
                match new_key(n) {
                    Ok(k) => {
                        let kid = k.kid.clone();
                        keys.1.insert(0, k);
                        keys.1.truncate(2);
                        ok("text/plain", format!("now signing with {kid}\n"))
                    }
                    Err(UsageError(e)) => ok("text/plain", format!("{e}\n")),
                }
            }
            "/healthz" => ok("text/plain", "ok\n".into()),
            _ => Response {
                status: 404,
                content_type: "text/plain",
                body: "not found\n".into(),
            },
        }
    }
}

/// `jwtgate demo-idp` flags.
#[derive(Args)]
pub struct IdpArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The tokens' `iss` [default: http://ADDR/].
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// The tokens' default `aud` (GET /token?aud= overrides it).
    #[arg(long, value_name = "AUD", default_value = "demo-api")]
    audience: String,
}

/// `jwtgate demo-echo` flags.
#[derive(Args)]
pub struct EchoArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    listen: String,
}

/// `jwtgate demo-idp`: GET /.well-known/jwks.json, GET /token?sub=&scope=&roles=&aud=&exp_in=,
/// GET /rotate (new signing key; the previous one stays published).
pub fn idp(args: IdpArgs) -> Result<ExitCode, UsageError> {
    let IdpArgs {
        listen,
        issuer,
        audience,
    } = args;
    let issuer = issuer.unwrap_or_else(|| format!("http://{listen}/"));
    let idp = Idp {
        issuer: issuer.clone(),
        audience,
        keys: Mutex::new((1, vec![new_key(1)?])),
    };
    crate::out::warn(&format!(
        "demo-idp: issuer {issuer}, JWKS at http://{listen}/.well-known/jwks.json"
    ));
    serve::serve(&listen, move |r| idp.handle(r))
        .map_err(|e| UsageError(format!("{listen}: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// `jwtgate demo-echo`: answers every request with its method, path and headers as JSON.
pub fn echo(args: EchoArgs) -> Result<ExitCode, UsageError> {
    let listen = args.listen;
    crate::out::warn(&format!("demo-echo: listening on {listen}"));
    serve::serve(&listen, |r| {
        let headers: serde_json::Map<String, Value> = r
            .headers
            .iter()
            .filter(|(k, _)| k.starts_with("x-") || k == "authorization" || k == "cookie")
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        Response {
            status: 200,
            content_type: "application/json",
            body: format!(
                "{}\n",
                json!({"method": r.method, "path": r.target, "headers": headers})
            ),
        }
    })
    .map_err(|e| UsageError(format!("{listen}: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
