//! Printing a [`Statement`] back as source text: the inverse of the parser.

use crate::ast::Statement;
use crate::lexer::{quote_name, quote_string};

impl Statement {
    /// The statement as canonical source text, which [`parse`](crate::parse) reads back as
    /// exactly this statement: `parse(&s.to_sql()) == Ok(vec![s.clone()])` for every statement
    /// the parser can produce.
    ///
    /// The text is one line (unless a string holds a line break), with keywords in upper case
    /// and one space between tokens, optional clauses in the order of the grammar (`CREATE API
    /// TOKEN name FOR USER u MAX DURATION 'd' COMMENT 'c' SCOPES ('a', 'b')`), names written
    /// with [`quote_name`] (quoted only when they must be), strings, durations and access levels
    /// written with [`quote_string`], `SET ACTIVE = TRUE|FALSE`, and no `;` at the end.
    ///
    /// A statement the parser cannot produce (an empty name, an empty `SCOPES` list, a `LIMIT`
    /// outside 1 to [`MAX_AUDIT_LIMIT`](crate::MAX_AUDIT_LIMIT)) is printed all the same, as text
    /// that does not parse.
    ///
    /// # Passwords
    ///
    /// The text holds the **real password** of `CREATE USER ... PASSWORD 'p'` and `ALTER USER
    /// ... SET PASSWORD 'p'`, so that it can be parsed again and run. Never log it, print it or
    /// put it in an error message: to name a statement, use its `Display` (its
    /// [`kind`](Statement::kind)); to show its source, use [`Spanned::text`](crate::Spanned),
    /// where passwords are `'***'`.
    ///
    /// ```
    /// use jeton_sql::{Statement, parse};
    ///
    /// let statement = Statement::DropApiToken { name: "my token".into(), for_user: None };
    /// assert_eq!(statement.to_sql(), r#"DROP API TOKEN "my token""#);
    /// assert_eq!(parse(&statement.to_sql())?, vec![statement]);
    /// # Ok::<(), jeton_sql::ParseError>(())
    /// ```
    pub fn to_sql(&self) -> String {
        let mut sql = Sql(String::new());
        match self {
            Statement::CreateApiToken {
                name,
                for_user,
                max_duration,
                comment,
                scopes,
            } => {
                sql.keywords("CREATE API TOKEN");
                if let Some(name) = name {
                    sql.name(name);
                }
                sql.optional_name("FOR USER", for_user.as_deref());
                sql.optional_string("MAX DURATION", max_duration.as_deref());
                sql.optional_string("COMMENT", comment.as_deref());
                sql.scopes(scopes.as_deref());
            }
            Statement::ShowApiTokens { for_user, all } => {
                sql.keywords("SHOW API TOKENS");
                sql.optional_name("FOR USER", for_user.as_deref());
                if *all {
                    sql.keywords("ALL");
                }
            }
            Statement::SetApiTokenComment {
                name,
                for_user,
                comment,
            } => {
                sql.keywords("ALTER API TOKEN").name(name);
                sql.optional_name("FOR USER", for_user.as_deref());
                sql.keywords("SET COMMENT").string(comment);
            }
            Statement::DropApiToken { name, for_user } => {
                sql.keywords("DROP API TOKEN").name(name);
                sql.optional_name("FOR USER", for_user.as_deref());
            }
            Statement::DropAllApiTokens { for_user } => {
                sql.keywords("DROP ALL API TOKENS FOR USER").name(for_user);
            }
            Statement::SetUserTokenMaxDuration { user, duration } => {
                sql.keywords("ALTER USER")
                    .name(user)
                    .keywords("SET API TOKEN MAX DURATION")
                    .string(duration);
            }
            Statement::UnsetUserTokenMaxDuration { user } => {
                sql.keywords("ALTER USER")
                    .name(user)
                    .keywords("UNSET API TOKEN MAX DURATION");
            }
            Statement::SetRoleTokenMaxDuration { role, duration } => {
                sql.keywords("ALTER ROLE")
                    .name(role)
                    .keywords("SET API TOKEN MAX DURATION")
                    .string(duration);
            }
            Statement::UnsetRoleTokenMaxDuration { role } => {
                sql.keywords("ALTER ROLE")
                    .name(role)
                    .keywords("UNSET API TOKEN MAX DURATION");
            }
            Statement::CreateUser {
                user,
                password,
                access_level,
                tenant,
            } => {
                sql.keywords("CREATE USER").name(user);
                sql.optional_string("PASSWORD", password.as_ref().map(|p| p.expose()));
                sql.optional_string("ACCESS LEVEL", access_level.as_deref());
                sql.optional_name("IN TENANT", tenant.as_deref());
            }
            Statement::SetUserPassword { user, password } => {
                sql.keywords("ALTER USER")
                    .name(user)
                    .keywords("SET PASSWORD")
                    .string(password.expose());
            }
            Statement::SetUserActive { user, active } => {
                sql.keywords("ALTER USER")
                    .name(user)
                    .keywords("SET ACTIVE =")
                    .boolean(*active);
            }
            Statement::SetUserAccessLevel { user, access_level } => {
                sql.keywords("ALTER USER")
                    .name(user)
                    .keywords("SET ACCESS LEVEL")
                    .string(access_level);
            }
            Statement::DropUser { user } => {
                sql.keywords("DROP USER").name(user);
            }
            Statement::ShowUsers => {
                sql.keywords("SHOW USERS");
            }
            Statement::CreateRole { role } => {
                sql.keywords("CREATE ROLE").name(role);
            }
            Statement::DropRole { role } => {
                sql.keywords("DROP ROLE").name(role);
            }
            Statement::ShowRoles => {
                sql.keywords("SHOW ROLES");
            }
            Statement::GrantRole { role, user } => {
                sql.keywords("GRANT ROLE")
                    .name(role)
                    .keywords("TO USER")
                    .name(user);
            }
            Statement::RevokeRole { role, user } => {
                sql.keywords("REVOKE ROLE")
                    .name(role)
                    .keywords("FROM USER")
                    .name(user);
            }
            Statement::CreateServiceUser {
                service_user,
                access_level,
                description,
                expires_in,
                scopes,
            } => {
                sql.keywords("CREATE SERVICE USER").name(service_user);
                sql.optional_string("ACCESS LEVEL", access_level.as_deref());
                sql.optional_string("DESCRIPTION", description.as_deref());
                sql.optional_string("EXPIRES IN", expires_in.as_deref());
                sql.scopes(scopes.as_deref());
            }
            Statement::ShowServiceUsers => {
                sql.keywords("SHOW SERVICE USERS");
            }
            Statement::RotateServiceUserKey {
                service_user,
                grace,
            } => {
                sql.keywords("ALTER SERVICE USER")
                    .name(service_user)
                    .keywords("ROTATE KEY");
                sql.optional_string("GRACE", grace.as_deref());
            }
            Statement::SetServiceUserActive {
                service_user,
                active,
            } => {
                sql.keywords("ALTER SERVICE USER")
                    .name(service_user)
                    .keywords("SET ACTIVE =")
                    .boolean(*active);
            }
            Statement::SetServiceUserDescription {
                service_user,
                description,
            } => {
                sql.keywords("ALTER SERVICE USER")
                    .name(service_user)
                    .keywords("SET DESCRIPTION")
                    .string(description);
            }
            Statement::DropServiceUser { service_user } => {
                sql.keywords("DROP SERVICE USER").name(service_user);
            }
            Statement::ShowAudit {
                for_user,
                action,
                limit,
            } => {
                sql.keywords("SHOW AUDIT");
                sql.optional_name("FOR USER", for_user.as_deref());
                sql.optional_string("ACTION", action.as_deref());
                if let Some(limit) = limit {
                    sql.keywords("LIMIT").word(&limit.to_string());
                }
            }
        }
        sql.0
    }
}

/// Statement text being written: every piece is separated from the one before by one space.
struct Sql(String);

impl Sql {
    /// Any token as written.
    fn word(&mut self, word: &str) -> &mut Self {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        self.0.push_str(word);
        self
    }

    /// Keywords (and `=`), written as given: upper case, one space apart.
    fn keywords(&mut self, keywords: &str) -> &mut Self {
        self.word(keywords)
    }

    fn name(&mut self, name: &str) -> &mut Self {
        self.word(&quote_name(name))
    }

    fn string(&mut self, value: &str) -> &mut Self {
        self.word(&quote_string(value))
    }

    fn boolean(&mut self, value: bool) -> &mut Self {
        self.word(if value { "TRUE" } else { "FALSE" })
    }

    /// `KEYWORDS name`, when there is a name.
    fn optional_name(&mut self, keywords: &str, name: Option<&str>) {
        if let Some(name) = name {
            self.keywords(keywords).name(name);
        }
    }

    /// `KEYWORDS 'value'`, when there is a value.
    fn optional_string(&mut self, keywords: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.keywords(keywords).string(value);
        }
    }

    /// `SCOPES ('a', 'b')`, when there are scopes.
    fn scopes(&mut self, scopes: Option<&[String]>) {
        if let Some(scopes) = scopes {
            let list: Vec<String> = scopes.iter().map(|scope| quote_string(scope)).collect();
            self.keywords("SCOPES")
                .word(&format!("({})", list.join(", ")));
        }
    }
}
