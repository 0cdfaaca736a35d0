//! Printing statements back as source text: `parse(&s.to_sql()) == [s]` for every statement,
//! checked on a table of hand-picked ones and on random syntax trees full of awkward names and
//! strings.

use jeton_sql::{KEYWORDS, MAX_AUDIT_LIMIT, Password, Statement, parse};

/// Checks that `statement` prints as text that parses back to exactly it, and returns the text.
fn round_trip(statement: &Statement) -> String {
    let sql = statement.to_sql();
    match parse(&sql) {
        Ok(parsed) => assert_eq!(parsed, vec![statement.clone()], "{sql}"),
        Err(error) => panic!("{statement:?} printed as {sql:?}, which does not parse: {error}"),
    }
    assert!(!sql.ends_with(';'), "{sql}");
    sql
}

fn s(text: &str) -> String {
    text.to_owned()
}

fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

/// Statements with the text they must print as.
fn table() -> Vec<(Statement, &'static str)> {
    vec![
        (
            Statement::CreateApiToken {
                name: None,
                for_user: None,
                max_duration: None,
                comment: None,
                scopes: None,
            },
            "CREATE API TOKEN",
        ),
        (
            Statement::CreateApiToken {
                name: some("report_bot"),
                for_user: some("analyst"),
                max_duration: some("90d"),
                comment: some("Сервисный токен для выгрузки отчетов"),
                scopes: None,
            },
            "CREATE API TOKEN report_bot FOR USER analyst MAX DURATION '90d' \
             COMMENT 'Сервисный токен для выгрузки отчетов'",
        ),
        (
            Statement::CreateApiToken {
                name: None,
                for_user: some("user"),
                max_duration: some(""),
                comment: some("it's\nmultiline -- not a comment /* nor this */"),
                scopes: Some(vec![s("catalog:read"), s("'"), s("")]),
            },
            "CREATE API TOKEN FOR USER \"user\" MAX DURATION '' \
             COMMENT 'it''s\nmultiline -- not a comment /* nor this */' \
             SCOPES ('catalog:read', '''', '')",
        ),
        (
            Statement::ShowApiTokens {
                for_user: None,
                all: false,
            },
            "SHOW API TOKENS",
        ),
        (
            Statement::ShowApiTokens {
                for_user: some("alice@example.com"),
                all: true,
            },
            "SHOW API TOKENS FOR USER alice@example.com ALL",
        ),
        (
            Statement::SetApiTokenComment {
                name: s("say \"hi\""),
                for_user: some("Tokens"),
                comment: s(""),
            },
            "ALTER API TOKEN \"say \"\"hi\"\"\" FOR USER \"Tokens\" SET COMMENT ''",
        ),
        (
            Statement::SetApiTokenComment {
                name: s("ci_pipeline"),
                for_user: None,
                comment: s("Перенесен на новый раннер"),
            },
            "ALTER API TOKEN ci_pipeline SET COMMENT 'Перенесен на новый раннер'",
        ),
        (
            Statement::DropApiToken {
                name: s("a--b"),
                for_user: some("42"),
            },
            "DROP API TOKEN \"a--b\" FOR USER \"42\"",
        ),
        (
            Statement::DropAllApiTokens {
                for_user: s("<user_name>"),
            },
            "DROP ALL API TOKENS FOR USER \"<user_name>\"",
        ),
        (
            Statement::SetUserTokenMaxDuration {
                user: s("analyst"),
                duration: s("24h"),
            },
            "ALTER USER analyst SET API TOKEN MAX DURATION '24h'",
        ),
        (
            Statement::UnsetUserTokenMaxDuration { user: s("max") },
            "ALTER USER \"max\" UNSET API TOKEN MAX DURATION",
        ),
        (
            Statement::SetRoleTokenMaxDuration {
                role: s("service_accounts"),
                duration: s("30d"),
            },
            "ALTER ROLE service_accounts SET API TOKEN MAX DURATION '30d'",
        ),
        (
            Statement::UnsetRoleTokenMaxDuration {
                role: s("etl-team"),
            },
            "ALTER ROLE etl-team UNSET API TOKEN MAX DURATION",
        ),
        (
            Statement::CreateUser {
                user: s("bob"),
                password: None,
                access_level: None,
                tenant: None,
            },
            "CREATE USER bob",
        ),
        (
            Statement::CreateUser {
                user: s("Боб"),
                password: Some(Password::new("p@ss'w0rd;--")),
                access_level: some("TENANT_ADMIN"),
                tenant: some("in"),
            },
            "CREATE USER Боб PASSWORD 'p@ss''w0rd;--' ACCESS LEVEL 'TENANT_ADMIN' \
             IN TENANT \"in\"",
        ),
        (
            Statement::SetUserPassword {
                user: s("bob"),
                password: Password::new(""),
            },
            "ALTER USER bob SET PASSWORD ''",
        ),
        (
            Statement::SetUserActive {
                user: s("bob"),
                active: false,
            },
            "ALTER USER bob SET ACTIVE = FALSE",
        ),
        (
            Statement::SetUserAccessLevel {
                user: s("bob"),
                access_level: s("tenant-user"),
            },
            "ALTER USER bob SET ACCESS LEVEL 'tenant-user'",
        ),
        (Statement::DropUser { user: s(" ") }, "DROP USER \" \""),
        (Statement::ShowUsers, "SHOW USERS"),
        (
            Statement::CreateRole { role: s("v1.2") },
            "CREATE ROLE v1.2",
        ),
        (Statement::DropRole { role: s("a.") }, "DROP ROLE \"a.\""),
        (Statement::ShowRoles, "SHOW ROLES"),
        (
            Statement::GrantRole {
                role: s("readers"),
                user: s("\u{feff}bom"),
            },
            "GRANT ROLE readers TO USER \"\u{feff}bom\"",
        ),
        (
            Statement::RevokeRole {
                role: s("\""),
                user: s("x"),
            },
            "REVOKE ROLE \"\"\"\" FROM USER x",
        ),
        (
            Statement::CreateServiceUser {
                service_user: s("etl"),
                access_level: None,
                description: None,
                expires_in: None,
                scopes: None,
            },
            "CREATE SERVICE USER etl",
        ),
        (
            Statement::CreateServiceUser {
                service_user: s("etl"),
                access_level: some(""),
                description: some("nightly 'load'"),
                expires_in: some("90d"),
                scopes: Some(vec![s("catalog:read")]),
            },
            "CREATE SERVICE USER etl ACCESS LEVEL '' DESCRIPTION 'nightly ''load''' \
             EXPIRES IN '90d' SCOPES ('catalog:read')",
        ),
        (Statement::ShowServiceUsers, "SHOW SERVICE USERS"),
        (
            Statement::RotateServiceUserKey {
                service_user: s("etl"),
                grace: None,
            },
            "ALTER SERVICE USER etl ROTATE KEY",
        ),
        (
            Statement::RotateServiceUserKey {
                service_user: s("etl"),
                grace: some("1h"),
            },
            "ALTER SERVICE USER etl ROTATE KEY GRACE '1h'",
        ),
        (
            Statement::SetServiceUserActive {
                service_user: s("etl"),
                active: true,
            },
            "ALTER SERVICE USER etl SET ACTIVE = TRUE",
        ),
        (
            Statement::SetServiceUserDescription {
                service_user: s("etl"),
                description: s("/* not a comment"),
            },
            "ALTER SERVICE USER etl SET DESCRIPTION '/* not a comment'",
        ),
        (
            Statement::DropServiceUser {
                service_user: s("🦀"),
            },
            "DROP SERVICE USER \"🦀\"",
        ),
        (
            Statement::ShowAudit {
                for_user: None,
                action: None,
                limit: None,
            },
            "SHOW AUDIT",
        ),
        (
            Statement::ShowAudit {
                for_user: some("ALL"),
                action: some("token.create"),
                limit: Some(MAX_AUDIT_LIMIT),
            },
            "SHOW AUDIT FOR USER \"ALL\" ACTION 'token.create' LIMIT 10000",
        ),
    ]
}

#[test]
fn every_statement_prints_canonically_and_parses_back() {
    let table = table();
    for (statement, expected) in &table {
        assert_eq!(&round_trip(statement), expected);
    }
    // Every kind of statement is in the table.
    let mut kinds: Vec<&str> = table.iter().map(|(s, _)| s.kind()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), 27);

    // And as one script.
    let script: Vec<String> = table.iter().map(|(s, _)| s.to_sql()).collect();
    let statements: Vec<Statement> = table.into_iter().map(|(s, _)| s).collect();
    assert_eq!(parse(&script.join(";\n")).unwrap(), statements);
}

#[test]
fn printing_a_parsed_script_is_a_fixed_point() {
    let script = "create api token Ci_Pipeline\n  max duration '30d' -- a note\n  \
                  comment 'Токен';\n\
                  Show Api Tokens All For User \"analyst\";\n\
                  alter user bob set active true;\n\
                  alter user bob set access level TENANT_ADMIN;\n\
                  create service user etl max duration '7d' scopes ('a','b');\n\
                  show audit limit 5 action 'x' for user /* who */ bob";
    let statements = parse(script).unwrap();
    for statement in &statements {
        let sql = round_trip(statement);
        assert_eq!(parse(&sql).unwrap()[0].to_sql(), sql);
    }
    let printed: Vec<String> = statements.iter().map(Statement::to_sql).collect();
    assert_eq!(
        printed,
        [
            "CREATE API TOKEN Ci_Pipeline MAX DURATION '30d' COMMENT 'Токен'",
            "SHOW API TOKENS FOR USER analyst ALL",
            "ALTER USER bob SET ACTIVE = TRUE",
            "ALTER USER bob SET ACCESS LEVEL 'TENANT_ADMIN'",
            "CREATE SERVICE USER etl EXPIRES IN '7d' SCOPES ('a', 'b')",
            "SHOW AUDIT FOR USER bob ACTION 'x' LIMIT 5",
        ]
    );
}

#[test]
fn to_sql_shows_the_password_but_display_and_debug_do_not() {
    let statement = Statement::SetUserPassword {
        user: s("bob"),
        password: Password::new("hunter2"),
    };
    assert_eq!(statement.to_sql(), "ALTER USER bob SET PASSWORD 'hunter2'");
    assert_eq!(statement.to_string(), "ALTER USER SET PASSWORD");
    assert!(!format!("{statement:?}").contains("hunter2"));
}

// --- Random syntax trees. ---

/// A tiny xorshift generator, so random tests need no dependency and repeat exactly.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Pieces that names and strings are made of: everything the lexer treats specially. Control
/// characters other than tab and line breaks are not among them: a script holding one is
/// refused whole (see `control_characters_are_refused_where_they_stand` in `parse.rs`).
const NASTY: &[&str] = &[
    "a", "Z", "_", "0", "7", "-", "--", ".", "@", "/*", "*/", "/", "*", "\"", "\"\"", "'", "''",
    " ", "\t", "\n", "\r\n", ";", "(", ")", ",", "=", "#", "Я", "ж", "ǅ", "é", "e\u{301}", "🦀",
    "\u{a0}", "\u{feff}", "\u{2028}", "\\", "a-b", "v1.2", "x@y", "-1", "42", "user", "Token",
    "KEY", "tokens",
];

fn random_case(rng: &mut XorShift, word: &str) -> String {
    word.chars()
        .map(|c| {
            if rng.chance(2) {
                c.to_ascii_lowercase()
            } else {
                c
            }
        })
        .collect()
}

/// A random string of nasty pieces (possibly empty).
fn random_text(rng: &mut XorShift, max_pieces: usize) -> String {
    let mut text = String::new();
    for _ in 0..rng.below(max_pieces + 1) {
        if rng.chance(6) {
            let keyword = KEYWORDS[rng.below(KEYWORDS.len())];
            text.push_str(&random_case(rng, keyword));
        } else {
            text.push_str(NASTY[rng.below(NASTY.len())]);
        }
    }
    text
}

/// A random non-empty name: often a keyword in any case or a plain bare name, otherwise
/// nasty pieces.
fn random_name(rng: &mut XorShift) -> String {
    match rng.below(4) {
        0 => {
            let keyword = KEYWORDS[rng.below(KEYWORDS.len())];
            random_case(rng, keyword)
        }
        1 => [
            "ci_pipeline",
            "analyst",
            "etl-team",
            "v1.2",
            "a@b.c",
            "Боб",
            "x1",
            "_",
        ][rng.below(8)]
        .to_owned(),
        _ => loop {
            let name = random_text(rng, 6);
            if !name.is_empty() {
                break name;
            }
        },
    }
}

fn maybe<T>(rng: &mut XorShift, make: impl FnOnce(&mut XorShift) -> T) -> Option<T> {
    if rng.chance(2) { Some(make(rng)) } else { None }
}

fn random_scopes(rng: &mut XorShift) -> Vec<String> {
    (0..1 + rng.below(4)).map(|_| random_text(rng, 4)).collect()
}

/// A random statement: every variant, every optional part present or not.
fn random_statement(rng: &mut XorShift) -> Statement {
    let name = random_name;
    let text = |rng: &mut XorShift| random_text(rng, 8);
    match rng.below(27) {
        0 => Statement::CreateApiToken {
            name: maybe(rng, name),
            for_user: maybe(rng, name),
            max_duration: maybe(rng, text),
            comment: maybe(rng, text),
            scopes: maybe(rng, random_scopes),
        },
        1 => Statement::ShowApiTokens {
            for_user: maybe(rng, name),
            all: rng.chance(2),
        },
        2 => Statement::SetApiTokenComment {
            name: name(rng),
            for_user: maybe(rng, name),
            comment: text(rng),
        },
        3 => Statement::DropApiToken {
            name: name(rng),
            for_user: maybe(rng, name),
        },
        4 => Statement::DropAllApiTokens {
            for_user: name(rng),
        },
        5 => Statement::SetUserTokenMaxDuration {
            user: name(rng),
            duration: text(rng),
        },
        6 => Statement::UnsetUserTokenMaxDuration { user: name(rng) },
        7 => Statement::SetRoleTokenMaxDuration {
            role: name(rng),
            duration: text(rng),
        },
        8 => Statement::UnsetRoleTokenMaxDuration { role: name(rng) },
        9 => Statement::CreateUser {
            user: name(rng),
            password: maybe(rng, |rng| Password::new(text(rng))),
            access_level: maybe(rng, text),
            tenant: maybe(rng, name),
        },
        10 => Statement::SetUserPassword {
            user: name(rng),
            password: Password::new(text(rng)),
        },
        11 => Statement::SetUserActive {
            user: name(rng),
            active: rng.chance(2),
        },
        12 => Statement::SetUserAccessLevel {
            user: name(rng),
            access_level: text(rng),
        },
        13 => Statement::DropUser { user: name(rng) },
        14 => Statement::ShowUsers,
        15 => Statement::CreateRole { role: name(rng) },
        16 => Statement::DropRole { role: name(rng) },
        17 => Statement::ShowRoles,
        18 => Statement::GrantRole {
            role: name(rng),
            user: name(rng),
        },
        19 => Statement::RevokeRole {
            role: name(rng),
            user: name(rng),
        },
        20 => Statement::CreateServiceUser {
            service_user: name(rng),
            access_level: maybe(rng, text),
            description: maybe(rng, text),
            expires_in: maybe(rng, text),
            scopes: maybe(rng, random_scopes),
        },
        21 => Statement::ShowServiceUsers,
        22 => Statement::RotateServiceUserKey {
            service_user: name(rng),
            grace: maybe(rng, text),
        },
        23 => Statement::SetServiceUserActive {
            service_user: name(rng),
            active: rng.chance(2),
        },
        24 => Statement::SetServiceUserDescription {
            service_user: name(rng),
            description: text(rng),
        },
        25 => Statement::DropServiceUser {
            service_user: name(rng),
        },
        _ => Statement::ShowAudit {
            for_user: maybe(rng, name),
            action: maybe(rng, text),
            limit: maybe(rng, |rng| match rng.below(3) {
                0 => 1,
                1 => MAX_AUDIT_LIMIT,
                _ => 1 + rng.below(MAX_AUDIT_LIMIT as usize) as u32,
            }),
        },
    }
}

#[test]
fn random_statements_round_trip() {
    let mut rng = XorShift(0xdead_beef_cafe_f00d);
    let mut kinds = std::collections::BTreeSet::new();
    for _ in 0..50_000 {
        let statement = random_statement(&mut rng);
        kinds.insert(statement.kind());
        round_trip(&statement);
    }
    assert_eq!(kinds.len(), 27);
}

#[test]
fn random_scripts_round_trip() {
    // Several printed statements joined into one script, with blanks and comments between them.
    let separators = [
        ";",
        ";\n",
        " ; ",
        ";;",
        "; -- note\n",
        ";/* c */",
        ";\u{feff}",
    ];
    let mut rng = XorShift(0x0bad_c0de_1234_5678);
    for _ in 0..5_000 {
        let statements: Vec<Statement> = (0..1 + rng.below(5))
            .map(|_| random_statement(&mut rng))
            .collect();
        let mut script = String::new();
        for statement in &statements {
            script.push_str(&statement.to_sql());
            script.push_str(separators[rng.below(separators.len())]);
        }
        assert_eq!(parse(&script).unwrap(), statements, "{script}");
    }
}
