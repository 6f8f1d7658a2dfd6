//! Third-party programs the interop tests run against grantd, installed on first use under the
//! target folder at pinned versions (bump them deliberately): npm packages beside a client
//! script, or PyPI packages in a virtualenv. Each install panics, naming what is missing, when
//! node/npm or Python/pip cannot provide the packages: such a test fails, it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One install at a time: the tests of a file run on parallel threads and share the folders.
static INSTALL: Mutex<()> = Mutex::new(());

/// `TARGET_TMPDIR/PREFIX-V1-V2…`: a folder per set of pinned versions.
fn folder(prefix: &str, packages: &[(&str, &str)]) -> PathBuf {
    let mut name = prefix.to_owned();
    for (_, version) in packages {
        name.push('-');
        name.push_str(version);
    }
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn specs(packages: &[(&str, &str)], sep: &str) -> Vec<String> {
    packages
        .iter()
        .map(|(p, v)| format!("{p}{sep}{v}"))
        .collect()
}

/// Copies `script` (a path under the repository's tests/ folder) into `dir`.
fn copy_script(script: &str, dir: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests")
        .join(script);
    let name = from.file_name().expect("a script file name");
    let to = dir.join(name);
    std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    to
}

/// A folder with `packages` (name, exact version) installed from npm and `script` (a path
/// under tests/) copied in, so that `node SCRIPT` run there imports them.
pub fn npm_client(prefix: &str, packages: &[(&str, &str)], script: &str) -> PathBuf {
    let _installing = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let root = folder(prefix, packages);
    std::fs::create_dir_all(&root).expect("interop dir");
    let installed = |(name, version): &(&str, &str)| {
        std::fs::read_to_string(root.join(format!("node_modules/{name}/package.json")))
            .ok()
            .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
            .is_some_and(|p| p["version"] == *version)
    };
    if !packages.iter().all(installed) {
        let status = Command::new("npm")
            .current_dir(&root)
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .args(specs(packages, "@"))
            .status()
            .unwrap_or_else(|e| panic!("cannot run npm (node and npm are required): {e}"));
        assert!(
            status.success() && packages.iter().all(installed),
            "could not install {} from npm",
            specs(packages, "@").join(" ")
        );
    }
    copy_script(script, &root);
    root
}

/// Python with pinned PyPI packages: in a virtualenv, or, where Python has no `venv` module
/// (Debian without `python3-venv`), installed with `pip install --target` and `PYTHONPATH`.
pub struct PythonEnv {
    root: PathBuf,
    venv: bool,
}

impl PythonEnv {
    /// The folder's `bin/NAME` (`python`, or a console script a package installed), able to
    /// import the packages.
    pub fn bin(&self, name: &str) -> Command {
        if self.venv {
            return Command::new(self.root.join("venv/bin").join(name));
        }
        let site = self.root.join("site");
        let mut c = Command::new(if name == "python" {
            python()
        } else {
            site.join("bin").join(name).display().to_string()
        });
        c.env("PYTHONPATH", &site);
        c
    }

    /// `python SCRIPT`, for a script under tests/ (copied beside the packages).
    pub fn script(&self, script: &str) -> Command {
        let path = copy_script(script, &self.root);
        let mut c = self.bin("python");
        c.arg(path);
        c
    }

    /// Whether every package is importable at its pinned version.
    fn has(&self, packages: &[(&str, &str)]) -> bool {
        const CHECK: &str = "import sys, importlib.metadata as m; a = sys.argv[1:]; \
                             sys.exit(any(m.version(p) != v for p, v in zip(a[::2], a[1::2])))";
        let mut c = self.bin("python");
        c.args(["-c", CHECK]);
        c.args(packages.iter().flat_map(|(p, v)| [*p, *v]));
        c.output().is_ok_and(|o| o.status.success())
    }
}

/// `$PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Python with `packages` (name, exact version) installed from PyPI on first use.
pub fn pip_packages(prefix: &str, packages: &[(&str, &str)]) -> PythonEnv {
    let _installing = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let root = folder(prefix, packages);
    for venv in [true, false] {
        let env = PythonEnv {
            root: root.clone(),
            venv,
        };
        if env.has(packages) {
            return env;
        }
    }
    let python = python();
    let pip = [
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ];
    let made = Command::new(&python)
        .args(["-m", "venv", "--clear"])
        .arg(root.join("venv"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let env = PythonEnv {
        root: root.clone(),
        venv: made.success(),
    };
    let mut install = if env.venv {
        env.bin("python")
    } else {
        eprintln!("{python} has no usable venv module; installing with pip --target");
        Command::new(&python)
    };
    install.args(pip);
    if !env.venv {
        install.arg("--target").arg(root.join("site"));
    }
    let ok = install.args(specs(packages, "==")).status();
    assert!(
        ok.is_ok_and(|s| s.success()) && env.has(packages),
        "could not install {} from PyPI with {python} (see pip's output above)",
        specs(packages, "==").join(" ")
    );
    env
}
