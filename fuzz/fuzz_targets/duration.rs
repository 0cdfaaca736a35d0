//! `Lifetime::parse` and `Lifetime::parse_days_default` never panic, and a lifetime they accept
//! prints (`to_string`) as text that parses back to the same lifetime.

#![no_main]

use jeton_core::duration::{Lifetime, MAX_LIFETIME_SECS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let strict = Lifetime::parse(&input);
    let lenient = Lifetime::parse_days_default(&input);
    if let Err(error) = &strict {
        assert!(!error.to_string().is_empty());
    }
    // Whatever has a unit means the same to both; only a bare number differs.
    if let Ok(lifetime) = &strict {
        assert_eq!(lenient.as_ref(), Ok(lifetime), "{input:?}");
    }
    assert_eq!(input.parse::<Lifetime>(), strict);
    for lifetime in [strict, lenient].into_iter().flatten() {
        assert!(
            (1..=MAX_LIFETIME_SECS).contains(&lifetime.as_secs()),
            "{input:?}: {lifetime:?}"
        );
        let text = lifetime.to_string();
        assert_eq!(
            Lifetime::parse(&text),
            Ok(lifetime),
            "{input:?} printed as {text:?}"
        );
        assert_eq!(Lifetime::parse_days_default(&text), Ok(lifetime));
        let _ = format!("{lifetime:?}");
    }
});
