//! Admin users (`/users`, `/users/{id}/password`) and the first `Administrator`, whose password
//! comes from `admin.initial.password` or is generated, printed once and written 0600.

use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::auth::{hash_password, Role};
use super::error::{ApiError, Invalid};
use super::{AdminApi, Caller};
use crate::store::{Store, StoreError, UserRow};

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 10;
/// The user created at first start.
pub const INITIAL_USER: &str = "Administrator";

/// A user as the API shows it (never the hash).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// User id.
    pub id: u64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Locked after too many failed logins.
    pub locked: bool,
}

impl From<UserRow> for UserView {
    fn from(u: UserRow) -> Self {
        Self {
            id: u.id,
            username: u.username,
            role: Role::parse(&u.role),
            locked: u.locked_until > crate::store::now_ms(),
        }
    }
}

/// A new user.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Password (write-only).
    pub password: String,
    /// Role.
    pub role: Role,
}

/// A password change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordChange {
    /// The caller's current password (required when changing one's own).
    #[serde(default)]
    pub current_password: Option<String>,
    /// The new password.
    pub new_password: String,
}

/// Creates `Administrator` when the store has no user. Returns the generated password, if one
/// was generated (the caller prints it once).
pub fn ensure_initial_admin(
    store: &Store,
    data_dir: &Path,
    configured: Option<&str>,
) -> Result<Option<String>, StoreError> {
    if !store.users()?.is_empty() {
        return Ok(None);
    }
    let (password, generated) = match configured {
        Some(p) => (p.to_string(), false),
        None => {
            let bytes: [u8; 18] = rand::random();
            (
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
                true,
            )
        }
    };
    let hash = hash_password(&password).map_err(|e| StoreError::Internal(e.to_string()))?;
    store.add_user(INITIAL_USER, &hash, Role::Administrator.as_str())?;
    if !generated {
        return Ok(None);
    }
    let file = data_dir.join("initial-admin-password");
    if let Err(e) = write_private(&file, &password) {
        tracing::error!(file = %file.display(), "cannot write the initial admin password: {e}");
    }
    Ok(Some(password))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    writeln!(f, "{text}")
}

fn with_store<T>(
    store: &Mutex<Store>,
    f: impl FnOnce(&Store) -> Result<T, StoreError>,
) -> Result<T, ApiError> {
    let s = store
        .lock()
        .map_err(|_| ApiError::Internal("store lock".into()))?;
    Ok(f(&s)?)
}

/// Every user.
pub fn list(api: &AdminApi) -> Result<Vec<UserView>, ApiError> {
    Ok(with_store(&api.store, |s| s.users())?
        .into_iter()
        .map(UserView::from)
        .collect())
}

/// One user.
pub fn get(api: &AdminApi, id: u64) -> Result<UserView, ApiError> {
    with_store(&api.store, |s| s.user(id))?
        .map(UserView::from)
        .ok_or(ApiError::NotFound)
}

fn password_problems(field: &str, password: &str) -> Option<Invalid> {
    (password.chars().count() < MIN_PASSWORD)
        .then(|| Invalid::field(field, format!("must be at least {MIN_PASSWORD} characters")))
}

/// Adds a user.
pub async fn create(api: &AdminApi, user: NewUser) -> Result<UserView, ApiError> {
    let mut invalid = password_problems("password", &user.password).unwrap_or_default();
    let name = user.username.trim().to_string();
    if name.is_empty() || name.contains(':') {
        invalid
            .flash
            .push("username: must be non-empty and contain no ':'".into());
        invalid.form.insert(
            "username".into(),
            serde_json::json!(["must be non-empty and contain no ':'"]),
        );
    } else if with_store(&api.store, |s| s.user_by_name(&name))?.is_some() {
        invalid
            .flash
            .push(format!("username: '{name}' already exists"));
        invalid
            .form
            .insert("username".into(), serde_json::json!(["already exists"]));
    }
    if !invalid.flash.is_empty() {
        return Err(invalid.into());
    }
    let hash = hash_blocking(user.password).await?;
    let id = with_store(&api.store, |s| s.add_user(&name, &hash, user.role.as_str()))?;
    get(api, id)
}

/// Removes a user (administrators only; never oneself, never the last administrator).
pub fn delete(api: &AdminApi, caller: &Caller, id: u64) -> Result<(), ApiError> {
    let users = with_store(&api.store, |s| s.users())?;
    let target = users
        .iter()
        .find(|u| u.id == id)
        .ok_or(ApiError::NotFound)?;
    if target.username.eq_ignore_ascii_case(&caller.subject) {
        return Err(Invalid::flash("you cannot delete your own account").into());
    }
    let administrators = users
        .iter()
        .filter(|u| Role::parse(&u.role) == Role::Administrator)
        .count();
    if Role::parse(&target.role) == Role::Administrator && administrators <= 1 {
        return Err(Invalid::flash("the last administrator cannot be deleted").into());
    }
    with_store(&api.store, |s| s.delete_user(id))?;
    api.logins.clear();
    Ok(())
}

/// Changes a password: administrators for anyone, a user for themselves with the current one.
pub async fn set_password(
    api: &AdminApi,
    caller: &Caller,
    id: u64,
    change: PasswordChange,
) -> Result<(), ApiError> {
    let target = with_store(&api.store, |s| s.user(id))?.ok_or(ApiError::NotFound)?;
    let own = target.username.eq_ignore_ascii_case(&caller.subject);
    if caller.role != Role::Administrator && !own {
        return Err(ApiError::Forbidden);
    }
    if own {
        let current = change.current_password.unwrap_or_default();
        let hash = target.password_hash.clone();
        let good =
            tokio::task::spawn_blocking(move || super::auth::check_password(&current, &hash))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
        if !good {
            return Err(Invalid::field("currentPassword", "is not the current password").into());
        }
    }
    if let Some(i) = password_problems("newPassword", &change.new_password) {
        return Err(i.into());
    }
    let hash = hash_blocking(change.new_password).await?;
    with_store(&api.store, |s| s.set_password(id, &hash))?;
    api.logins.clear();
    if target.username == INITIAL_USER {
        // The generated first password is no longer the password: do not leave it lying around.
        let _ = std::fs::remove_file(&api.initial_password_file);
    }
    Ok(())
}

async fn hash_blocking(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}
