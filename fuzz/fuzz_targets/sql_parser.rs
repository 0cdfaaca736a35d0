//! `jeton_sql::parse` never panics, whatever the input (UTF-8, or bytes read lossily), and every
//! statement it returns prints (`to_sql`) as text that parses back to exactly that statement.

#![no_main]

use jeton_sql::{Statement, is_complete, parse, parse_spanned};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(script) => check(script),
        Err(_) => check(&String::from_utf8_lossy(data)),
    }
});

fn check(script: &str) {
    let _ = is_complete(script);
    let statements = match parse_spanned(script) {
        Ok(statements) => statements,
        Err(error) => {
            assert!(error.line >= 1 && error.column >= 1, "{error:?}");
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    for spanned in &statements {
        let statement = &spanned.value;
        let sql = statement.to_sql();
        match parse(&sql) {
            Ok(again) => {
                assert_eq!(again, vec![statement.clone()], "printed as {sql:?}");
                // Printing is canonical: a printed statement prints the same again.
                assert_eq!(again[0].to_sql(), sql);
            }
            Err(error) => panic!("{statement:?} printed as {sql:?}, which fails: {error}"),
        }
        // The statement's own source text parses to it too, unless a password in it was
        // replaced by '***'.
        let has_password = matches!(
            statement,
            Statement::SetUserPassword { .. }
                | Statement::CreateUser {
                    password: Some(_),
                    ..
                }
        );
        if !has_password {
            assert_eq!(
                parse(&spanned.text).as_ref(),
                Ok(&vec![statement.clone()]),
                "text {:?}",
                spanned.text
            );
        }
    }
}
