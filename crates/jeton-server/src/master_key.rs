//! The master key, and the envelope encryption at rest of the secrets Jeton keeps in its
//! database: the signing keys' private halves and the API-key hashing secret.
//!
//! A dump of the database alone forges nothing: each secret is sealed with XChaCha20-Poly1305
//! (RustCrypto's `chacha20poly1305`) under a 256-bit key-encryption key that lives in a file
//! outside the database (`--master-key-file`). Each sealed value carries a fresh 24-byte random
//! nonce, the id of the master key that sealed it (so that a wrong key gives a clear error
//! rather than a bare "decryption failed"), and is bound by its associated data to what it is
//! (`jeton signing key <kid>`, `jeton api-key secret`): a value moved to another row does not
//! open.
//!
//! The file holds the key in base64 on one line; lines starting with `#` are comments. With
//! SQLite and no `--master-key-file`, Jeton uses `<database file>.master-key`, creating it (mode
//! 0600) on the first start of a database that holds no sealed value yet.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use jeton_store::{Resealed, Store};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Config, ServeError};

/// Bytes of a master key.
pub const KEY_LEN: usize = 32;
/// Bytes of a nonce.
const NONCE_LEN: usize = 24;
/// What every sealed value starts with: the format's name and version.
const SEALED_PREFIX: &str = "jeton-sealed-v1.";
/// The comment line written at the top of a master key file.
const FILE_HEADER: &str = "# Jeton master key: it opens the signing keys in the database. Keep it secret, 0600, and \
     back it up apart from database backups.";

/// Why a master key could not be read, made, or used.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The file could not be read or written.
    #[error("master key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file does not hold a master key.
    #[error(
        "master key file {path}: {detail} (expected 32 random bytes in base64 on one line, as \
         `jeton keys new-master-key FILE` or `openssl rand -base64 32` writes)"
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A value was sealed under another master key.
    #[error(
        "the master key in {source_name} does not open the {what} in this database: wrong key? \
         (they were sealed under master key {sealed_under}, this one is {this_key})"
    )]
    WrongKey {
        /// Where the key came from.
        source_name: String,
        /// What did not open (`signing key <kid>`, `API-key hashing secret`).
        what: String,
        /// The id of the key that sealed it.
        sealed_under: String,
        /// The id of the key given.
        this_key: String,
    },
    /// A value with the right key id did not open: altered, or moved from another row.
    #[error("the {what} in this database does not open under its master key: altered or moved")]
    Corrupt {
        /// What did not open.
        what: String,
    },
}

/// The key-encryption key. Its bytes are zeroised on drop and never printed.
pub struct MasterKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    id: String,
    source: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The associated data of a signing key's private half.
pub fn signing_key_context(kid: &str) -> String {
    format!("jeton signing key {kid}")
}

/// The associated data of the API-key hashing secret.
pub const API_KEY_SECRET_CONTEXT: &str = "jeton api-key secret";

/// Where Jeton keeps the master key of a SQLite database by default: `<file>.master-key`
/// beside it. `None` for an in-memory database or another backend.
pub fn default_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let (file, params) = rest.split_once('?').unwrap_or((rest, ""));
    if file.is_empty()
        || file == ":memory:"
        || params.split('&').any(|param| param == "mode=memory")
    {
        return None;
    }
    Some(PathBuf::from(format!("{file}.master-key")))
}

impl MasterKey {
    /// A master key from its bytes; `source` names where it came from in error messages.
    pub fn from_bytes(key: [u8; KEY_LEN], source: impl Into<String>) -> Self {
        let key = Zeroizing::new(key);
        // The id says which key sealed a value without revealing anything of the key: a
        // SHA-256 under a label of its own, cut to 16 base64url characters (96 bits).
        let mut digest = Sha256::new();
        digest.update(b"jeton master key id\0");
        digest.update(key.as_slice());
        let id = URL_SAFE_NO_PAD.encode(digest.finalize())[..16].to_string();
        Self {
            key,
            id,
            source: source.into(),
        }
    }

    /// A new random key, kept in memory only (an in-memory database's).
    pub fn generate(source: impl Into<String>) -> Self {
        let mut key = [0u8; KEY_LEN];
        rand::fill(&mut key);
        let made = Self::from_bytes(key, source);
        zeroize::Zeroize::zeroize(&mut key);
        made
    }

    /// Reads a master key file. A file that others than its owner may read is used, with a
    /// warning: a mounted secret is often 0644 inside a container that only Jeton runs in.
    pub fn read(path: &Path) -> Result<Self, MasterKeyError> {
        let io = |source| MasterKeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "the master key file can be read by other users than its owner: chmod 600 it"
                );
            }
        }
        let format = |detail: &str| MasterKeyError::Format {
            path: path.to_path_buf(),
            detail: detail.to_string(),
        };
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'));
        let line = lines
            .next()
            .ok_or_else(|| format("the file holds no key"))?;
        if lines.next().is_some() {
            return Err(format("more than one line besides comments"));
        }
        let bytes = Zeroizing::new(
            STANDARD
                .decode(line)
                .map_err(|_| format("the key is not base64"))?,
        );
        let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            format(&format!(
                "the key is {} bytes, a master key is {KEY_LEN}",
                bytes.len()
            ))
        })?;
        Ok(Self::from_bytes(key, path.display().to_string()))
    }

    /// Makes a new random key and writes it to a new file, readable by its owner only (mode
    /// 0600) and synced to disk before this returns. Fails if the file exists.
    pub fn create_file(path: &Path) -> Result<Self, MasterKeyError> {
        let io = |source| MasterKeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut key = [0u8; KEY_LEN];
        rand::fill(&mut key);
        let text = Zeroizing::new(format!("{FILE_HEADER}\n{}\n", STANDARD.encode(key)));
        let made = Self::from_bytes(key, path.display().to_string());
        zeroize::Zeroize::zeroize(&mut key);
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut file = open.open(path).map_err(io)?;
        // The mode given at creation passes through the umask; state it exactly.
        #[cfg(unix)]
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(made)
    }

    /// The key's id: 16 characters that name it in sealed values and messages.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the key came from (its file), for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&(*self.key).into())
    }

    /// Seals `plaintext` for the row `context` names: `jeton-sealed-v1.<key id>.<base64url of
    /// nonce and ciphertext>`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            // Invariant: XChaCha20-Poly1305 fails only on messages over 256 GiB; what Jeton
            // seals (a PKCS#8 key, a 64-character secret) is under 100 bytes.
            .expect("a message under 256 GiB always seals");
        let mut body = Vec::with_capacity(NONCE_LEN + sealed.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&sealed);
        format!(
            "{SEALED_PREFIX}{}.{}",
            self.id,
            URL_SAFE_NO_PAD.encode(body)
        )
    }

    /// Opens a value [`MasterKey::seal`] made for `context`. `what` names it in errors.
    pub fn open(
        &self,
        context: &str,
        sealed: &str,
        what: &str,
    ) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
        let corrupt = || MasterKeyError::Corrupt {
            what: what.to_string(),
        };
        let rest = sealed.strip_prefix(SEALED_PREFIX).ok_or_else(corrupt)?;
        let (key_id, body) = rest.split_once('.').ok_or_else(corrupt)?;
        if key_id != self.id {
            return Err(MasterKeyError::WrongKey {
                source_name: self.source.clone(),
                what: what.to_string(),
                sealed_under: key_id.to_string(),
                this_key: self.id.clone(),
            });
        }
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| corrupt())?;
        if body.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| corrupt())?;
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| corrupt())
    }
}

/// True when a stored value is sealed (rather than a clear value from before migration 4).
pub fn is_sealed(value: &[u8]) -> bool {
    value.starts_with(SEALED_PREFIX.as_bytes())
}

/// The id of the master key a sealed value names, if it is sealed.
pub fn sealed_under(value: &[u8]) -> Option<&str> {
    let rest = std::str::from_utf8(value)
        .ok()?
        .strip_prefix(SEALED_PREFIX)?;
    rest.split_once('.').map(|(id, _)| id)
}

/// The name of the setting that holds the secret API keys are hashed with (sealed).
pub const KEY_SECRET_SETTING: &str = "api_key_hmac_secret";

/// What names the API-key hashing secret in messages.
const KEY_SECRET_NAME: &str = "API-key hashing secret";

/// The master key `jeton serve` starts with: `--master-key-file` if given; else, with SQLite,
/// `<database file>.master-key`, created (0600, said in the log) when the database holds no
/// sealed value yet; a new random key for an in-memory database. PostgreSQL needs the option:
/// instances sharing a database must share the key, so none can make its own.
pub async fn load(config: &Config, store: &dyn Store) -> Result<MasterKey, ServeError> {
    let startup = |err: MasterKeyError| ServeError::Startup(err.to_string());
    if let Some(path) = &config.master_key_file {
        return MasterKey::read(path).map_err(startup);
    }
    if store.backend() != "sqlite" {
        return Err(ServeError::Startup(
            "a master key is required with PostgreSQL: it seals the signing keys in the \
             database. Pass --master-key-file FILE (or set JETON_MASTER_KEY_FILE), the same file \
             on every instance; make one with `jeton keys new-master-key FILE`"
                .into(),
        ));
    }
    let Some(path) = default_path(&config.database_url) else {
        // An in-memory database lives as long as this process: so does its key.
        return Ok(MasterKey::generate("an in-memory key"));
    };
    if path.exists() {
        return MasterKey::read(&path).map_err(startup);
    }
    if let Some(sealed_under) = sealed_values_key(store).await? {
        return Err(ServeError::Startup(format!(
            "the secrets in this database are sealed under master key {sealed_under}, and its \
             default file {} does not exist: pass --master-key-file FILE (or set \
             JETON_MASTER_KEY_FILE)",
            path.display()
        )));
    }
    match MasterKey::create_file(&path) {
        Ok(key) => {
            tracing::warn!(
                file = %path.display(),
                id = key.id(),
                "created a master key: it seals the signing keys in the database, which cannot \
                 be opened without it. Back it up, apart from the database"
            );
            Ok(key)
        }
        // Another process starting on the same file made it first: use its key.
        Err(MasterKeyError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            MasterKey::read(&path).map_err(startup)
        }
        Err(err) => Err(startup(err)),
    }
}

/// The id of the master key some stored value is sealed under, if any is sealed.
async fn sealed_values_key(store: &dyn Store) -> Result<Option<String>, ServeError> {
    let keys = store.list_signing_keys().await?;
    let setting = store.get_setting(KEY_SECRET_SETTING).await?;
    Ok(keys
        .iter()
        .map(|k| k.private_key.as_slice())
        .chain(setting.as_deref().map(str::as_bytes))
        .find_map(sealed_under)
        .map(str::to_string))
}

/// Seals what a database from before sealing holds in clear (its signing keys and API-key
/// hashing secret, in one transaction, then scrubs the old bytes from the files), checks that
/// `master` opens every sealed value, and returns the API-key hashing secret — made, sealed and
/// stored on a new database.
pub async fn seal_and_open(
    store: &dyn Store,
    master: &MasterKey,
) -> Result<Zeroizing<Vec<u8>>, ServeError> {
    let startup = |err: MasterKeyError| ServeError::Startup(err.to_string());
    // A few attempts: another instance may seal the same rows at the same moment.
    for _ in 0..5 {
        let keys = store.list_signing_keys().await?;
        let mut sealed_keys = Vec::new();
        for key in &keys {
            if is_sealed(&key.private_key) {
                // Opened here only to fail early, with the clear error, on a wrong key.
                let text = std::str::from_utf8(&key.private_key).map_err(|_| {
                    ServeError::Startup(format!("signing key {} is corrupt", key.kid))
                })?;
                master
                    .open(
                        &signing_key_context(&key.kid),
                        text,
                        &format!("signing keys (first: {})", key.kid),
                    )
                    .map_err(startup)?;
            } else {
                sealed_keys.push(Resealed {
                    id: key.kid.clone(),
                    old: key.private_key.clone(),
                    new: master
                        .seal(&signing_key_context(&key.kid), &key.private_key)
                        .into_bytes(),
                });
            }
        }
        let (secret, sealed_setting) = match store.get_setting(KEY_SECRET_SETTING).await? {
            Some(value) if is_sealed(value.as_bytes()) => (
                master
                    .open(API_KEY_SECRET_CONTEXT, &value, KEY_SECRET_NAME)
                    .map_err(startup)?,
                None,
            ),
            Some(clear) => {
                let sealed = master.seal(API_KEY_SECRET_CONTEXT, clear.as_bytes());
                let secret = Zeroizing::new(clear.as_bytes().to_vec());
                (
                    secret,
                    Some(Resealed {
                        id: KEY_SECRET_SETTING.to_string(),
                        old: clear,
                        new: sealed,
                    }),
                )
            }
            None => {
                // 256 random bits, as hex: the form the secret has always had, so that the
                // keys of a database sealed later hash the same.
                let mut random = Zeroizing::new([0u8; 32]);
                rand::fill(&mut *random);
                let fresh: Zeroizing<String> =
                    Zeroizing::new(random.iter().map(|b| format!("{b:02x}")).collect());
                let sealed = master.seal(API_KEY_SECRET_CONTEXT, fresh.as_bytes());
                // The first instance to store one wins; every instance opens the winner's.
                let stored = store.init_setting(KEY_SECRET_SETTING, &sealed).await?;
                if !is_sealed(stored.as_bytes()) {
                    continue;
                }
                (
                    master
                        .open(API_KEY_SECRET_CONTEXT, &stored, KEY_SECRET_NAME)
                        .map_err(startup)?,
                    None,
                )
            }
        };
        if sealed_keys.is_empty() && sealed_setting.is_none() {
            return Ok(secret);
        }
        let settings: Vec<Resealed<String>> = sealed_setting.into_iter().collect();
        if store.reseal(&sealed_keys, &settings).await? {
            store.scrub().await?;
            tracing::warn!(
                signing_keys = sealed_keys.len(),
                hashing_secret = !settings.is_empty(),
                master_key = master.id(),
                file = master.source(),
                "sealed the secrets this database held in clear under the master key: a \
                 one-way upgrade, the database no longer opens without that key"
            );
            return Ok(secret);
        }
    }
    Err(ServeError::Startup(
        "the signing keys kept changing while they were being sealed; start again".into(),
    ))
}

/// What [`rewrap`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrapped {
    /// Signing keys sealed again.
    pub signing_keys: usize,
    /// Whether the API-key hashing secret was sealed again.
    pub hashing_secret: bool,
}

/// Seals every sealed value of the database again, under `new` instead of `old`, in one
/// transaction (nothing is written if any value does not open with `old`), then scrubs the old
/// values from the files. Values still in clear (a database never started since sealing came)
/// are sealed under `new` too.
pub async fn rewrap(
    store: &dyn Store,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<Rewrapped, ServeError> {
    let startup = |err: MasterKeyError| ServeError::Startup(err.to_string());
    let keys = store.list_signing_keys().await?;
    let mut resealed = Vec::new();
    for key in &keys {
        let clear = if is_sealed(&key.private_key) {
            let text = std::str::from_utf8(&key.private_key)
                .map_err(|_| ServeError::Startup(format!("signing key {} is corrupt", key.kid)))?;
            old.open(
                &signing_key_context(&key.kid),
                text,
                &format!("signing keys (first: {})", key.kid),
            )
            .map_err(startup)?
        } else {
            Zeroizing::new(key.private_key.clone())
        };
        resealed.push(Resealed {
            id: key.kid.clone(),
            old: key.private_key.clone(),
            new: new
                .seal(&signing_key_context(&key.kid), &clear)
                .into_bytes(),
        });
    }
    let mut settings = Vec::new();
    if let Some(value) = store.get_setting(KEY_SECRET_SETTING).await? {
        let clear = if is_sealed(value.as_bytes()) {
            old.open(API_KEY_SECRET_CONTEXT, &value, KEY_SECRET_NAME)
                .map_err(startup)?
        } else {
            Zeroizing::new(value.as_bytes().to_vec())
        };
        settings.push(Resealed {
            id: KEY_SECRET_SETTING.to_string(),
            old: value,
            new: new.seal(API_KEY_SECRET_CONTEXT, &clear),
        });
    }
    if !store.reseal(&resealed, &settings).await? {
        return Err(ServeError::Startup(
            "a signing key changed while the secrets were being sealed again (a rotation?): \
             nothing was changed; run the command again"
                .into(),
        ));
    }
    store.scrub().await?;
    Ok(Rewrapped {
        signing_keys: resealed.len(),
        hashing_secret: !settings.is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_bound_to_the_row() {
        let key = MasterKey::from_bytes([7; KEY_LEN], "test");
        let sealed = key.seal(&signing_key_context("a"), b"private");
        assert!(is_sealed(sealed.as_bytes()));
        assert_eq!(sealed_under(sealed.as_bytes()), Some(key.id()));
        assert!(!sealed.contains("private"));
        let opened = key.open(&signing_key_context("a"), &sealed, "a").unwrap();
        assert_eq!(opened.as_slice(), b"private");
        // Two seals of one value differ (fresh nonce).
        assert_ne!(sealed, key.seal(&signing_key_context("a"), b"private"));
        // Moved to another row: refused.
        assert!(matches!(
            key.open(&signing_key_context("b"), &sealed, "b"),
            Err(MasterKeyError::Corrupt { .. })
        ));
        assert!(matches!(
            key.open(API_KEY_SECRET_CONTEXT, &sealed, "secret"),
            Err(MasterKeyError::Corrupt { .. })
        ));
        // One character changed: refused.
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(key.open(&signing_key_context("a"), &altered, "a").is_err());
        for garbage in ["", "jeton-sealed-v1.", "jeton-sealed-v1.x", "0\u{2e}0"] {
            assert!(key.open("c", garbage, "c").is_err());
        }
    }

    #[test]
    fn a_wrong_key_says_so() {
        let key = MasterKey::from_bytes([7; KEY_LEN], "right");
        let other = MasterKey::from_bytes([8; KEY_LEN], "/etc/jeton/other.key");
        assert_ne!(key.id(), other.id());
        let sealed = key.seal(API_KEY_SECRET_CONTEXT, b"secret");
        let err = other
            .open(API_KEY_SECRET_CONTEXT, &sealed, "API-key hashing secret")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/etc/jeton/other.key"), "{err}");
        assert!(err.contains("wrong key?"), "{err}");
        assert!(err.contains(key.id()), "{err}");
    }

    #[test]
    fn files_round_trip_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let made = MasterKey::create_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(MasterKey::read(&path).unwrap().id(), made.id());
        assert!(MasterKey::create_file(&path).is_err(), "never overwritten");

        let write = |text: &str| {
            let path = dir.path().join("bad.key");
            std::fs::write(&path, text).unwrap();
            MasterKey::read(&path)
        };
        // `openssl rand -base64 32` output is accepted.
        let key = write(&format!("{}\n", STANDARD.encode([3u8; 32]))).unwrap();
        assert_eq!(key.id(), MasterKey::from_bytes([3; 32], "x").id());
        for (text, expected) in [
            ("", "holds no key"),
            ("# only a comment\n", "holds no key"),
            ("not base64!!\n", "not base64"),
            (&format!("{}\n", STANDARD.encode([1u8; 16])), "16 bytes"),
            (
                &format!("{0}\n{0}\n", STANDARD.encode([1u8; 32])),
                "more than one line",
            ),
        ] {
            let err = write(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(err.contains("bad.key"), "{err}");
        }
        assert!(MasterKey::read(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn default_path_is_beside_a_sqlite_file() {
        assert_eq!(
            default_path("sqlite://jeton.db"),
            Some(PathBuf::from("jeton.db.master-key"))
        );
        assert_eq!(
            default_path("sqlite:///var/lib/jeton/j.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/jeton/j.db.master-key"))
        );
        assert_eq!(default_path("sqlite::memory:"), None);
        assert_eq!(default_path("sqlite://db?mode=memory&cache=shared"), None);
        assert_eq!(default_path("postgres://u@h/db"), None);
    }
}
