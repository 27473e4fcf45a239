//! Users, passwords, session tokens, revocation and the login rate limit.
//!
//! One authorisation path: REST extractors and server functions both end in
//! [`AuthService::require`], so a rule changes in one place.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use axum::http::{header, HeaderMap, StatusCode};
use base64::Engine;
use chrono::Utc;
use decnet_common::dto::{
    password_weakness, valid_username, ChangePasswordResponse, LoginResponse, Me, Role, UserDto,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};

use crate::entities::{revoked_token, user};
use crate::error::{ApiError, ApiResult, PASSWORD_CHANGE_REQUIRED};

pub const SESSION_COOKIE: &str = "decnet_session";
pub const TOKEN_TTL: Duration = Duration::from_secs(4 * 3600);
const ISSUER: &str = "decnet";
const AUDIENCE: &str = "decnet-api";
const LOGIN_WINDOW: Duration = Duration::from_secs(300);
const LOGIN_MAX_TRIES: usize = 10;
const INCORRECT_LOGIN: &str = "Incorrect username or password";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    jti: String,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
}

/// Who is calling, resolved from a valid, unrevoked token and the current users row.
#[derive(Clone, Debug)]
pub struct Principal {
    pub uuid: String,
    pub username: String,
    pub role: Role,
    pub must_change_password: bool,
    jti: String,
    exp: i64,
}

impl Principal {
    pub fn me(&self) -> Me {
        Me {
            uuid: self.uuid.clone(),
            username: self.username.clone(),
            role: self.role,
            must_change_password: self.must_change_password,
        }
    }
}

/// What an endpoint needs from its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Any signed-in user, even one who must still change their password.
    AnyUser,
    Viewer,
    Admin,
}

/// Sliding-window counter of login attempts, per source IP and per username.
#[derive(Default)]
struct RateLimiter {
    tries: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// Records one try for each key; false when any key is already over the limit.
    fn allow(&self, keys: &[String]) -> bool {
        let now = Instant::now();
        let mut map = self.tries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < LOGIN_WINDOW)
            });
        }
        let mut allowed = true;
        for key in keys {
            let q = map.entry(key.clone()).or_default();
            while q
                .front()
                .is_some_and(|t| now.duration_since(*t) >= LOGIN_WINDOW)
            {
                q.pop_front();
            }
            if q.len() >= LOGIN_MAX_TRIES {
                allowed = false;
            }
        }
        if allowed {
            for key in keys {
                map.entry(key.clone()).or_default().push_back(now);
            }
        }
        allowed
    }
}

pub struct AuthService {
    db: DatabaseConnection,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    limiter: RateLimiter,
    /// Verified against when the username does not exist, so both paths cost one argon2.
    dummy_hash: String,
    /// Resolved principals by token id, trusted for [`PRINCIPAL_TTL`]: pollers hit the API
    /// many times a second. Cleared whenever this process changes a user or revokes a token;
    /// another server sharing the database is seen within the TTL.
    principals: Mutex<HashMap<String, (Instant, Principal)>>,
    audit: std::sync::Arc<crate::audit::AuditLog>,
}

const PRINCIPAL_TTL: Duration = Duration::from_secs(2);

impl AuthService {
    pub fn new(
        db: DatabaseConnection,
        secret: &[u8],
        audit: std::sync::Arc<crate::audit::AuditLog>,
    ) -> anyhow_lite::Result<Self> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(Self {
            db,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            limiter: RateLimiter::default(),
            dummy_hash: hash_password_sync("decnet-dummy-password-for-timing")?,
            principals: Mutex::new(HashMap::new()),
            audit,
        })
    }

    /// Creates the bootstrap admin when the users table is empty. Returns the password when it
    /// was generated here (the caller prints it once).
    pub async fn bootstrap_admin(
        &self,
        username: &str,
        password: Option<&str>,
    ) -> anyhow_lite::Result<Option<String>> {
        if user::Entity::find().count(&self.db).await? > 0 {
            return Ok(None);
        }
        if !valid_username(username) {
            return Err(format!("DECNET_ADMIN_USER {username:?} is not a valid username").into());
        }
        let (password, generated) = match password {
            Some(p) => (p.to_owned(), false),
            None => (generate_password(), true),
        };
        let hash = hash_password(password.clone()).await?;
        let now = Utc::now();
        user::ActiveModel {
            uuid: Set(uuid::Uuid::new_v4().to_string()),
            username: Set(username.to_owned()),
            password_hash: Set(hash),
            role: Set(Role::Admin.as_str().into()),
            must_change_password: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.db)
        .await?;
        Ok(generated.then_some(password))
    }

    pub async fn login(
        &self,
        username: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> ApiResult<LoginResponse> {
        let result = self.login_inner(username, password, ip).await;
        let status = match &result {
            Ok(_) => StatusCode::OK,
            Err(e) => e.status,
        };
        let who: String = username.chars().take(64).collect();
        self.audit
            .record(Some(&who), "login", None, status, ip.map(|i| i.to_string()))
            .await;
        result
    }

    async fn login_inner(
        &self,
        username: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> ApiResult<LoginResponse> {
        let mut keys = vec![format!("user:{}", username.to_lowercase())];
        if let Some(ip) = ip {
            keys.push(format!("ip:{ip}"));
        }
        if !self.limiter.allow(&keys) {
            tracing::warn!(user = %username.escape_debug(), ?ip, "login rate limit hit");
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many login attempts; try again in a few minutes",
            ));
        }
        let found = if username.len() <= 64 {
            user::Entity::find()
                .filter(user::Column::Username.eq(username))
                .one(&self.db)
                .await?
        } else {
            None
        };
        let hash = found
            .as_ref()
            .map_or(self.dummy_hash.clone(), |u| u.password_hash.clone());
        let ok = verify_password(password.to_owned(), hash).await;
        match found {
            Some(u) if ok => {
                tracing::info!(user = %u.username, ?ip, "login succeeded");
                Ok(LoginResponse {
                    access_token: self.issue(&u.uuid)?,
                    token_type: "bearer".into(),
                    must_change_password: u.must_change_password,
                })
            }
            _ => {
                tracing::info!(user = %username.escape_debug(), ?ip, "login failed");
                Err(ApiError::new(StatusCode::UNAUTHORIZED, INCORRECT_LOGIN))
            }
        }
    }

    fn issue(&self, user_uuid: &str) -> ApiResult<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_uuid.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
            iat: now,
            exp: now + TOKEN_TTL.as_secs() as i64,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    /// Resolves a token to its principal: signature, expiry, issuer, audience, revocation and
    /// the user's current row (a role change or deletion takes effect at once).
    pub async fn authenticate(&self, token: &str) -> ApiResult<Principal> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| ApiError::unauthorized())?;
        let c = data.claims;
        if let Some(p) = self.cached(&c.jti) {
            return Ok(p);
        }
        if revoked_token::Entity::find_by_id(c.jti.clone())
            .one(&self.db)
            .await?
            .is_some()
        {
            return Err(ApiError::unauthorized());
        }
        let u = user::Entity::find_by_id(c.sub)
            .one(&self.db)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        // Tokens issued before the last password change are void.
        if c.iat < u.updated_at.timestamp() - 1 {
            return Err(ApiError::unauthorized());
        }
        let role = Role::parse(&u.role)
            .ok_or_else(|| ApiError::internal("unknown role in users table"))?;
        let p = Principal {
            uuid: u.uuid,
            username: u.username,
            role,
            must_change_password: u.must_change_password,
            jti: c.jti,
            exp: c.exp,
        };
        let mut cache = self.principals.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(p.jti.clone(), (Instant::now(), p.clone()));
        Ok(p)
    }

    fn cached(&self, jti: &str) -> Option<Principal> {
        let cache = self.principals.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(jti)
            .filter(|(at, _)| at.elapsed() < PRINCIPAL_TTL)
            .map(|(_, p)| p.clone())
    }

    /// Called after every change to users or tokens.
    fn forget_principals(&self) {
        self.principals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The one authorisation check: token (or its absence), then the forced password change,
    /// then the role.
    pub async fn require(&self, token: Option<&str>, need: Need) -> ApiResult<Principal> {
        let p = self
            .authenticate(token.ok_or_else(ApiError::unauthorized)?)
            .await?;
        if need != Need::AnyUser && p.must_change_password {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                PASSWORD_CHANGE_REQUIRED,
            ));
        }
        if need == Need::Admin && p.role != Role::Admin {
            return Err(ApiError::forbidden());
        }
        Ok(p)
    }

    /// Re-entered password for a destructive action (purge): 401 when wrong.
    pub async fn confirm_password(&self, p: &Principal, password: &str) -> ApiResult<()> {
        let u = user::Entity::find_by_id(p.uuid.clone())
            .one(&self.db)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if verify_password(password.to_owned(), u.password_hash).await {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Password is incorrect",
            ))
        }
    }

    pub async fn logout(&self, p: &Principal) -> ApiResult<()> {
        self.revoke(p).await
    }

    async fn revoke(&self, p: &Principal) -> ApiResult<()> {
        let expires_at = chrono::DateTime::from_timestamp(p.exp, 0).unwrap_or_else(Utc::now);
        revoked_token::Entity::insert(revoked_token::ActiveModel {
            jti: Set(p.jti.clone()),
            expires_at: Set(expires_at),
        })
        .on_conflict_do_nothing()
        .exec(&self.db)
        .await?;
        self.forget_principals();
        // Expired revocations are dead weight.
        revoked_token::Entity::delete_many()
            .filter(revoked_token::Column::ExpiresAt.lt(Utc::now()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn change_password(
        &self,
        p: &Principal,
        old: &str,
        new: &str,
    ) -> ApiResult<ChangePasswordResponse> {
        let u = user::Entity::find_by_id(p.uuid.clone())
            .one(&self.db)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if !verify_password(old.to_owned(), u.password_hash.clone()).await {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Current password is incorrect",
            ));
        }
        if old == new {
            return Err(ApiError::unprocessable(
                "New password must differ from the current one",
            ));
        }
        if let Some(why) = password_weakness(&u.username, new) {
            return Err(ApiError::unprocessable(why));
        }
        self.set_password(u, new, false).await?;
        self.revoke(p).await?;
        Ok(ChangePasswordResponse {
            message: "Password updated".into(),
            access_token: self.issue(&p.uuid)?,
            token_type: "bearer".into(),
        })
    }

    async fn set_password(&self, u: user::Model, new: &str, must_change: bool) -> ApiResult<()> {
        let hash = hash_password(new.to_owned())
            .await
            .map_err(ApiError::internal)?;
        let mut am: user::ActiveModel = u.into();
        am.password_hash = Set(hash);
        am.must_change_password = Set(must_change);
        // Second precision: tokens with an earlier `iat` are void from now on.
        am.updated_at = Set(Utc::now() + chrono::Duration::seconds(1));
        am.update(&self.db).await?;
        self.forget_principals();
        Ok(())
    }

    // ---- user administration (admin only; callers have checked the role) ----

    pub async fn list_users(&self) -> ApiResult<Vec<UserDto>> {
        let rows = user::Entity::find()
            .order_by_asc(user::Column::Username)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().filter_map(to_dto).collect())
    }

    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        role: Role,
    ) -> ApiResult<UserDto> {
        if !valid_username(username) {
            return Err(ApiError::unprocessable(
                "Username must be 1-64 characters of letters, digits, '.', '_', '-' or '@'",
            ));
        }
        if let Some(why) = password_weakness(username, password) {
            return Err(ApiError::unprocessable(why));
        }
        if user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(&self.db)
            .await?
            .is_some()
        {
            return Err(ApiError::conflict("Username already exists"));
        }
        let now = Utc::now();
        let m = user::ActiveModel {
            uuid: Set(uuid::Uuid::new_v4().to_string()),
            username: Set(username.to_owned()),
            password_hash: Set(hash_password(password.to_owned())
                .await
                .map_err(ApiError::internal)?),
            role: Set(role.as_str().into()),
            must_change_password: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.db)
        .await?;
        to_dto(m).ok_or_else(|| ApiError::internal("bad role"))
    }

    async fn find_user(&self, uuid: &str) -> ApiResult<user::Model> {
        user::Entity::find_by_id(uuid.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::not_found("User not found"))
    }

    pub async fn set_role(&self, actor: &Principal, uuid: &str, role: Role) -> ApiResult<()> {
        let u = self.find_user(uuid).await?;
        if u.uuid == actor.uuid {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Cannot change your own role",
            ));
        }
        let mut am: user::ActiveModel = u.into();
        am.role = Set(role.as_str().into());
        am.update(&self.db).await?;
        self.forget_principals();
        Ok(())
    }

    pub async fn reset_password(&self, uuid: &str, new: &str) -> ApiResult<()> {
        let u = self.find_user(uuid).await?;
        if let Some(why) = password_weakness(&u.username, new) {
            return Err(ApiError::unprocessable(why));
        }
        self.set_password(u, new, true).await
    }

    pub async fn delete_user(&self, actor: &Principal, uuid: &str) -> ApiResult<()> {
        let u = self.find_user(uuid).await?;
        if u.uuid == actor.uuid {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Cannot delete your own account",
            ));
        }
        user::Entity::delete_by_id(u.uuid).exec(&self.db).await?;
        self.forget_principals();
        Ok(())
    }
}

fn to_dto(u: user::Model) -> Option<UserDto> {
    Some(UserDto {
        role: Role::parse(&u.role)?,
        uuid: u.uuid,
        username: u.username,
        must_change_password: u.must_change_password,
    })
}

/// The bearer token from `Authorization`, else the session cookie.
pub fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == SESSION_COOKIE && !v.is_empty()).then(|| v.to_owned())
        })
}

/// `Set-Cookie` value carrying a session token (empty token + Max-Age=0 clears it).
pub fn session_cookie(token: &str, secure: bool) -> String {
    let max_age = if token.is_empty() {
        0
    } else {
        TOKEN_TTL.as_secs()
    };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

fn generate_password() -> String {
    let mut bytes = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hash_password_sync(password: &str) -> anyhow_lite::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| e.to_string())?
        .to_string())
}

/// Argon2id off the async workers (it is deliberately slow).
pub async fn hash_password(password: String) -> anyhow_lite::Result<String> {
    tokio::task::spawn_blocking(move || hash_password_sync(&password))
        .await
        .map_err(|e| e.to_string())?
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// The JWT secret: from config, else from `<data_dir>/jwt.secret` (created once, mode 0600).
pub fn load_or_create_secret(
    data_dir: &Path,
    configured: Option<&str>,
) -> anyhow_lite::Result<Vec<u8>> {
    if let Some(s) = configured {
        if s.len() < 32 {
            return Err("DECNET_JWT_SECRET must be at least 32 bytes".into());
        }
        return Ok(s.as_bytes().to_vec());
    }
    let path = data_dir.join("jwt.secret");
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 32 => return Ok(bytes),
        Ok(_) => {
            return Err(format!(
                "{} is shorter than 32 bytes; delete it to regenerate",
                path.display()
            )
            .into())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("reading {}: {e}", path.display()).into()),
    }
    let mut raw = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let secret = base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(raw)
        .into_bytes();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    f.write_all(&secret)?;
    f.sync_all()?;
    Ok(secret)
}

/// A boxed-error result for start-up code, where the message is all the operator needs.
pub mod anyhow_lite {
    pub type Error = Box<dyn std::error::Error + Send + Sync>;
    pub type Result<T> = std::result::Result<T, Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_blocks_the_eleventh_try_in_the_window() {
        let l = RateLimiter::default();
        let keys = vec!["ip:127.0.0.1".to_string()];
        for _ in 0..LOGIN_MAX_TRIES {
            assert!(l.allow(&keys));
        }
        assert!(!l.allow(&keys));
        assert!(l.allow(&["ip:127.0.0.2".to_string()]));
    }

    #[test]
    fn bearer_header_wins_over_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=b; decnet_session=cookie-token".parse().unwrap(),
        );
        assert_eq!(token_from_headers(&h).as_deref(), Some("cookie-token"));
        h.insert(
            header::AUTHORIZATION,
            "Bearer header-token".parse().unwrap(),
        );
        assert_eq!(token_from_headers(&h).as_deref(), Some("header-token"));
    }

    #[test]
    fn secret_file_is_created_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_secret(dir.path(), None).unwrap();
        let b = load_or_create_secret(dir.path(), None).unwrap();
        assert_eq!(a, b);
        let mode = std::fs::metadata(dir.path().join("jwt.secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn short_configured_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_or_create_secret(dir.path(), Some("short")).is_err());
    }
}
