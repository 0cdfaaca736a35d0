//! The syntax tree: one [`Statement`] per command, as written, with nothing validated beyond
//! the grammar. Names, durations, access levels and scopes are kept as the strings given; the
//! executor checks them with the rules of `jeton-core`.

use std::fmt;

/// A password given in a statement. `Debug` and `Display` print `***`, so a statement can be
/// logged (but not its [`Statement::to_sql`], which prints the password in clear); read it with
/// [`Password::expose`]. Its memory is overwritten when it is dropped (best effort: the script
/// it came from still holds it, so drop that soon too).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The password itself; use it only where it must go (a hash).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The password as a `String`, to move it into another secret type.
    pub fn into_inner(mut self) -> String {
        std::mem::take(&mut self.0)
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A value with the place in the script where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// The 1-based line of its first token.
    pub line: usize,
    /// The 1-based column of its first token, counted in characters.
    pub column: usize,
    /// Its source text, from its first token to its last, without the `;` that ends it. Every
    /// password string in it is replaced by `'***'`, so the text can be shown and logged.
    pub text: String,
}

/// One statement of the command language.
///
/// Names (`name`, `user`, `role`, `service_user`, `tenant`) are as written, without quotes and
/// with the case kept. Durations (`'30d'`) and access levels are the strings given, not checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `CREATE API TOKEN [name] [FOR USER u] [MAX DURATION 'd'] [COMMENT 'c'] [SCOPES ('a', ...)]`
    CreateApiToken {
        /// The token's name; `None`: generate one.
        name: Option<String>,
        /// The user to issue it for (admins only); `None`: the caller.
        for_user: Option<String>,
        /// How long it lives, e.g. `30d`; `None`: the default.
        max_duration: Option<String>,
        /// A comment on its purpose.
        comment: Option<String>,
        /// The scopes it carries (never empty when given); `None`: no narrowing.
        scopes: Option<Vec<String>>,
    },
    /// `SHOW API TOKENS [FOR USER u] [ALL]`
    ShowApiTokens {
        /// Whose tokens (admins only); `None`: the caller's.
        for_user: Option<String>,
        /// `ALL`: include expired and revoked tokens.
        all: bool,
    },
    /// `ALTER API TOKEN name [FOR USER u] SET COMMENT 'c'`
    SetApiTokenComment {
        /// The token's name.
        name: String,
        /// Whose token (admins only); `None`: the caller's.
        for_user: Option<String>,
        /// The new comment.
        comment: String,
    },
    /// `DROP API TOKEN name [FOR USER u]`
    DropApiToken {
        /// The token's name.
        name: String,
        /// Whose token (admins only); `None`: the caller's.
        for_user: Option<String>,
    },
    /// `DROP ALL API TOKENS FOR USER u`
    DropAllApiTokens {
        /// Whose tokens.
        for_user: String,
    },
    /// `ALTER USER u SET API TOKEN MAX DURATION 'd'`
    SetUserTokenMaxDuration {
        /// The user.
        user: String,
        /// The longest lifetime of a new API token, e.g. `24h`.
        duration: String,
    },
    /// `ALTER USER u UNSET API TOKEN MAX DURATION`
    UnsetUserTokenMaxDuration {
        /// The user.
        user: String,
    },
    /// `ALTER ROLE r SET API TOKEN MAX DURATION 'd'`
    SetRoleTokenMaxDuration {
        /// The role.
        role: String,
        /// The longest lifetime of a new API token, e.g. `30d`.
        duration: String,
    },
    /// `ALTER ROLE r UNSET API TOKEN MAX DURATION`
    UnsetRoleTokenMaxDuration {
        /// The role.
        role: String,
    },
    /// `CREATE USER u [PASSWORD 'p'] [ACCESS LEVEL level] [IN TENANT t]`
    CreateUser {
        /// The new user's name.
        user: String,
        /// The password; `None`: generate one (or none), as the executor decides.
        password: Option<Password>,
        /// The access level as written (`'tenant-user'`, `TENANT_ADMIN`, ...); `None`: default.
        access_level: Option<String>,
        /// The tenant (root only); `None`: the caller's.
        tenant: Option<String>,
    },
    /// `ALTER USER u SET PASSWORD 'p'`
    SetUserPassword {
        /// The user.
        user: String,
        /// The new password.
        password: Password,
    },
    /// `ALTER USER u SET ACTIVE [=] TRUE|FALSE`
    SetUserActive {
        /// The user.
        user: String,
        /// Whether the user may sign in and use tokens.
        active: bool,
    },
    /// `ALTER USER u SET ACCESS LEVEL level`
    SetUserAccessLevel {
        /// The user.
        user: String,
        /// The access level as written.
        access_level: String,
    },
    /// `DROP USER u`
    DropUser {
        /// The user.
        user: String,
    },
    /// `SHOW USERS`
    ShowUsers,
    /// `CREATE ROLE r`
    CreateRole {
        /// The new role's name.
        role: String,
    },
    /// `DROP ROLE r`
    DropRole {
        /// The role.
        role: String,
    },
    /// `SHOW ROLES`
    ShowRoles,
    /// `GRANT ROLE r TO USER u`
    GrantRole {
        /// The role.
        role: String,
        /// The user who gets it.
        user: String,
    },
    /// `REVOKE ROLE r FROM USER u`
    RevokeRole {
        /// The role.
        role: String,
        /// The user who loses it.
        user: String,
    },
    /// `CREATE SERVICE USER s [ACCESS LEVEL level] [DESCRIPTION 'd'] [EXPIRES IN 'd' | MAX
    /// DURATION 'd'] [SCOPES ('a', ...)]`
    CreateServiceUser {
        /// The new service user's name.
        service_user: String,
        /// The access level as written; `None`: the default (`tenant-user`).
        access_level: Option<String>,
        /// What it is for.
        description: Option<String>,
        /// When the service user expires, from now, e.g. `90d` (written `EXPIRES IN` or
        /// `MAX DURATION`); `None`: never.
        expires_in: Option<String>,
        /// The scopes its credentials carry (never empty when given); `None`: no narrowing.
        scopes: Option<Vec<String>>,
    },
    /// `SHOW SERVICE USERS`
    ShowServiceUsers,
    /// `ALTER SERVICE USER s ROTATE KEY [GRACE 'd']`
    RotateServiceUserKey {
        /// The service user.
        service_user: String,
        /// How long the old key keeps working, e.g. `1h`; `None`: it stops at once.
        grace: Option<String>,
    },
    /// `ALTER SERVICE USER s SET ACTIVE [=] TRUE|FALSE`
    SetServiceUserActive {
        /// The service user.
        service_user: String,
        /// Whether its key and tokens work.
        active: bool,
    },
    /// `ALTER SERVICE USER s SET DESCRIPTION 'd'`
    SetServiceUserDescription {
        /// The service user.
        service_user: String,
        /// The new description.
        description: String,
    },
    /// `DROP SERVICE USER s`
    DropServiceUser {
        /// The service user.
        service_user: String,
    },
    /// `SHOW AUDIT [FOR USER u] [ACTION 'a'] [LIMIT n]`
    ShowAudit {
        /// Only events by or about this user.
        for_user: Option<String>,
        /// Only this action, e.g. `token.create`.
        action: Option<String>,
        /// At most this many events, 1 to [`MAX_AUDIT_LIMIT`](crate::MAX_AUDIT_LIMIT).
        limit: Option<u32>,
    },
}

impl Statement {
    /// A short description naming the statement, such as `CREATE API TOKEN` or
    /// `ALTER USER SET PASSWORD`, for messages like "statement 2 (CREATE API TOKEN): ...".
    pub fn kind(&self) -> &'static str {
        match self {
            Statement::CreateApiToken { .. } => "CREATE API TOKEN",
            Statement::ShowApiTokens { .. } => "SHOW API TOKENS",
            Statement::SetApiTokenComment { .. } => "ALTER API TOKEN SET COMMENT",
            Statement::DropApiToken { .. } => "DROP API TOKEN",
            Statement::DropAllApiTokens { .. } => "DROP ALL API TOKENS",
            Statement::SetUserTokenMaxDuration { .. } => "ALTER USER SET API TOKEN MAX DURATION",
            Statement::UnsetUserTokenMaxDuration { .. } => {
                "ALTER USER UNSET API TOKEN MAX DURATION"
            }
            Statement::SetRoleTokenMaxDuration { .. } => "ALTER ROLE SET API TOKEN MAX DURATION",
            Statement::UnsetRoleTokenMaxDuration { .. } => {
                "ALTER ROLE UNSET API TOKEN MAX DURATION"
            }
            Statement::CreateUser { .. } => "CREATE USER",
            Statement::SetUserPassword { .. } => "ALTER USER SET PASSWORD",
            Statement::SetUserActive { .. } => "ALTER USER SET ACTIVE",
            Statement::SetUserAccessLevel { .. } => "ALTER USER SET ACCESS LEVEL",
            Statement::DropUser { .. } => "DROP USER",
            Statement::ShowUsers => "SHOW USERS",
            Statement::CreateRole { .. } => "CREATE ROLE",
            Statement::DropRole { .. } => "DROP ROLE",
            Statement::ShowRoles => "SHOW ROLES",
            Statement::GrantRole { .. } => "GRANT ROLE",
            Statement::RevokeRole { .. } => "REVOKE ROLE",
            Statement::CreateServiceUser { .. } => "CREATE SERVICE USER",
            Statement::ShowServiceUsers => "SHOW SERVICE USERS",
            Statement::RotateServiceUserKey { .. } => "ALTER SERVICE USER ROTATE KEY",
            Statement::SetServiceUserActive { .. } => "ALTER SERVICE USER SET ACTIVE",
            Statement::SetServiceUserDescription { .. } => "ALTER SERVICE USER SET DESCRIPTION",
            Statement::DropServiceUser { .. } => "DROP SERVICE USER",
            Statement::ShowAudit { .. } => "SHOW AUDIT",
        }
    }
}

/// Prints [`Statement::kind`].
impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_prints() {
        let password = Password::new("hunter2");
        assert_eq!(format!("{password} {password:?}"), "*** Password(***)");
        assert_eq!(password.expose(), "hunter2");
        assert_eq!(password.into_inner(), "hunter2");
    }
}
