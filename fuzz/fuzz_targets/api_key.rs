//! `apikey::check_format` never panics, accepts only keys of the documented shape, accepts
//! every generated key, and refuses a generated key with any one character changed.

#![no_main]

use jeton_core::apikey::{
    BODY_LEN, CHECKSUM_LEN, DEFAULT_PREFIX, KeyFormatError, check_format, generate,
};
use libfuzzer_sys::fuzz_target;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    check(DEFAULT_PREFIX, &input);
    // Any prefix: what comes before the first NUL.
    if let Some((prefix, key)) = input.split_once('\0') {
        check(prefix, key);
    }

    // A generated key from the first 32 bytes, then one character replaced.
    let Some((random, rest)) = data.split_first_chunk::<32>() else {
        return;
    };
    let secret = generate(DEFAULT_PREFIX, *random);
    let key = secret.expose();
    assert_eq!(check_format(DEFAULT_PREFIX, key), Ok(()), "{key}");
    check(DEFAULT_PREFIX, key);
    if let [at, with, ..] = rest {
        let at = DEFAULT_PREFIX.len() + usize::from(*at) % (BODY_LEN + CHECKSUM_LEN);
        let with = BASE62[usize::from(*with) % BASE62.len()];
        let mut changed = key.as_bytes().to_vec();
        if changed[at] != with {
            changed[at] = with;
            let changed = String::from_utf8(changed).expect("base62 is ASCII");
            assert_eq!(
                check_format(DEFAULT_PREFIX, &changed),
                Err(KeyFormatError::Checksum),
                "{key} changed to {changed}"
            );
        }
    }
});

/// No panic; and a key that passes has the shape: prefix, 43 base62 characters, 6 base62
/// characters of checksum.
fn check(prefix: &str, key: &str) {
    if check_format(prefix, key).is_ok() {
        let rest = key
            .strip_prefix(prefix)
            .expect("accepted without its prefix");
        assert_eq!(rest.len(), BODY_LEN + CHECKSUM_LEN, "{key:?}");
        assert!(rest.bytes().all(|b| BASE62.contains(&b)), "{key:?}");
        let checksum = &key[key.len() - CHECKSUM_LEN..];
        assert!(checksum.bytes().all(|b| BASE62.contains(&b)), "{key:?}");
    }
}
