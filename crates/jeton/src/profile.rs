//! Saved profiles: the server URL, credential and username that `jeton login` remembers, one set
//! per profile name, in `config.toml` inside the user's configuration directory
//! (`~/.config/jeton` on Linux; `JETON_CONFIG_DIR` overrides it).
//!
//! The file holds credentials, so it is only ever readable by its owner: it is written to a
//! temporary file created with mode 0600 and renamed into place, and an existing file with looser
//! permissions is tightened as soon as it is read.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Name of the file inside the configuration directory.
pub const FILE_NAME: &str = "config.toml";

/// Environment variable that overrides the configuration directory.
pub const DIR_ENV: &str = "JETON_CONFIG_DIR";

/// What is remembered for one profile.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The server's base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The credential (session token, API token or API key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Who the credential belongs to, for messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("username", &self.username)
            .finish()
    }
}

/// The file's layout: `[profiles.<name>]` tables.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// Why the profile file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Neither `JETON_CONFIG_DIR` nor a home directory is known.
    #[error("cannot find a configuration directory: set {DIR_ENV}")]
    NoDirectory,
    /// The file exists but is not a valid profile file.
    #[error("invalid profile file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// `read`, `write`, ...
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// The directory holding the profile file: `$JETON_CONFIG_DIR`, else the platform's
/// configuration directory for `jeton`.
pub fn config_dir() -> Result<PathBuf, ProfileError> {
    if let Some(dir) = std::env::var_os(DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "jeton")
        .map(|dirs| dirs.config_dir().to_path_buf())
        .ok_or(ProfileError::NoDirectory)
}

/// Every saved profile, loaded from one file and written back with [`Profiles::save`].
#[derive(Debug)]
pub struct Profiles {
    path: PathBuf,
    file: ConfigFile,
}

impl Profiles {
    /// Loads `dir/config.toml`; a missing file means no profiles. Tightens the file's
    /// permissions to 0600 if they are looser.
    pub fn load(dir: &Path) -> Result<Self, ProfileError> {
        let path = dir.join(FILE_NAME);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Self {
                    path,
                    file: ConfigFile::default(),
                });
            }
            Err(source) => {
                return Err(ProfileError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        restrict_permissions(&path)?;
        let file = toml::from_str(&text).map_err(|e| ProfileError::Invalid {
            path: path.clone(),
            message: e.message().to_string(),
        })?;
        Ok(Self { path, file })
    }

    /// The profile file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The profile called `name`, if saved.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.file.profiles.get(name)
    }

    /// Replaces (or adds) the profile called `name`.
    pub fn set(&mut self, name: &str, profile: Profile) {
        self.file.profiles.insert(name.to_string(), profile);
    }

    /// Forgets the credential of profile `name`, keeping its URL and username. Returns whether
    /// there was one.
    pub fn forget_token(&mut self, name: &str) -> bool {
        self.file
            .profiles
            .get_mut(name)
            .and_then(|profile| profile.token.take())
            .is_some()
    }

    /// Writes every profile back: to a temporary file created with mode 0600 in the same
    /// directory, flushed to disk, then renamed over the old file, so a crash never leaves a
    /// half-written or world-readable file.
    pub fn save(&self) -> Result<(), ProfileError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let text = toml::to_string_pretty(&self.file).map_err(|e| ProfileError::Invalid {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        let tmp = self.path.with_extension("toml.tmp");
        let io_error = |action, source| ProfileError::Io {
            action,
            path: tmp.clone(),
            source,
        };
        let mut file = private_options()
            .open(&tmp)
            .map_err(|e| io_error("create", e))?;
        // The file may have existed (a crash between create and rename) with another mode.
        set_private(&file).map_err(|e| io_error("set permissions of", e))?;
        file.write_all(
            "# Written by `jeton login`. Holds credentials: keep it private.\n".as_bytes(),
        )
        .and_then(|()| file.write_all(text.as_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write", e))?;
        drop(file);
        fs::rename(&tmp, &self.path).map_err(|source| ProfileError::Io {
            action: "replace",
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(unix)]
fn private_options() -> fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(0o600);
    options
}

#[cfg(not(unix))]
fn private_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    options
}

#[cfg(unix)]
fn set_private(file: &fs::File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn set_private(_file: &fs::File) -> io::Result<()> {
    Ok(())
}

/// Tightens an existing file to 0600 when group or others may access it.
#[cfg(unix)]
pub(crate) fn restrict_permissions(path: &Path) -> Result<(), ProfileError> {
    use std::os::unix::fs::PermissionsExt;
    let io_error = |source| ProfileError::Io {
        action: "set permissions of",
        path: path.to_path_buf(),
        source,
    };
    let mode = fs::metadata(path).map_err(io_error)?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_error)?;
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn restrict_permissions(_path: &Path) -> Result<(), ProfileError> {
    Ok(())
}

/// Creates the directory (and parents) if missing; a directory created here gets mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), ProfileError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| ProfileError::Io {
        action: "create directory",
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Profile {
        Profile {
            url: Some("http://127.0.0.1:9999".into()),
            token: Some("secret-token".into()),
            username: Some("alice".into()),
        }
    }

    #[test]
    fn a_missing_file_means_no_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let profiles = Profiles::load(dir.path()).unwrap();
        assert!(profiles.get("default").is_none());
        assert!(!profiles.path().exists());
    }

    #[test]
    fn saves_and_loads_profiles_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut profiles = Profiles::load(dir.path()).unwrap();
        profiles.set("default", alice());
        profiles.set(
            "prod",
            Profile {
                url: Some("https://jeton.example.com".into()),
                ..Profile::default()
            },
        );
        profiles.save().unwrap();

        let loaded = Profiles::load(dir.path()).unwrap();
        assert_eq!(loaded.get("default"), Some(&alice()));
        assert_eq!(
            loaded.get("prod").unwrap().url.as_deref(),
            Some("https://jeton.example.com")
        );
        assert!(loaded.get("prod").unwrap().token.is_none());
    }

    #[test]
    fn forget_token_keeps_the_url_and_username() {
        let dir = tempfile::tempdir().unwrap();
        let mut profiles = Profiles::load(dir.path()).unwrap();
        profiles.set("default", alice());
        assert!(profiles.forget_token("default"));
        assert!(!profiles.forget_token("default"));
        assert!(!profiles.forget_token("missing"));
        profiles.save().unwrap();
        let loaded = Profiles::load(dir.path()).unwrap();
        let profile = loaded.get("default").unwrap();
        assert_eq!(profile.token, None);
        assert_eq!(profile.username.as_deref(), Some("alice"));
        assert!(
            !fs::read_to_string(loaded.path())
                .unwrap()
                .contains("secret-token")
        );
    }

    #[test]
    fn creates_missing_directories() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a").join("jeton");
        let mut profiles = Profiles::load(&nested).unwrap();
        profiles.set("default", alice());
        profiles.save().unwrap();
        assert!(nested.join(FILE_NAME).is_file());
    }

    #[test]
    fn refuses_a_corrupt_file_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), "profiles = [not toml").unwrap();
        let err = Profiles::load(dir.path()).unwrap_err();
        assert!(matches!(err, ProfileError::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains(FILE_NAME), "{err}");
    }

    #[test]
    fn debug_hides_the_token() {
        assert!(!format!("{:?}", alice()).contains("secret-token"));
    }

    #[cfg(unix)]
    mod permissions {
        use super::*;
        use std::os::unix::fs::PermissionsExt;

        fn mode(path: &Path) -> u32 {
            fs::metadata(path).unwrap().permissions().mode() & 0o777
        }

        #[test]
        fn a_new_file_is_private() {
            let dir = tempfile::tempdir().unwrap();
            let mut profiles = Profiles::load(dir.path()).unwrap();
            profiles.set("default", alice());
            profiles.save().unwrap();
            assert_eq!(mode(profiles.path()), 0o600);
        }

        #[test]
        fn a_new_directory_is_private() {
            let dir = tempfile::tempdir().unwrap();
            let nested = dir.path().join("jeton");
            let mut profiles = Profiles::load(&nested).unwrap();
            profiles.set("default", alice());
            profiles.save().unwrap();
            assert_eq!(mode(&nested), 0o700);
        }

        #[test]
        fn a_loose_file_is_tightened_when_read_and_when_written() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(FILE_NAME);
            fs::write(&path, "[profiles.default]\nurl = \"http://x\"\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            let mut profiles = Profiles::load(dir.path()).unwrap();
            assert_eq!(mode(&path), 0o600);

            fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
            profiles.set("default", alice());
            profiles.save().unwrap();
            assert_eq!(mode(&path), 0o600);
        }

        #[test]
        fn a_stale_temporary_file_does_not_leak_its_mode() {
            let dir = tempfile::tempdir().unwrap();
            let tmp = dir.path().join("config.toml.tmp");
            fs::write(&tmp, "junk").unwrap();
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o666)).unwrap();
            let mut profiles = Profiles::load(dir.path()).unwrap();
            profiles.set("default", alice());
            profiles.save().unwrap();
            assert_eq!(mode(profiles.path()), 0o600);
            assert!(!tmp.exists());
        }
    }
}
