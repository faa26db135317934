//! Checks of a GitHub App's JWT, as GitHub does before minting an installation token:
//! `Authorization: Bearer <JWT>`, three base64url parts, `alg: RS256`, `iss` the app id,
//! `iat` in the past (GitHub allows 60 s of clock drift), `exp` in the future and at most
//! 10 minutes after `iat`/now; the RS256 signature when a public key is configured.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::AppConfig;

/// `Ok` when `auth` carries a JWT GitHub would accept for `app`; else the reason.
pub(crate) fn check(auth: Option<&str>, app: Option<&AppConfig>, now: i64) -> Result<(), String> {
    let app = app.ok_or("no GitHub App is configured")?;
    let auth = auth.ok_or("no Authorization header")?;
    let token = auth.strip_prefix("Bearer ").ok_or("the Authorization header is not `Bearer <JWT>`")?.trim();
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(format!("a JWT has 3 parts, this one has {}", parts.len()));
    }
    let decode = |i: usize, what: &str| -> Result<Value, String> {
        let bytes = URL_SAFE_NO_PAD.decode(parts[i]).map_err(|e| format!("{what} is not base64url: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{what} is not JSON: {e}"))
    };
    let header = decode(0, "the header")?;
    let claims = decode(1, "the claims")?;
    if header["alg"] != "RS256" {
        return Err(format!("alg is {}, GitHub requires RS256", header["alg"]));
    }
    let iss_ok = match &claims["iss"] {
        Value::Number(n) => n.as_u64() == Some(app.app_id),
        Value::String(s) => s == &app.app_id.to_string(),
        _ => false,
    };
    if !iss_ok {
        return Err(format!("iss is {}, the app id is {}", claims["iss"], app.app_id));
    }
    let iat = claims["iat"].as_i64().ok_or("iat is missing or not an integer")?;
    let exp = claims["exp"].as_i64().ok_or("exp is missing or not an integer")?;
    if iat > now + 60 {
        return Err(format!("iat {iat} is in the future (now {now})"));
    }
    if exp <= now {
        return Err(format!("exp {exp} is in the past (now {now})"));
    }
    if exp > now + 600 + 60 || exp - iat > 600 + 60 {
        return Err(format!("exp {exp} is too far in the future (more than 10 minutes; iat {iat}, now {now})"));
    }
    if let Some(pem) = &app.public_key_pem {
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| format!("the configured public key is not an RSA PEM: {e}"))?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| format!("the signature does not verify: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(header: &str, claims: &str) -> String {
        format!("Bearer {}.{}.c2ln", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims))
    }

    #[test]
    fn claims_are_checked() {
        let app = AppConfig { app_id: 42, installation_id: 7, ..AppConfig::default() };
        let h = r#"{"alg":"RS256","typ":"JWT"}"#;
        let now = 1_700_000_000;
        let ok = jwt(h, &format!(r#"{{"iss":"42","iat":{},"exp":{}}}"#, now - 60, now + 540));
        assert_eq!(check(Some(&ok), Some(&app), now), Ok(()));
        let bad_iss = jwt(h, &format!(r#"{{"iss":43,"iat":{},"exp":{}}}"#, now - 60, now + 540));
        assert!(check(Some(&bad_iss), Some(&app), now).unwrap_err().contains("iss"));
        let expired = jwt(h, &format!(r#"{{"iss":42,"iat":{},"exp":{}}}"#, now - 700, now - 1));
        assert!(check(Some(&expired), Some(&app), now).unwrap_err().contains("past"));
        let too_long = jwt(h, &format!(r#"{{"iss":42,"iat":{},"exp":{}}}"#, now, now + 3600));
        assert!(check(Some(&too_long), Some(&app), now).unwrap_err().contains("10 minutes"));
        let hs = jwt(r#"{"alg":"HS256"}"#, &format!(r#"{{"iss":42,"iat":{now},"exp":{}}}"#, now + 60));
        assert!(check(Some(&hs), Some(&app), now).unwrap_err().contains("RS256"));
        assert!(check(Some("token abc"), Some(&app), now).is_err());
    }
}
