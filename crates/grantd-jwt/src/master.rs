//! The master key: 32 random bytes from `GRANTD_MASTER_KEY` or a key file, from which the key
//! that encrypts signing keys at rest and the client-secret pepper are derived.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::random;

/// Where a key passed as a string comes from: the binary reads the environment variable and
/// hands its value over, so errors name the variable the operator set.
const ENV_ORIGIN: &str = "GRANTD_MASTER_KEY";

const HINT: &str = "expected 32 random bytes as base64url (43 characters); generate one with \
                    `head -c 32 /dev/urandom | basenc --base64url`";

/// The longest key file we read: a key is 44 bytes with its newline; anything much longer is
/// not a key file and is not worth reading into memory.
const MAX_FILE_LEN: u64 = 1024;

/// Base64url, padding optional: operators paste keys produced by different tools.
const B64URL_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// grantd's master key. Wiped from memory on drop; `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; MasterKey::LEN]>,
}

impl MasterKey {
    /// Length of the key in bytes.
    pub const LEN: usize = 32;

    /// A fresh random key.
    pub fn generate() -> MasterKey {
        MasterKey {
            bytes: Zeroizing::new(random::bytes()),
        }
    }

    /// The key as unpadded base64url, for an operator to store (e.g. in a secret manager).
    pub fn to_base64url(&self) -> String {
        random::b64url(self.bytes.as_slice())
    }

    /// Parses a key given as base64url (with or without `=` padding; surrounding whitespace is
    /// ignored). Errors name `GRANTD_MASTER_KEY`, where the binary reads the string from.
    pub fn from_base64url(s: &str) -> Result<MasterKey, KeyError> {
        Self::parse(s, ENV_ORIGIN)
    }

    fn parse(s: &str, origin: &str) -> Result<MasterKey, KeyError> {
        let err = |reason: String| KeyError::MasterKey {
            origin: origin.to_owned(),
            reason,
        };
        let s = s.trim();
        if s.is_empty() {
            return Err(err(format!("is empty; {HINT}")));
        }
        // The decoder's own error names the offending character and offset, which would leak
        // part of the key into logs: it is replaced by a fixed message.
        let decoded = Zeroizing::new(
            B64URL_ANY_PADDING
                .decode(s)
                .map_err(|_| err(format!("is not valid base64url; {HINT}")))?,
        );
        let bytes: [u8; MasterKey::LEN] = decoded.as_slice().try_into().map_err(|_| {
            err(format!(
                "decodes to {} bytes instead of {}; {HINT}",
                decoded.len(),
                MasterKey::LEN
            ))
        })?;
        Ok(MasterKey {
            bytes: Zeroizing::new(bytes),
        })
    }

    /// Reads the key from a file. The file must not be accessible by group or others.
    pub fn load_file(path: &Path) -> Result<MasterKey, KeyError> {
        let origin = file_origin(path);
        let err = |reason: String| KeyError::MasterKey {
            origin: origin.clone(),
            reason,
        };
        let file = File::open(path).map_err(|e| err(io_reason(&e)))?;
        // Checked on the open descriptor, not the path, so the file checked is the file read.
        let meta = file.metadata().map_err(|e| err(io_reason(&e)))?;
        if !meta.is_file() {
            return Err(err("is not a regular file".to_owned()));
        }
        check_private(&meta, path).map_err(err)?;
        let mut text = Zeroizing::new(String::new());
        file.take(MAX_FILE_LEN + 1)
            .read_to_string(&mut text)
            .map_err(|_| err(format!("is not valid base64url text; {HINT}")))?;
        if text.len() as u64 > MAX_FILE_LEN {
            return Err(err(format!("is too long to be a key file; {HINT}")));
        }
        Self::parse(&text, &origin)
    }

    /// Reads the key from `path`, or creates that file (mode 0600) with a new random key if it
    /// does not exist. Returns the key and whether it was created.
    ///
    /// Creation is race-free: the key is written to a private temporary file next to `path` and
    /// hard-linked into place, so a concurrent process either wins or reads the winner's
    /// complete file, and no reader ever sees a half-written key.
    pub fn load_or_create_file(path: &Path) -> Result<(MasterKey, bool), KeyError> {
        let origin = file_origin(path);
        let err = |reason: String| KeyError::MasterKey {
            origin: origin.clone(),
            reason,
        };
        match fs::symlink_metadata(path) {
            Ok(_) => return Self::load_file(path).map(|k| (k, false)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(io_reason(&e))),
        }

        let key = MasterKey::generate();
        let mut contents = Zeroizing::new(key.to_base64url());
        contents.push('\n');

        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "grantd.key".to_owned());
        let tmp = dir.join(format!(
            ".{name}.{}.tmp",
            random::b64url(&random::bytes::<9>())
        ));
        write_new_private(&tmp, contents.as_bytes()).map_err(|e| {
            err(format!(
                "cannot be created (writing {}: {})",
                tmp.display(),
                io_reason(&e)
            ))
        })?;
        let linked = fs::hard_link(&tmp, path);
        // The temporary name is gone either way; a leftover would only be clutter.
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Another process created it between our check and our link: use theirs.
                return Self::load_file(path).map(|k| (k, false));
            }
            Err(_) => {
                // Filesystems without hard links: create the file in place instead. create_new
                // still refuses to clobber a key another process wrote meanwhile.
                match write_new_private(path, contents.as_bytes()) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        return Self::load_file(path).map(|k| (k, false));
                    }
                    Err(e) => return Err(err(format!("cannot be created: {}", io_reason(&e)))),
                }
            }
        }
        // Make the new directory entry durable: losing the key loses every signing key.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok((key, true))
    }

    /// A 256-bit subkey for one purpose: HMAC-SHA-256(master key, label). The master key is
    /// uniformly random, so this is a PRF output (HKDF-Expand with a one-block output), and
    /// different labels give independent keys.
    pub(crate) fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        use aws_lc_rs::hmac;
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.bytes.as_slice());
        let tag = hmac::sign(&key, label.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(tag.as_ref());
        out
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

fn file_origin(path: &Path) -> String {
    format!("file {}", path.display())
}

/// The io error's kind in words, without the path (the origin already names it).
fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "does not exist".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// Creates `path` (never overwriting) readable and writable by the owner only, from the very
/// first moment: the mode is given to `open(2)`, not set afterwards.
fn write_new_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    let written = file.write_all(contents).and_then(|()| file.sync_all());
    if written.is_err() {
        // A half-written key file would be refused (or worse, accepted) on the next start.
        let _ = fs::remove_file(path);
    }
    written
}

#[cfg(unix)]
fn check_private(meta: &fs::Metadata, path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "has mode {mode:04o}, so group or others can access it; restrict it with \
             `chmod 600 {}`",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_meta: &fs::Metadata, _path: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    #[test]
    fn parses_base64url_with_and_without_padding() {
        let plain = MasterKey::from_base64url(KEY_B64).unwrap();
        let padded = MasterKey::from_base64url(&format!("{KEY_B64}=")).unwrap();
        let spaced = MasterKey::from_base64url(&format!("  {KEY_B64}\n")).unwrap();
        let expected: Vec<u8> = (0u8..32).collect();
        for k in [&plain, &padded, &spaced] {
            assert_eq!(k.bytes.as_slice(), expected.as_slice());
        }
        assert_eq!(plain.to_base64url(), KEY_B64);
    }

    #[test]
    fn malformed_keys_are_rejected_without_echoing_them() {
        let too_short = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";
        let too_long = format!("{KEY_B64}AAAA");
        let std_alphabet = "+/ECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        for bad in [
            "",
            "   ",
            too_short,
            &too_long,
            std_alphabet,
            "not base64 at all!",
        ] {
            let e = MasterKey::from_base64url(bad).unwrap_err().to_string();
            assert!(e.starts_with("master key from GRANTD_MASTER_KEY: "), "{e}");
            if !bad.trim().is_empty() {
                assert!(!e.contains(bad), "error echoes the key: {e}");
            }
        }
        let e = MasterKey::from_base64url(too_short)
            .unwrap_err()
            .to_string();
        assert!(e.contains("decodes to 30 bytes instead of 32"), "{e}");
    }

    #[test]
    fn debug_is_redacted() {
        let k = MasterKey::from_base64url(KEY_B64).unwrap();
        let d = format!("{k:?}");
        assert_eq!(d, "MasterKey(<redacted>)");
        assert!(!d.contains(KEY_B64));
    }

    #[test]
    fn derived_keys_depend_on_label_and_master() {
        let a = MasterKey::from_base64url(KEY_B64).unwrap();
        let b = MasterKey::generate();
        assert_ne!(*a.derive("x"), *a.derive("y"));
        assert_ne!(*a.derive("x"), *b.derive("x"));
        assert_eq!(*a.derive("x"), *a.clone().derive("x"));
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_private_and_then_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = TempDir::new();
        let path = dir.path().join("grantd.key");
        let (created, was_created) = MasterKey::load_or_create_file(&path).unwrap();
        assert!(was_created);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim_end().len(), 43);

        let (again, was_created) = MasterKey::load_or_create_file(&path).unwrap();
        assert!(!was_created);
        assert_eq!(*again.bytes, *created.bytes);
        assert_eq!(*MasterKey::load_file(&path).unwrap().bytes, *created.bytes);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn readable_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = TempDir::new();
        let path = dir.path().join("grantd.key");
        MasterKey::load_or_create_file(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            for result in [
                MasterKey::load_file(&path).map(|_| ()),
                MasterKey::load_or_create_file(&path).map(|_| ()),
            ] {
                let e = result.unwrap_err().to_string();
                assert!(e.contains(&format!("has mode {mode:04o}")), "{e}");
                assert!(e.contains("chmod 600"), "{e}");
                assert!(e.contains(&path.display().to_string()), "{e}");
                assert!(!e.contains(text.trim()), "error echoes the key: {e}");
            }
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(MasterKey::load_file(&path).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn bad_key_files_name_the_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = TempDir::new();
        let missing = dir.path().join("missing.key");
        let e = MasterKey::load_file(&missing).unwrap_err().to_string();
        assert!(
            e.contains("missing.key") && e.contains("does not exist"),
            "{e}"
        );

        let short = dir.path().join("short.key");
        fs::write(&short, "AAAA\n").unwrap();
        fs::set_permissions(&short, fs::Permissions::from_mode(0o600)).unwrap();
        let e = MasterKey::load_file(&short).unwrap_err().to_string();
        assert!(
            e.contains("short.key") && e.contains("3 bytes instead of 32"),
            "{e}"
        );
    }
}
