//! The command language as a user writes it: the seed's statements, every statement form, the
//! lexical rules, the error messages, and inputs that must not crash the parser.

use jeton_sql::{
    ErrorKind, KEYWORDS, MAX_AUDIT_LIMIT, ParseError, Statement, is_complete, is_keyword, parse,
    parse_spanned, quote_name, quote_string,
};

/// Parses a script that must hold exactly one statement.
fn one(script: &str) -> Statement {
    let mut statements = parse(script).unwrap_or_else(|e| panic!("{script:?}: {e}"));
    assert_eq!(statements.len(), 1, "{script:?}");
    statements.remove(0)
}

/// The error of a script that must not parse.
fn failure(script: &str) -> ParseError {
    match parse(script) {
        Ok(statements) => panic!("{script:?} parsed as {statements:?}"),
        Err(error) => error,
    }
}

/// The message of a script that must not parse.
fn message(script: &str) -> String {
    failure(script).to_string()
}

fn s(text: &str) -> String {
    text.to_owned()
}

fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

// --- The seed (shared/seeds/003): every statement exactly as written there. ---

const SEED_MULTI_LINE: &str =
    "CREATE API TOKEN ci_pipeline\nMAX DURATION '30d'\nCOMMENT 'Токен для сборочного конвейера';";
const SEED_REPORT_BOT: &str = "CREATE API TOKEN report_bot FOR USER analyst MAX DURATION '90d' COMMENT 'Сервисный токен для выгрузки отчетов';";

/// Each seed statement with what it must parse to. `DROP ALL API TOKENS FOR USER <user_name>;`
/// is in the seed too, but `<user_name>` is a placeholder for a name: see
/// `the_seed_placeholder_must_be_replaced_by_a_name`.
fn seed_statements() -> Vec<(&'static str, Statement)> {
    vec![
        (
            SEED_MULTI_LINE,
            Statement::CreateApiToken {
                name: some("ci_pipeline"),
                for_user: None,
                max_duration: some("30d"),
                comment: some("Токен для сборочного конвейера"),
                scopes: None,
            },
        ),
        (
            "CREATE API TOKEN;",
            Statement::CreateApiToken {
                name: None,
                for_user: None,
                max_duration: None,
                comment: None,
                scopes: None,
            },
        ),
        (
            "SHOW API TOKENS;",
            Statement::ShowApiTokens {
                for_user: None,
                all: false,
            },
        ),
        (
            "ALTER API TOKEN ci_pipeline SET COMMENT 'Перенесен на новый раннер';",
            Statement::SetApiTokenComment {
                name: s("ci_pipeline"),
                for_user: None,
                comment: s("Перенесен на новый раннер"),
            },
        ),
        (
            "DROP API TOKEN ci_pipeline;",
            Statement::DropApiToken {
                name: s("ci_pipeline"),
                for_user: None,
            },
        ),
        (
            "ALTER USER analyst SET API TOKEN MAX DURATION '24h';",
            Statement::SetUserTokenMaxDuration {
                user: s("analyst"),
                duration: s("24h"),
            },
        ),
        (
            "ALTER ROLE service_accounts SET API TOKEN MAX DURATION '30d';",
            Statement::SetRoleTokenMaxDuration {
                role: s("service_accounts"),
                duration: s("30d"),
            },
        ),
        (
            SEED_REPORT_BOT,
            Statement::CreateApiToken {
                name: some("report_bot"),
                for_user: some("analyst"),
                max_duration: some("90d"),
                comment: some("Сервисный токен для выгрузки отчетов"),
                scopes: None,
            },
        ),
        (
            "SHOW API TOKENS FOR USER analyst;",
            Statement::ShowApiTokens {
                for_user: some("analyst"),
                all: false,
            },
        ),
        (
            "DROP API TOKEN report_bot FOR USER analyst;",
            Statement::DropApiToken {
                name: s("report_bot"),
                for_user: some("analyst"),
            },
        ),
    ]
}

#[test]
fn every_seed_statement_parses_as_written() {
    for (script, expected) in seed_statements() {
        assert_eq!(one(script), expected, "{script}");
    }
}

#[test]
fn the_seed_statements_are_copied_byte_for_byte() {
    // Next to a checkout, shared/ lies beside the repository; skip quietly where it does not.
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seeds");
    let Ok(entries) = std::fs::read_dir(&seeds) else {
        return;
    };
    let Some(seed) = entries
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("003_"))
        .and_then(|e| std::fs::read_to_string(e.path()).ok())
    else {
        return;
    };
    for (script, _) in seed_statements() {
        assert!(seed.contains(script), "not in the seed: {script}");
    }
    assert!(seed.contains("DROP ALL API TOKENS FOR USER <user_name>;"));
}

#[test]
fn the_seed_statements_parse_as_one_script() {
    let script: Vec<&str> = seed_statements().iter().map(|(s, _)| *s).collect();
    let script = script.join("\n");
    let expected: Vec<Statement> = seed_statements().into_iter().map(|(_, s)| s).collect();
    assert_eq!(parse(&script).unwrap(), expected);
}

#[test]
fn the_seed_placeholder_must_be_replaced_by_a_name() {
    assert_eq!(
        one("DROP ALL API TOKENS FOR USER analyst;"),
        Statement::DropAllApiTokens {
            for_user: s("analyst")
        }
    );
    assert_eq!(
        message("DROP ALL API TOKENS FOR USER <user_name>;"),
        "line 1, column 30: expected a user name, found '<'"
    );
}

// --- Every statement form. ---

#[test]
fn create_api_token_with_every_clause_in_any_order() {
    let full = Statement::CreateApiToken {
        name: some("etl-pipeline"),
        for_user: some("alice"),
        max_duration: some("7d"),
        comment: some("nightly"),
        scopes: Some(vec![s("catalog:read"), s("sql")]),
    };
    for script in [
        "CREATE API TOKEN etl-pipeline FOR USER alice MAX DURATION '7d' COMMENT 'nightly' SCOPES ('catalog:read', 'sql')",
        "CREATE API TOKEN etl-pipeline SCOPES ('catalog:read','sql') COMMENT 'nightly' MAX DURATION '7d' FOR USER alice;",
        "create api token etl-pipeline comment 'nightly' scopes ( 'catalog:read' , 'sql' ) for user alice max duration '7d' ;",
    ] {
        assert_eq!(one(script), full, "{script}");
    }
    assert_eq!(
        one("CREATE API TOKEN FOR USER bob SCOPES ('admin')"),
        Statement::CreateApiToken {
            name: None,
            for_user: some("bob"),
            max_duration: None,
            comment: None,
            scopes: Some(vec![s("admin")]),
        }
    );
    assert_eq!(
        one("CREATE API TOKEN COMMENT 'no name'"),
        Statement::CreateApiToken {
            name: None,
            for_user: None,
            max_duration: None,
            comment: some("no name"),
            scopes: None,
        }
    );
}

#[test]
fn token_statements() {
    assert_eq!(
        one("SHOW API TOKENS ALL"),
        Statement::ShowApiTokens {
            for_user: None,
            all: true
        }
    );
    for script in [
        "SHOW API TOKENS FOR USER bob ALL",
        "SHOW API TOKENS ALL FOR USER bob",
    ] {
        assert_eq!(
            one(script),
            Statement::ShowApiTokens {
                for_user: some("bob"),
                all: true
            }
        );
    }
    assert_eq!(
        one("ALTER API TOKEN t FOR USER bob SET COMMENT ''"),
        Statement::SetApiTokenComment {
            name: s("t"),
            for_user: some("bob"),
            comment: s(""),
        }
    );
    assert_eq!(
        one("DROP ALL API TOKENS FOR USER \"bob smith\""),
        Statement::DropAllApiTokens {
            for_user: s("bob smith")
        }
    );
}

#[test]
fn policy_statements() {
    assert_eq!(
        one("ALTER USER analyst UNSET API TOKEN MAX DURATION"),
        Statement::UnsetUserTokenMaxDuration { user: s("analyst") }
    );
    assert_eq!(
        one("ALTER ROLE analysts UNSET API TOKEN MAX DURATION;"),
        Statement::UnsetRoleTokenMaxDuration {
            role: s("analysts")
        }
    );
}

#[test]
fn user_statements() {
    let created =
        one("CREATE USER bob PASSWORD 'correct horse' ACCESS LEVEL 'tenant-user' IN TENANT acme");
    let Statement::CreateUser {
        user,
        password,
        access_level,
        tenant,
    } = created
    else {
        panic!("not CREATE USER");
    };
    assert_eq!(user, "bob");
    assert_eq!(password.as_ref().map(|p| p.expose()), Some("correct horse"));
    assert_eq!(access_level, some("tenant-user"));
    assert_eq!(tenant, some("acme"));

    for (script, level) in [
        ("CREATE USER eve ACCESS LEVEL TENANT_ADMIN", "TENANT_ADMIN"),
        ("CREATE USER eve ACCESS LEVEL tenant-admin", "tenant-admin"),
        ("CREATE USER eve ACCESS LEVEL \"root\"", "root"),
        (
            "CREATE USER eve ACCESS LEVEL 'Tenant Admin'",
            "Tenant Admin",
        ),
    ] {
        assert_eq!(
            one(script),
            Statement::CreateUser {
                user: s("eve"),
                password: None,
                access_level: some(level),
                tenant: None,
            },
            "{script}"
        );
    }
    assert_eq!(
        one("CREATE USER eve"),
        Statement::CreateUser {
            user: s("eve"),
            password: None,
            access_level: None,
            tenant: None
        }
    );
    let Statement::SetUserPassword { user, password } = one("ALTER USER bob SET PASSWORD 'it''s'")
    else {
        panic!("not SET PASSWORD");
    };
    assert_eq!((user.as_str(), password.expose()), ("bob", "it's"));

    for (script, active) in [
        ("ALTER USER bob SET ACTIVE = true", true),
        ("ALTER USER bob SET ACTIVE = FALSE", false),
        ("ALTER USER bob SET ACTIVE True", true),
        ("alter user bob set active=false;", false),
    ] {
        assert_eq!(
            one(script),
            Statement::SetUserActive {
                user: s("bob"),
                active
            },
            "{script}"
        );
    }
    assert_eq!(
        one("ALTER USER bob SET ACCESS LEVEL 'tenant-admin'"),
        Statement::SetUserAccessLevel {
            user: s("bob"),
            access_level: s("tenant-admin")
        }
    );
    assert_eq!(one("DROP USER bob"), Statement::DropUser { user: s("bob") });
    assert_eq!(one("SHOW USERS"), Statement::ShowUsers);
}

#[test]
fn role_statements() {
    assert_eq!(
        one("CREATE ROLE analysts"),
        Statement::CreateRole {
            role: s("analysts")
        }
    );
    assert_eq!(
        one("DROP ROLE analysts"),
        Statement::DropRole {
            role: s("analysts")
        }
    );
    assert_eq!(one("SHOW ROLES;"), Statement::ShowRoles);
    assert_eq!(
        one("GRANT ROLE analysts TO USER bob"),
        Statement::GrantRole {
            role: s("analysts"),
            user: s("bob")
        }
    );
    assert_eq!(
        one("REVOKE ROLE analysts FROM USER bob"),
        Statement::RevokeRole {
            role: s("analysts"),
            user: s("bob")
        }
    );
}

#[test]
fn service_user_statements() {
    let expected = |expires_in: &str| Statement::CreateServiceUser {
        service_user: s("etl"),
        access_level: some("tenant-user"),
        description: some("nightly loads"),
        expires_in: some(expires_in),
        scopes: Some(vec![s("catalog")]),
    };
    assert_eq!(
        one(
            "CREATE SERVICE USER etl ACCESS LEVEL 'tenant-user' DESCRIPTION 'nightly loads' EXPIRES IN '90d' SCOPES ('catalog')"
        ),
        expected("90d")
    );
    assert_eq!(
        one(
            "CREATE SERVICE USER etl SCOPES ('catalog') MAX DURATION '1y' DESCRIPTION 'nightly loads' ACCESS LEVEL tenant-user"
        ),
        expected("1y")
    );
    assert_eq!(
        one("CREATE SERVICE USER etl"),
        Statement::CreateServiceUser {
            service_user: s("etl"),
            access_level: None,
            description: None,
            expires_in: None,
            scopes: None,
        }
    );
    assert_eq!(one("SHOW SERVICE USERS"), Statement::ShowServiceUsers);
    assert_eq!(
        one("ALTER SERVICE USER etl ROTATE KEY"),
        Statement::RotateServiceUserKey {
            service_user: s("etl"),
            grace: None
        }
    );
    assert_eq!(
        one("ALTER SERVICE USER etl ROTATE KEY GRACE '1h'"),
        Statement::RotateServiceUserKey {
            service_user: s("etl"),
            grace: some("1h")
        }
    );
    assert_eq!(
        one("ALTER SERVICE USER etl SET ACTIVE = false"),
        Statement::SetServiceUserActive {
            service_user: s("etl"),
            active: false
        }
    );
    assert_eq!(
        one("ALTER SERVICE USER etl SET ACTIVE TRUE"),
        Statement::SetServiceUserActive {
            service_user: s("etl"),
            active: true
        }
    );
    assert_eq!(
        one("ALTER SERVICE USER etl SET DESCRIPTION 'Выгрузки'"),
        Statement::SetServiceUserDescription {
            service_user: s("etl"),
            description: s("Выгрузки")
        }
    );
    assert_eq!(
        one("DROP SERVICE USER etl"),
        Statement::DropServiceUser {
            service_user: s("etl")
        }
    );
}

#[test]
fn show_audit() {
    assert_eq!(
        one("SHOW AUDIT"),
        Statement::ShowAudit {
            for_user: None,
            action: None,
            limit: None
        }
    );
    for script in [
        "SHOW AUDIT FOR USER bob ACTION 'token.create' LIMIT 50",
        "SHOW AUDIT LIMIT 50 ACTION 'token.create' FOR USER bob",
    ] {
        assert_eq!(
            one(script),
            Statement::ShowAudit {
                for_user: some("bob"),
                action: some("token.create"),
                limit: Some(50)
            }
        );
    }
    for limit in [1, MAX_AUDIT_LIMIT] {
        assert_eq!(
            one(&format!("SHOW AUDIT LIMIT {limit}")),
            Statement::ShowAudit {
                for_user: None,
                action: None,
                limit: Some(limit)
            }
        );
    }
}

#[test]
fn limit_out_of_range_is_refused_clearly() {
    for (limit, column) in [
        ("0", 18),
        ("-1", 18),
        ("10001", 18),
        ("99999999999999999999999", 18),
    ] {
        let error = failure(&format!("SHOW AUDIT LIMIT {limit}"));
        assert_eq!(error.kind, ErrorKind::OutOfRange, "{limit}");
        assert_eq!(
            error.to_string(),
            format!("line 1, column {column}: expected a number from 1 to 10000, found '{limit}'")
        );
    }
    assert_eq!(
        message("SHOW AUDIT LIMIT 'ten'"),
        "line 1, column 18: expected a number from 1 to 10000, found 'ten'"
    );
    assert_eq!(
        message("SHOW AUDIT LIMIT 1.5"),
        "line 1, column 18: expected a number from 1 to 10000, found '1.5'"
    );
}

#[test]
fn kinds_name_statements() {
    assert_eq!(one(SEED_MULTI_LINE).kind(), "CREATE API TOKEN");
    assert_eq!(one(SEED_MULTI_LINE).to_string(), "CREATE API TOKEN");
    assert_eq!(
        one("ALTER USER a UNSET API TOKEN MAX DURATION").to_string(),
        "ALTER USER UNSET API TOKEN MAX DURATION"
    );
    assert_eq!(one("SHOW SERVICE USERS").kind(), "SHOW SERVICE USERS");
}

// --- Lexical rules. ---

#[test]
fn keywords_are_case_insensitive_and_names_keep_their_case() {
    assert_eq!(
        one("cReAtE aPi ToKeN CI_Pipeline mAx DuRaTiOn '30d'"),
        Statement::CreateApiToken {
            name: some("CI_Pipeline"),
            for_user: None,
            max_duration: some("30d"),
            comment: None,
            scopes: None,
        }
    );
}

#[test]
fn bare_names() {
    for name in [
        "ci_pipeline",
        "etl-pipeline",
        "_hidden",
        "v1.2",
        "alice@example.com",
        "2fa-bot",
        "аналитик",
        "x-1",
    ] {
        assert_eq!(
            one(&format!("DROP USER {name}")),
            Statement::DropUser { user: s(name) },
            "{name}"
        );
    }
    // `--` starts a comment even right after a name.
    assert_eq!(
        one("DROP USER bob-- the old account"),
        Statement::DropUser { user: s("bob") }
    );
    assert_eq!(
        message("DROP USER bob-"),
        "line 1, column 14: expected ';', found '-'"
    );
    assert_eq!(
        message("DROP USER 42"),
        "line 1, column 11: expected a user name, found '42'"
    );
}

#[test]
fn quoted_names_hold_anything() {
    for (written, name) in [
        (r#""user""#, "user"),
        (r#""my ""best"" token""#, r#"my "best" token"#),
        (
            r#""with space; and -- dashes""#,
            "with space; and -- dashes",
        ),
        (r#""Токен 1""#, "Токен 1"),
        (r#""'""#, "'"),
    ] {
        assert_eq!(
            one(&format!("DROP API TOKEN {written}")),
            Statement::DropApiToken {
                name: s(name),
                for_user: None
            },
            "{written}"
        );
    }
    assert_eq!(
        message(r#"DROP USER """#),
        r#"line 1, column 11: expected a user name, found '""'"#
    );
}

#[test]
fn keywords_are_names_only_when_quoted() {
    let error = failure("DROP USER user");
    assert_eq!(error.kind, ErrorKind::Keyword);
    assert_eq!(error.expected, "a user name");
    assert_eq!(error.found, "user");
    assert_eq!(
        error.to_string(),
        r#"line 1, column 11: expected a user name, found 'user' (a keyword: write "user" to use it as a name)"#
    );
    assert_eq!(
        message("CREATE API TOKEN key"),
        r#"line 1, column 18: expected a token name, MAX DURATION, COMMENT, FOR USER, SCOPES or ';', found 'key' (a keyword: write "key" to use it as a name)"#
    );
    // A clause keyword right after CREATE API TOKEN starts the clause: there is no name.
    assert_eq!(
        one("CREATE API TOKEN comment 'x'"),
        Statement::CreateApiToken {
            name: None,
            for_user: None,
            max_duration: None,
            comment: some("x"),
            scopes: None,
        }
    );
    assert_eq!(
        one(r#"CREATE API TOKEN "comment" COMMENT 'x'"#),
        Statement::CreateApiToken {
            name: some("comment"),
            for_user: None,
            max_duration: None,
            comment: some("x"),
            scopes: None,
        }
    );
}

#[test]
fn strings_with_quotes_newlines_and_any_text() {
    for (written, text) in [
        ("'it''s'", "it's"),
        ("''''", "'"),
        ("''", ""),
        (
            "'a -- not a comment /* nor this */ ; still'",
            "a -- not a comment /* nor this */ ; still",
        ),
        ("'line one\nline two'", "line one\nline two"),
        (
            "'Токен для сборочного конвейера 🚀'",
            "Токен для сборочного конвейера 🚀",
        ),
        ("'\"double\"'", "\"double\""),
    ] {
        assert_eq!(
            one(&format!("ALTER API TOKEN t SET COMMENT {written}")),
            Statement::SetApiTokenComment {
                name: s("t"),
                for_user: None,
                comment: s(text)
            },
            "{written}"
        );
    }
}

#[test]
fn comments_anywhere() {
    let script = "-- issue a token\n/* block\n   comment */ CREATE /* inline */ API TOKEN -- name next\n ci /**/MAX DURATION '1d'; -- trailing\n/* end */";
    assert_eq!(
        one(script),
        Statement::CreateApiToken {
            name: some("ci"),
            for_user: None,
            max_duration: some("1d"),
            comment: None,
            scopes: None,
        }
    );
}

#[test]
fn several_statements_and_empty_ones() {
    assert_eq!(parse("").unwrap(), vec![]);
    assert_eq!(parse("   \n\t ").unwrap(), vec![]);
    assert_eq!(parse("-- nothing\n/* at all */").unwrap(), vec![]);
    assert_eq!(parse(";;;").unwrap(), vec![]);
    assert_eq!(
        parse("SHOW USERS;; ;SHOW ROLES").unwrap(),
        vec![Statement::ShowUsers, Statement::ShowRoles]
    );
    assert_eq!(
        parse("SHOW USERS;SHOW ROLES;").unwrap(),
        vec![Statement::ShowUsers, Statement::ShowRoles]
    );
    assert_eq!(
        parse("\u{feff}SHOW USERS\r\n;\r\nSHOW ROLES\r\n").unwrap(),
        vec![Statement::ShowUsers, Statement::ShowRoles]
    );
    // Statements need a `;` between them.
    assert_eq!(
        message("SHOW USERS SHOW ROLES"),
        "line 1, column 12: expected ';', found 'SHOW'"
    );
}

#[test]
fn spans_give_line_column_and_text() {
    let script = "SHOW USERS;\n  -- note\n  CREATE API TOKEN ci\n  MAX DURATION '30d' ; ;\n\tDROP USER \"Дмитрий\"";
    let spanned = parse_spanned(script).unwrap();
    let places: Vec<_> = spanned
        .iter()
        .map(|s| (s.line, s.column, s.text.as_str(), s.value.kind()))
        .collect();
    assert_eq!(
        places,
        vec![
            (1, 1, "SHOW USERS", "SHOW USERS"),
            (
                3,
                3,
                "CREATE API TOKEN ci\n  MAX DURATION '30d'",
                "CREATE API TOKEN"
            ),
            (5, 2, "DROP USER \"Дмитрий\"", "DROP USER"),
        ]
    );
}

#[test]
fn passwords_never_show() {
    let script = "CREATE USER bob PASSWORD 'hunter2' IN TENANT acme; ALTER USER bob SET PASSWORD 'it''s-secret'";
    let spanned = parse_spanned(script).unwrap();
    assert_eq!(
        spanned[0].text,
        "CREATE USER bob PASSWORD '***' IN TENANT acme"
    );
    assert_eq!(spanned[1].text, "ALTER USER bob SET PASSWORD '***'");
    let debug = format!("{spanned:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("secret"),
        "{debug}"
    );
    assert!(debug.contains("Password(***)"));

    // A password written without quotes is not echoed in the error.
    let error = failure("ALTER USER bob SET PASSWORD hunter2");
    assert_eq!(
        error.to_string(),
        "line 1, column 29: expected a quoted password, found '***'"
    );
    assert!(!format!("{error:?}").contains("hunter2"));
    // Nor is a string found in the wrong place of a statement that may hold a password.
    for script in [
        "CREATE USER bob 'hunter2'",
        "ALTER USER bob SET 'hunter2'",
        "ALTER USER bob SET PASSWORD 'hunter2' 'x'",
    ] {
        let error = failure(script);
        assert_eq!(error.found, "***", "{script}");
        assert!(error.to_string().ends_with(", found '***'"), "{script}");
    }
    assert_eq!(
        message("ALTER USER bob SET PASSWORD"),
        "line 1, column 28: expected a quoted password, found end of input"
    );
}

// --- Errors. ---

#[test]
fn the_issue_example_message() {
    // The issue's example, `line 1, column 18: expected MAX DURATION, COMMENT, FOR USER or ';',
    // found 'DURATON'`: at column 18 a word is the token's (optional) name, so the first place a
    // stray word can stand is after the name; SCOPES is valid there too.
    let error = failure("CREATE API TOKEN x DURATON '1d'");
    assert_eq!(
        error.to_string(),
        "line 1, column 20: expected MAX DURATION, COMMENT, FOR USER, SCOPES or ';', found 'DURATON'"
    );
    assert_eq!(
        error.expected,
        "MAX DURATION, COMMENT, FOR USER, SCOPES or ';'"
    );
    assert_eq!(error.found, "DURATON");
    assert_eq!((error.line, error.column), (1, 20));
    assert_eq!(error.kind, ErrorKind::Unexpected);
    // Column 18 itself, with something that cannot be a name.
    assert_eq!(
        message("CREATE API TOKEN = '1d'"),
        "line 1, column 18: expected a token name, MAX DURATION, COMMENT, FOR USER, SCOPES or ';', found '='"
    );
    // The misspelling after MAX.
    assert_eq!(
        message("CREATE API TOKEN ci MAX DURATON '30d'"),
        "line 1, column 25: expected DURATION, found 'DURATON'"
    );
}

#[test]
fn unknown_first_word() {
    assert_eq!(
        message("SELEC * FROM t"),
        "line 1, column 1: expected CREATE, ALTER, DROP, SHOW, GRANT or REVOKE, found 'SELEC'"
    );
    assert_eq!(
        message("SHOW USERS;\n  SELEC 1"),
        "line 2, column 3: expected CREATE, ALTER, DROP, SHOW, GRANT or REVOKE, found 'SELEC'"
    );
}

#[test]
fn errors_list_what_may_come_next() {
    for (script, expected) in [
        (
            "CREATE x",
            "line 1, column 8: expected API TOKEN, USER, ROLE or SERVICE USER, found 'x'",
        ),
        (
            "CREATE API",
            "line 1, column 11: expected TOKEN, found end of input",
        ),
        (
            "CREATE API TOKEN x MAX DURATION '1d' x",
            "line 1, column 38: expected COMMENT, FOR USER, SCOPES or ';', found 'x'",
        ),
        (
            "CREATE API TOKEN x MAX DURATION 30d",
            "line 1, column 33: expected a quoted duration such as '30d', found '30d'",
        ),
        (
            "CREATE API TOKEN x SCOPES 'a'",
            "line 1, column 27: expected '(', found 'a'",
        ),
        (
            "CREATE API TOKEN x SCOPES ()",
            "line 1, column 28: expected a quoted scope such as 'catalog:read', found ')'",
        ),
        (
            "CREATE API TOKEN x SCOPES ('a' 'b')",
            "line 1, column 32: expected ',' or ')', found 'b'",
        ),
        (
            "CREATE API TOKEN x SCOPES ('a',",
            "line 1, column 32: expected a quoted scope such as 'catalog:read', found end of input",
        ),
        (
            "ALTER API TOKEN t COMMENT 'x'",
            "line 1, column 19: expected FOR USER or SET COMMENT, found 'COMMENT'",
        ),
        (
            "ALTER API TOKEN t FOR USER u SET 'x'",
            "line 1, column 34: expected COMMENT, found 'x'",
        ),
        (
            "ALTER USER bob SET NAME 'x'",
            "line 1, column 20: expected API TOKEN MAX DURATION, PASSWORD, ACTIVE or ACCESS LEVEL, found 'NAME'",
        ),
        (
            "ALTER USER bob RENAME",
            "line 1, column 16: expected SET or UNSET, found 'RENAME'",
        ),
        (
            "ALTER USER bob UNSET PASSWORD",
            "line 1, column 22: expected API, found 'PASSWORD'",
        ),
        (
            "ALTER USER bob SET ACTIVE yes",
            "line 1, column 27: expected '=', TRUE or FALSE, found 'yes'",
        ),
        (
            "ALTER USER bob SET ACTIVE = on",
            "line 1, column 29: expected TRUE or FALSE, found 'on'",
        ),
        (
            "ALTER USER bob SET ACCESS LEVEL user",
            "line 1, column 33: expected an access level such as 'tenant-user', found 'user' (a keyword: write \"user\" to use it as a name)",
        ),
        (
            "ALTER SERVICE USER s ROTATE KEY 1h",
            "line 1, column 33: expected GRACE or ';', found '1h'",
        ),
        (
            "ALTER SERVICE USER s SET PASSWORD 'x'",
            "line 1, column 26: expected ACTIVE or DESCRIPTION, found 'PASSWORD'",
        ),
        (
            "ALTER SERVICE USER s",
            "line 1, column 21: expected ROTATE KEY or SET, found end of input",
        ),
        (
            "DROP TOKEN x",
            "line 1, column 6: expected API TOKEN, ALL API TOKENS, USER, ROLE or SERVICE USER, found 'TOKEN'",
        ),
        (
            "DROP ALL API TOKENS",
            "line 1, column 20: expected FOR, found end of input",
        ),
        (
            "DROP API TOKEN x FOR bob",
            "line 1, column 22: expected USER, found 'bob'",
        ),
        (
            "SHOW TOKENS",
            "line 1, column 6: expected API TOKENS, USERS, ROLES, SERVICE USERS or AUDIT, found 'TOKENS'",
        ),
        (
            "SHOW AUDIT ACTION token",
            "line 1, column 19: expected a quoted action such as 'token.create', found 'token'",
        ),
        (
            "GRANT analysts TO bob",
            "line 1, column 7: expected ROLE, found 'analysts'",
        ),
        (
            "GRANT ROLE analysts TO bob",
            "line 1, column 24: expected USER, found 'bob'",
        ),
        (
            "REVOKE ROLE analysts TO USER bob",
            "line 1, column 22: expected FROM, found 'TO'",
        ),
        (
            "CREATE USER bob PASSWORD 'x' ROLE admin",
            "line 1, column 30: expected ACCESS LEVEL, IN TENANT or ';', found 'ROLE'",
        ),
        (
            "CREATE SERVICE USER s EXPIRES '1d'",
            "line 1, column 31: expected IN, found '1d'",
        ),
        (
            "CREATE SERVICE USER s x",
            "line 1, column 23: expected ACCESS LEVEL, DESCRIPTION, EXPIRES IN, MAX DURATION, SCOPES or ';', found 'x'",
        ),
        (
            "DROP USER bob # comment",
            "line 1, column 15: expected ';', found '#'",
        ),
        (
            "CREATE API TOKEN x COMMENT ‘curly’",
            "line 1, column 28: expected a quoted comment, found '‘'",
        ),
    ] {
        assert_eq!(message(script), expected, "{script}");
    }
}

#[test]
fn a_string_found_is_shown_as_written() {
    let error = failure("CREATE SERVICE USER s EXPIRES '1d'");
    assert_eq!(error.found, "'1d'");
    assert_eq!(
        message("SHOW USERS 'x'"),
        "line 1, column 12: expected ';', found 'x'"
    );
}

#[test]
fn errors_on_later_lines_count_characters() {
    let script = "CREATE API TOKEN ci\nCOMMENT 'Токен'\n  MAX DURATION '1d' FOR USER бob SCOPES ('a') COMMENT 'again';";
    let error = failure(script);
    assert_eq!((error.line, error.column), (3, 47));
    assert_eq!(
        error.kind,
        ErrorKind::RepeatedClause {
            clause: s("COMMENT")
        }
    );
    assert_eq!(
        error.to_string(),
        "line 3, column 47: COMMENT is given twice (each clause may appear once)"
    );
    assert_eq!(
        message("SHOW USERS;\n\n  CREATE API TOKEN 'Токен' x"),
        "line 3, column 20: expected a token name, MAX DURATION, COMMENT, FOR USER, SCOPES or ';', found 'Токен'"
    );
}

#[test]
fn every_repeated_clause_is_named() {
    for (script, clause, column) in [
        ("CREATE API TOKEN FOR USER a FOR USER b", "FOR USER", 29),
        (
            "CREATE API TOKEN x MAX DURATION '1d' max duration '2d'",
            "MAX DURATION",
            38,
        ),
        ("CREATE API TOKEN SCOPES ('a') SCOPES ('b')", "SCOPES", 31),
        ("SHOW API TOKENS ALL ALL", "ALL", 21),
        ("SHOW API TOKENS FOR USER a ALL FOR USER b", "FOR USER", 32),
        ("DROP API TOKEN t FOR USER a FOR USER b", "FOR USER", 29),
        ("CREATE USER u PASSWORD 'a' PASSWORD 'b'", "PASSWORD", 28),
        ("CREATE USER u IN TENANT a IN TENANT b", "IN TENANT", 27),
        (
            "CREATE USER u ACCESS LEVEL a ACCESS LEVEL b",
            "ACCESS LEVEL",
            30,
        ),
        (
            "CREATE SERVICE USER s EXPIRES IN '1d' MAX DURATION '2d'",
            "EXPIRES IN or MAX DURATION",
            39,
        ),
        (
            "CREATE SERVICE USER s DESCRIPTION 'a' DESCRIPTION 'b'",
            "DESCRIPTION",
            39,
        ),
        (
            "ALTER SERVICE USER s ROTATE KEY GRACE '1h' GRACE '2h'",
            "GRACE",
            44,
        ),
        ("SHOW AUDIT LIMIT 1 LIMIT 2", "LIMIT", 20),
        ("SHOW AUDIT ACTION 'a' ACTION 'b'", "ACTION", 23),
    ] {
        let error = failure(script);
        assert_eq!(
            error.kind,
            ErrorKind::RepeatedClause { clause: s(clause) },
            "{script}"
        );
        assert_eq!(
            error.to_string(),
            format!(
                "line 1, column {column}: {clause} is given twice (each clause may appear once)"
            ),
            "{script}"
        );
    }
}

#[test]
fn unterminated_things_are_reported_where_they_start() {
    for (script, line, column, expected) in [
        (
            "CREATE API TOKEN x COMMENT 'oops;\nSHOW USERS;",
            1,
            28,
            "a closing ' for the string that starts here",
        ),
        (
            "SHOW USERS;\nDROP USER \"bob",
            2,
            11,
            "a closing \" for the quoted name that starts here",
        ),
        (
            "SHOW USERS /* never closed",
            1,
            12,
            "a closing */ for the comment that starts here",
        ),
        (
            "ALTER USER bob SET PASSWORD 'abc",
            1,
            29,
            "a closing ' for the string that starts here",
        ),
    ] {
        let error = failure(script);
        assert_eq!(error.kind, ErrorKind::Unterminated, "{script}");
        assert_eq!((error.line, error.column), (line, column), "{script}");
        assert_eq!(
            error.to_string(),
            format!("line {line}, column {column}: expected {expected}, found end of input")
        );
    }
    // An earlier mistake is reported first.
    assert_eq!(
        message("SHOW USRES; SHOW 'x"),
        "line 1, column 6: expected API TOKENS, USERS, ROLES, SERVICE USERS or AUDIT, found 'USRES'"
    );
}

#[test]
fn statements_cut_short_say_end_of_input() {
    for script in [
        "CREATE",
        "CREATE API TOKEN x MAX",
        "CREATE API TOKEN x MAX DURATION",
        "ALTER API TOKEN",
        "ALTER USER bob SET",
        "GRANT ROLE r TO USER",
        "SHOW AUDIT LIMIT",
    ] {
        assert_eq!(failure(script).found, "end of input", "{script}");
        assert!(
            message(script).ends_with(", found end of input"),
            "{script}"
        );
        // The same with a `;`: the `;` is what is found.
        assert_eq!(failure(&format!("{script};")).found, ";", "{script}");
    }
}

#[test]
fn long_tokens_are_shortened_in_errors() {
    let long = "x".repeat(500);
    let error = failure(&format!("SHOW USERS {long}"));
    assert_eq!(error.found, format!("{}...", "x".repeat(40)));
}

#[test]
fn parse_error_is_a_std_error() {
    let error: Box<dyn std::error::Error> = Box::new(failure("SELEC"));
    assert!(error.to_string().starts_with("line 1, column 1: "));
}

// --- Helpers for clients. ---

#[test]
fn keywords_for_completion() {
    assert!(KEYWORDS.contains(&"CREATE") && KEYWORDS.contains(&"DURATION"));
    assert!(is_keyword("duration") && !is_keyword("analyst"));
}

#[test]
fn quoting_round_trips() {
    assert_eq!(quote_name("ci_pipeline"), "ci_pipeline");
    assert_eq!(quote_name("alice@example.com"), "alice@example.com");
    assert_eq!(quote_name("user"), "\"user\"");
    assert_eq!(quote_name("42"), "\"42\"");
    assert_eq!(quote_name("a--b"), "\"a--b\"");
    assert_eq!(quote_name("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(quote_string("it's"), "'it''s'");

    let mut rng = XorShift(0x1234_5678_9abc_def0);
    let alphabet: Vec<char> = "ab_-.@ '\";Я1\n/*-".chars().collect();
    for _ in 0..2000 {
        let len = 1 + rng.below(12);
        let name: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let comment: String = (0..rng.below(12))
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let script = format!(
            "ALTER API TOKEN {} SET COMMENT {}",
            quote_name(&name),
            quote_string(&comment)
        );
        assert_eq!(
            one(&script),
            Statement::SetApiTokenComment {
                name: name.clone(),
                for_user: None,
                comment
            },
            "{script}"
        );
    }
}

#[test]
fn completeness_for_a_shell() {
    assert!(is_complete("SHOW USERS;"));
    assert!(!is_complete(
        "CREATE API TOKEN ci_pipeline\nMAX DURATION '30d'"
    ));
    assert!(is_complete(SEED_MULTI_LINE));
}

// --- Robustness: size and random input. ---

#[test]
fn huge_inputs_do_not_overflow_the_stack() {
    let many = "SHOW USERS;\n".repeat(100_000);
    let spanned = parse_spanned(&many).unwrap();
    assert_eq!(spanned.len(), 100_000);
    assert_eq!(spanned[99_999].line, 100_000);

    let nested = "(".repeat(1_000_000);
    assert_eq!(failure(&nested).found, "(");

    let long_comment = format!("CREATE API TOKEN x COMMENT '{}'", "Ж".repeat(1_000_000));
    assert!(matches!(
        one(&long_comment),
        Statement::CreateApiToken { comment: Some(c), .. } if c.chars().count() == 1_000_000
    ));

    let scopes = vec!["'s'"; 100_000].join(", ");
    assert!(matches!(
        one(&format!("CREATE API TOKEN SCOPES ({scopes})")),
        Statement::CreateApiToken { scopes: Some(s), .. } if s.len() == 100_000
    ));
}

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
}

/// What must hold for any input: no panic, and an error points inside the input.
fn check_any(script: &str) {
    match parse_spanned(script) {
        Ok(statements) => {
            for statement in statements {
                assert!(statement.line >= 1 && statement.column >= 1);
                assert!(!statement.text.is_empty());
                assert!(!statement.text.ends_with(';'));
            }
        }
        Err(error) => {
            let lines = script.split('\n').count();
            assert!(
                error.line >= 1 && error.line <= lines,
                "{script:?}: {error}"
            );
            assert!(error.column >= 1, "{script:?}: {error}");
            assert!(!error.expected.is_empty());
            assert!(!error.to_string().is_empty());
        }
    }
    let _ = is_complete(script);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = rng.below(64);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        check_any(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn random_token_soup_never_panics() {
    // Pieces of the language shuffled together reach deep into the grammar, unlike random bytes.
    let mut pieces: Vec<String> = KEYWORDS.iter().map(|k| k.to_string()).collect();
    pieces.extend(
        [
            "ci",
            "\"q\"\"n\"",
            "''",
            "'30d'",
            "'it''s'",
            "42",
            "-1",
            "0",
            "10001",
            "(",
            ")",
            ",",
            "=",
            ";",
            "--c\n",
            "/*c*/",
            "/*",
            "'",
            "\"",
            "\n",
            "Ж",
            "#",
            "-",
            "a-b",
            "\u{feff}",
        ]
        .map(String::from),
    );
    let mut rng = XorShift(0x0123_4567_89ab_cdef);
    let mut parsed = 0;
    for _ in 0..50_000 {
        let mut script = String::new();
        // Start from a real statement start most of the time so the parser gets deep.
        if rng.below(4) > 0 {
            script.push_str(["CREATE ", "ALTER ", "DROP ", "SHOW "][rng.below(4)]);
        }
        for _ in 0..rng.below(12) {
            script.push_str(&pieces[rng.below(pieces.len())]);
            script.push(' ');
        }
        check_any(&script);
        parsed += usize::from(parse(&script).is_ok());
    }
    assert!(parsed > 100, "only {parsed} random scripts parsed");
}

#[test]
fn control_characters_are_refused_where_they_stand() {
    for (script, line, column, found) in [
        ("CREATE API TOKEN t COMMENT 'a\u{0}b';", 1, 30, "U+0000"),
        ("CREATE USER \"x\u{1b}[2J\" PASSWORD 'p';", 1, 15, "U+001B"),
        (
            "SHOW API TOKENS;\nALTER API TOKEN t SET COMMENT '\u{9b}2J';",
            2,
            32,
            "U+009B",
        ),
        ("SHOW\u{7f} USERS;", 1, 5, "U+007F"),
        ("SHOW USERS;\u{0}", 1, 12, "U+0000"),
    ] {
        let error = failure(script);
        assert_eq!(error.kind, ErrorKind::ControlCharacter, "{script:?}");
        assert_eq!((error.line, error.column), (line, column), "{script:?}");
        assert_eq!(error.found, found, "{script:?}");
        assert!(!error.to_string().chars().any(char::is_control), "{error}");
    }
    // Tab and line breaks are blanks between tokens and may stand in a comment's text.
    match one("CREATE API TOKEN t\tCOMMENT 'one\ntwo\tthree\r';") {
        Statement::CreateApiToken { comment, .. } => {
            assert_eq!(comment.as_deref(), Some("one\ntwo\tthree\r"));
        }
        other => panic!("{other:?}"),
    }
}
