//! Temporary files and directories that must not outlive the process: a registry, and a
//! handler for SIGINT, SIGTERM and SIGHUP that removes what is registered before the process
//! exits. Replacing an output (two renames) runs under the registry's lock, so an interrupt
//! waits for it to finish: the user finds the old output or the new one, never a mix, and no
//! hidden directory. A process killed outright (SIGKILL) leaves its temporary files behind;
//! the next run removes them (see [`crate::output`]).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once};

/// Paths to remove if the process is interrupted.
static REGISTRY: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Vec<PathBuf>> {
    // A panic while holding the lock leaves the list as it was: still usable.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes `path` (a file or a directory tree) if the process is interrupted.
pub fn register(path: &Path) {
    registry().push(path.to_path_buf());
}

/// No longer removes `path` on an interrupt.
pub fn unregister(path: &Path) {
    registry().retain(|p| p != path);
}

/// Runs `f` with interrupts held off: a signal that arrives meanwhile is handled after it.
/// `f` gets the registry to register and unregister paths (the lock is held).
pub fn uninterrupted<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut guard = registry();
    f(&mut Registry(&mut guard))
}

/// The registry, while [`uninterrupted`] holds it.
pub struct Registry<'a>(&'a mut Vec<PathBuf>);

impl Registry<'_> {
    /// Removes `path` if the process is interrupted.
    pub fn register(&mut self, path: &Path) {
        self.0.push(path.to_path_buf());
    }

    /// No longer removes `path` on an interrupt.
    pub fn unregister(&mut self, path: &Path) {
        self.0.retain(|p| p != path);
    }
}

/// Removes a registered path (a temporary that was not put in place) and unregisters it.
pub fn discard(path: &Path) {
    remove(path);
    unregister(path);
}

/// Removes a file or directory tree, ignoring what is already gone.
pub fn remove(path: &Path) {
    let _ = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
}

/// Installs the signal handler (once per process): on SIGINT, SIGTERM or SIGHUP it removes
/// every registered path and exits with 128 + the signal number.
pub fn install_signal_handler() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                // The lock is held until the process ends: a replacement in progress has
                // finished, and none starts.
                let paths = registry();
                for p in paths.iter() {
                    remove(p);
                }
                eprintln!("interrupted: temporary files removed, earlier outputs kept");
                std::process::exit(128 + signal);
            }
        });
    });
}
