//! Sealing secrets into the journal: encrypted to a key only the operator holds, so a crash
//! cannot lose a value the API showed once, and no file ever holds it in plaintext.
//!
//! The key is an [age](https://age-encryption.org) X25519 identity, or a passphrase. A run seals
//! each secret to a fresh X25519 key of its own ("run key"); the run key itself is sealed once to
//! the operator's recipient or passphrase and stored at the top of the journal. A passphrase
//! (scrypt, about a second by design) is then paid once per run, not once per secret.
//!
//! Where the key comes from, first match wins:
//! - sealing: `RUNBOOK_SEAL_PASSPHRASE`, `--seal-to`/`RUNBOOK_SEAL_RECIPIENT` (an `age1…`
//!   recipient), or the public half of the identity file;
//! - unsealing: `RUNBOOK_SEAL_PASSPHRASE`, the identity file named by `RUNBOOK_IDENTITY`, or the
//!   default identity file `$XDG_CONFIG_HOME/runbook/identity.txt`
//!   (`~/.config/runbook/identity.txt`), which `runbook keygen` writes.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::SecretString as AgeSecret;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::secret::{ExposeSecret, SecretString};

/// How secrets are sealed for one run.
pub struct Sealer {
    run_key: age::x25519::Identity,
    /// The run key, sealed to the operator (base64 of the age file).
    pub sealed_run_key: String,
    /// Where the operator's key is: shown in messages, never secret.
    pub key_description: String,
}

/// Where the operator's key for a run comes from.
pub enum KeySource {
    Recipient(age::x25519::Recipient, String),
    Passphrase(SecretString),
}

impl Sealer {
    /// A sealer with a fresh run key sealed to `source`.
    pub fn new(source: &KeySource) -> Result<Sealer, String> {
        let run_key = age::x25519::Identity::generate();
        let secret_key = run_key.to_string();
        let (sealed, key_description) = match source {
            KeySource::Recipient(recipient, described) => (
                age::encrypt(recipient, secret_key.expose_secret().as_bytes()),
                described.clone(),
            ),
            KeySource::Passphrase(passphrase) => {
                let recipient = age::scrypt::Recipient::new(AgeSecret::from(
                    passphrase.expose_secret().to_string(),
                ));
                (
                    age::encrypt(&recipient, secret_key.expose_secret().as_bytes()),
                    "the passphrase in $RUNBOOK_SEAL_PASSPHRASE".to_string(),
                )
            }
        };
        let sealed = sealed
            .map_err(|error| format!("cannot seal the run key: {}", encrypt_reason(&error)))?;
        Ok(Sealer {
            run_key,
            sealed_run_key: STANDARD.encode(sealed),
            key_description,
        })
    }

    /// An ephemeral sealer whose run key is sealed to nobody: for `--emulate` runs, whose fake
    /// secrets die with the in-process emulator anyway.
    pub fn ephemeral() -> Sealer {
        let throwaway = age::x25519::Identity::generate();
        let mut sealer =
            match Sealer::new(&KeySource::Recipient(throwaway.to_public(), String::new())) {
                Ok(sealer) => sealer,
                Err(_) => Sealer {
                    run_key: age::x25519::Identity::generate(),
                    sealed_run_key: String::new(),
                    key_description: String::new(),
                },
            };
        sealer.key_description = "a throwaway key (an --emulate run cannot be resumed)".into();
        sealer
    }

    /// A sealer that goes on with a run's existing key (a resume).
    pub fn reuse(opener: Opener, sealed_run_key: String, key_description: String) -> Sealer {
        Sealer {
            run_key: opener.run_key,
            sealed_run_key,
            key_description,
        }
    }

    /// Seals one value to the run key: base64 of an age file.
    pub fn seal(&self, value: &SecretString) -> Result<String, String> {
        age::encrypt(&self.run_key.to_public(), value.expose_secret().as_bytes())
            .map(|sealed| STANDARD.encode(sealed))
            .map_err(|error| format!("cannot seal a value: {}", encrypt_reason(&error)))
    }
}

/// Opens the sealed values of one run.
pub struct Opener {
    run_key: age::x25519::Identity,
}

impl Opener {
    /// Unseals a run key with the operator's key.
    pub fn from_sealed_run_key(sealed_run_key: &str, keys: &UnsealKeys) -> Result<Opener, String> {
        let sealed = STANDARD
            .decode(sealed_run_key)
            .map_err(|_| "the journal's sealed run key is damaged".to_string())?;
        let plain = match keys {
            UnsealKeys::Identity(identity, _) => age::decrypt(identity, &sealed),
            UnsealKeys::Passphrase(passphrase) => {
                let identity = age::scrypt::Identity::new(AgeSecret::from(
                    passphrase.expose_secret().to_string(),
                ));
                age::decrypt(&identity, &sealed)
            }
        }
        .map_err(|error| {
            format!(
                "cannot open this run's sealed values with {}: {}",
                keys.describe(),
                decrypt_reason(&error)
            )
        })?;
        let text = String::from_utf8(plain).map_err(|_| "the run key is not text".to_string())?;
        let run_key = age::x25519::Identity::from_str(text.trim())
            .map_err(|error| format!("the run key is not an age identity: {error}"))?;
        Ok(Opener { run_key })
    }

    pub fn open(&self, sealed: &str) -> Result<SecretString, String> {
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| "a sealed value in the journal is damaged".to_string())?;
        let plain = age::decrypt(&self.run_key, &bytes)
            .map_err(|error| format!("cannot open a sealed value: {}", decrypt_reason(&error)))?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| "a sealed value is not text".to_string())
    }
}

/// Why age could not open a sealed value, in our words: age's own messages are looked up in
/// translation files that a build may read from disk at the moment of the error, and a
/// failure to find them there must not turn a wrong key into a crash.
fn decrypt_reason(error: &age::DecryptError) -> String {
    use age::DecryptError;
    match error {
        // What a wrong passphrase gives, as well as damage.
        DecryptError::DecryptionFailed => {
            "it is not the passphrase the run was sealed with, or the sealed data is damaged".into()
        }
        DecryptError::InvalidMac => {
            "the sealed data is damaged (its header does not match its checksum)".into()
        }
        DecryptError::ExcessiveWork { required, target } => format!(
            "the passphrase's work factor (2^{required}) is far above what this machine does in \
             a second (2^{target}); it was not written by runbook"
        ),
        DecryptError::InvalidHeader | DecryptError::UnknownFormat => {
            "the sealed data is not an age file runbook wrote".into()
        }
        DecryptError::Io(error) => format!("cannot read the sealed data: {error}"),
        DecryptError::NoMatchingKeys => "it is not the key the run was sealed to".into(),
        DecryptError::KeyDecryptionFailed => "the key itself could not be opened".into(),
    }
}

/// Why age could not seal a value, in our words (see [`decrypt_reason`]).
fn encrypt_reason(error: &age::EncryptError) -> String {
    use age::EncryptError;
    match error {
        EncryptError::Io(error) => format!("cannot write the sealed data: {error}"),
        EncryptError::EncryptedIdentities(error) => decrypt_reason(error),
        EncryptError::IncompatibleRecipients { .. }
        | EncryptError::InvalidRecipientLabels(_)
        | EncryptError::MissingRecipients
        | EncryptError::MixedRecipientAndPassphrase => {
            "the keys given cannot be used together".into()
        }
    }
}

/// The operator's key, for unsealing.
pub enum UnsealKeys {
    Identity(age::x25519::Identity, PathBuf),
    Passphrase(SecretString),
}

impl UnsealKeys {
    fn describe(&self) -> String {
        match self {
            UnsealKeys::Identity(_, path) => format!("the identity in {}", path.display()),
            UnsealKeys::Passphrase(_) => "the passphrase in $RUNBOOK_SEAL_PASSPHRASE".into(),
        }
    }
}

/// The default identity file: `$XDG_CONFIG_HOME/runbook/identity.txt`, else
/// `~/.config/runbook/identity.txt`.
pub fn default_identity_path(env: &HashMap<String, String>) -> Option<PathBuf> {
    let set = |name: &str| env.get(name).filter(|value| !value.is_empty());
    if let Some(config) = set("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(config).join("runbook/identity.txt"));
    }
    set("HOME").map(|home| PathBuf::from(home).join(".config/runbook/identity.txt"))
}

fn identity_path(env: &HashMap<String, String>) -> Option<PathBuf> {
    env.get("RUNBOOK_IDENTITY")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| default_identity_path(env))
}

fn read_identity(path: &Path) -> Result<age::x25519::Identity, String> {
    // An identity file is a few lines; anything far longer (or endless) is not one.
    let bytes = crate::files::read_at_most(path, 64 * 1024)
        .map_err(|error| format!("cannot read the identity file {}: {error}", path.display()))?
        .ok_or_else(|| format!("{} is too long to be an age identity file", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        format!(
            "{} is not text, so not an age identity file",
            path.display()
        )
    })?;
    text.lines()
        .map(str::trim)
        .find(|line| line.starts_with("AGE-SECRET-KEY-"))
        .ok_or_else(|| format!("{} holds no AGE-SECRET-KEY line", path.display()))
        .and_then(|line| {
            age::x25519::Identity::from_str(line)
                .map_err(|error| format!("{}: not an age identity: {error}", path.display()))
        })
}

/// The key to seal with, if one is set up. `recipient` is `--seal-to`: given on the command
/// line, it wins over every environment variable, and is checked whatever they say.
pub fn seal_source(
    env: &HashMap<String, String>,
    recipient: Option<&str>,
) -> Result<Option<KeySource>, String> {
    if let Some(text) = recipient {
        return parse_recipient(text).map(Some);
    }
    if let Some(passphrase) = env
        .get("RUNBOOK_SEAL_PASSPHRASE")
        .filter(|value| !value.is_empty())
    {
        return Ok(Some(KeySource::Passphrase(SecretString::from(
            passphrase.clone(),
        ))));
    }
    if let Some(text) = env
        .get("RUNBOOK_SEAL_RECIPIENT")
        .filter(|value| !value.is_empty())
    {
        return parse_recipient(text).map(Some);
    }
    match identity_path(env) {
        Some(path) if path.exists() => {
            let identity = read_identity(&path)?;
            Ok(Some(KeySource::Recipient(
                identity.to_public(),
                format!("the identity in {}", path.display()),
            )))
        }
        _ => Ok(None),
    }
}

fn parse_recipient(text: &str) -> Result<KeySource, String> {
    let parsed = age::x25519::Recipient::from_str(text.trim())
        .map_err(|error| format!("`{text}` is not an age X25519 recipient (age1…): {error}"))?;
    Ok(KeySource::Recipient(
        parsed,
        format!("the recipient {}", text.trim()),
    ))
}

/// The key to unseal with.
pub fn unseal_keys(env: &HashMap<String, String>) -> Result<UnsealKeys, String> {
    if let Some(passphrase) = env
        .get("RUNBOOK_SEAL_PASSPHRASE")
        .filter(|value| !value.is_empty())
    {
        return Ok(UnsealKeys::Passphrase(SecretString::from(
            passphrase.clone(),
        )));
    }
    match identity_path(env) {
        Some(path) if path.exists() => Ok(UnsealKeys::Identity(read_identity(&path)?, path)),
        Some(path) => Err(format!(
            "no key to open sealed values: set $RUNBOOK_SEAL_PASSPHRASE, or $RUNBOOK_IDENTITY to the identity file the run was sealed for (looked for {})",
            path.display()
        )),
        None => Err(
            "no key to open sealed values: set $RUNBOOK_SEAL_PASSPHRASE or $RUNBOOK_IDENTITY"
                .into(),
        ),
    }
}

/// How to set a key up, for error messages.
pub const SETUP_HELP: &str = "run `runbook keygen` once (it writes an age identity to ~/.config/runbook/identity.txt, readable only by you), or export RUNBOOK_SEAL_RECIPIENT=age1… (an age public key) or RUNBOOK_SEAL_PASSPHRASE";

/// `runbook keygen`: writes a new identity file (0600) and returns the recipient.
pub fn keygen(path: &Path, force: bool) -> Result<String, String> {
    refuse_to_replace(path, force)?;
    if let Some(parent) = path.parent() {
        super::private_dir(parent)
            .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
    }
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let created = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
    // A fresh file, private from its first byte, renamed over the old one: a replaced
    // identity never inherits the old file's permissions, and never exists half-written.
    let temporary = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let text = format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        identity.to_string().expose_secret()
    );
    options
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|error| {
            let _ = std::fs::remove_file(&temporary);
            format!("cannot write {}: {error}", path.display())
        })?;
    Ok(recipient)
}

/// Refuses to write the identity over what is at `path`: anything that is not a regular file
/// (a device, a FIFO, a socket, a directory: `--force` does not make them files, and replacing
/// `/dev/null` would break the system), or an identity without `--force`.
fn refuse_to_replace(path: &Path, force: bool) -> Result<(), String> {
    let Ok(metadata) = std::fs::metadata(path) else {
        return Ok(());
    };
    if metadata.is_dir() {
        return Err(format!(
            "{} is a directory: give --output the path of the file to create, e.g. {}",
            path.display(),
            path.join("identity.txt").display()
        ));
    }
    if !metadata.is_file() {
        return Err(format!(
            "{} is {}, not a regular file: keygen writes the identity only to a file of its own; give --output the path of a file",
            path.display(),
            crate::files::kind_of(&metadata.file_type())
        ));
    }
    if !force {
        return Err(format!(
            "{} exists already; keep it (runs sealed to it need it to resume) or pass --force to replace it",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_sealed_for_a_recipient_opens_with_its_identity() {
        let identity = age::x25519::Identity::generate();
        let sealer =
            Sealer::new(&KeySource::Recipient(identity.to_public(), "test".into())).unwrap();
        let sealed = sealer
            .seal(&SecretString::from("shown-once".to_string()))
            .unwrap();
        assert!(!sealed.contains("shown-once"));
        let opener = Opener::from_sealed_run_key(
            &sealer.sealed_run_key,
            &UnsealKeys::Identity(identity, PathBuf::from("test")),
        )
        .unwrap();
        assert_eq!(opener.open(&sealed).unwrap().expose_secret(), "shown-once");
    }

    #[test]
    fn an_identity_file_that_is_not_one_is_refused_without_reading_it_all() {
        let endless = read_identity(Path::new("/dev/zero")).err().unwrap();
        assert_eq!(
            endless,
            "cannot read the identity file /dev/zero: this is a character device, not a regular file"
        );
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("identity.txt");
        std::fs::write(&binary, b"\xff\xfe\x00").unwrap();
        let error = read_identity(&binary).err().unwrap();
        assert!(
            error.ends_with("is not text, so not an age identity file"),
            "{error}"
        );
        let identity = age::x25519::Identity::generate();
        let good = dir.path().join("good.txt");
        std::fs::write(
            &good,
            format!("# a comment\n{}\n", identity.to_string().expose_secret()),
        )
        .unwrap();
        assert_eq!(
            read_identity(&good).unwrap().to_public().to_string(),
            identity.to_public().to_string()
        );
    }

    #[test]
    fn the_wrong_identity_cannot_open_it() {
        let sealer = Sealer::new(&KeySource::Recipient(
            age::x25519::Identity::generate().to_public(),
            "test".into(),
        ))
        .unwrap();
        let other = UnsealKeys::Identity(age::x25519::Identity::generate(), PathBuf::from("other"));
        let Err(refused) = Opener::from_sealed_run_key(&sealer.sealed_run_key, &other) else {
            panic!("another key opened the run key");
        };
        assert_eq!(
            refused,
            "cannot open this run's sealed values with the identity in other: it is not the key the run was sealed to"
        );
        // Damage is told apart from a wrong key.
        let mut damaged = STANDARD.decode(&sealer.sealed_run_key).unwrap();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        let Err(refused) = Opener::from_sealed_run_key(&STANDARD.encode(&damaged), &other) else {
            panic!("a damaged run key was opened");
        };
        assert!(
            refused.ends_with("it is not the key the run was sealed to"),
            "{refused}"
        );
        let Err(refused) = Opener::from_sealed_run_key(&STANDARD.encode(b"not age"), &other) else {
            panic!("text that is not age was opened");
        };
        assert!(
            refused.ends_with("the sealed data is not an age file runbook wrote"),
            "{refused}"
        );
    }
}
