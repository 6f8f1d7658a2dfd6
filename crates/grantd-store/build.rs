//! Build script: re-embeds the migrations when they change and fingerprints them, so test
//! template databases are rebuilt whenever the schema changes.

use std::fs;
use std::path::Path;

fn main() {
    for backend in ["postgres", "sqlite"] {
        let dir = Path::new("../../migrations").join(backend);
        // `embed_migrations!` does not notice new migration folders by itself.
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files = Vec::new();
        collect(&dir, &mut files);
        files.sort();
        // FNV-1a over every file's relative path and contents: stable across builds and
        // toolchains, unlike `std`'s `DefaultHasher`.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for path in &files {
            let rel = path.strip_prefix(&dir).unwrap_or(path);
            let name = rel.to_string_lossy().into_owned();
            let data = read(path);
            for chunk in [name.as_bytes(), &[0u8][..], &data[..], &[0u8][..]] {
                for byte in chunk {
                    hash ^= u64::from(*byte);
                    hash = hash.wrapping_mul(0x0100_0000_01b3);
                }
            }
        }
        println!(
            "cargo:rustc-env=GRANTD_{}_MIGRATIONS_HASH={hash:016x}",
            backend.to_ascii_uppercase()
        );
    }
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_default()
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}
