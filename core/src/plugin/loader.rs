//! Finding, checking and opening plugin libraries.
//!
//! Opening a library runs its constructors, so a library is only opened after its file name
//! matched the plugin naming convention and its sha256 matched the pin where one is given.
//! Libraries are never closed: a Rust library that used thread-locals crashes at thread exit
//! once unloaded.

use perfuse_plugin_sdk::{ABI_MAJOR, ABI_MINOR, DESCRIPTOR_SYMBOL, MAGIC, PluginDescriptor};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// File-name prefix of every plugin library (`libperfuse_plugin_<id>.so` on Linux).
const FILE_PREFIX: &str = "perfuse_plugin_";

/// Why a plugin could not be used.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginError {
    NotFound {
        id: String,
        searched: Vec<PathBuf>,
    },
    Io {
        path: PathBuf,
        message: String,
    },
    PinMismatch {
        path: PathBuf,
        pinned: String,
        actual: String,
    },
    Open {
        path: PathBuf,
        message: String,
    },
    BadDescriptor {
        path: PathBuf,
        message: String,
    },
    AbiMismatch {
        path: PathBuf,
        plugin: (u16, u16),
        host: (u16, u16),
    },
    WrongPlugin {
        path: PathBuf,
        expected: String,
        found: String,
    },
    VersionMismatch {
        id: String,
        required: String,
        found: String,
    },
    Rejected {
        id: String,
        message: String,
    },
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginError::NotFound { id, searched } => {
                write!(
                    f,
                    "plugin `{id}` not found; looked for {} in:",
                    library_file_name(id)
                )?;
                for dir in searched {
                    write!(f, " {}", dir.display())?;
                }
                write!(
                    f,
                    " (build it with `cargo build --release`, or pass --plugin-dir)"
                )
            }
            PluginError::Io { path, message } => {
                write!(f, "cannot read {}: {message}", path.display())
            }
            PluginError::PinMismatch {
                path,
                pinned,
                actual,
            } => write!(
                f,
                "refusing to load {}: its sha256 does not match the pin\n  pinned: {pinned}\n  actual: {actual}",
                path.display()
            ),
            PluginError::Open { path, message } => {
                write!(f, "cannot open {}: {message}", path.display())
            }
            PluginError::BadDescriptor { path, message } => {
                write!(f, "refusing {}: {message}", path.display())
            }
            PluginError::AbiMismatch { path, plugin, host } => write!(
                f,
                "refusing {}: plugin ABI {}.{} is incompatible with the host's ABI {}.{} (the major version must match, and the plugin's minor may not be newer)",
                path.display(),
                plugin.0,
                plugin.1,
                host.0,
                host.1
            ),
            PluginError::WrongPlugin {
                path,
                expected,
                found,
            } => write!(
                f,
                "refusing {}: it declares plugin id `{found}`, expected `{expected}`",
                path.display()
            ),
            PluginError::VersionMismatch {
                id,
                required,
                found,
            } => write!(
                f,
                "plugin `{id}` is version {found}, but the protocol requires {required}"
            ),
            PluginError::Rejected { id, message } => write!(f, "plugin `{id}`: {message}"),
        }
    }
}

impl std::error::Error for PluginError {}

/// The platform's file name for plugin `id`.
pub fn library_file_name(id: &str) -> String {
    let stem = format!("{FILE_PREFIX}{}", id.replace('-', "_"));
    format!(
        "{}{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The directories searched for plugins, in order: the given ones, `$PERFUSE_PLUGIN_DIR`, then
/// the directory of the running executable and its `deps/` (where cargo leaves the plugin
/// libraries it builds as dependencies of the command line).
pub fn search_dirs(extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = extra.to_vec();
    if let Some(env) = std::env::var_os("PERFUSE_PLUGIN_DIR") {
        dirs.extend(std::env::split_paths(&env));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        if dir.ends_with("deps") {
            // A test executable: cargo's build directory is one level up.
            dirs.push(dir.to_path_buf());
        } else {
            dirs.push(dir.to_path_buf());
            dirs.push(dir.join("deps"));
        }
    }
    dirs
}

/// Finds the library file of plugin `id`.
pub fn find(id: &str, dirs: &[PathBuf]) -> Result<PathBuf, PluginError> {
    let name = library_file_name(id);
    dirs.iter()
        .map(|d| d.join(&name))
        .find(|p| p.is_file())
        .ok_or_else(|| PluginError::NotFound {
            id: id.to_string(),
            searched: dirs.to_vec(),
        })
}

/// Every plugin library file in `dirs` (by name; nothing is opened).
pub fn discover(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let prefix = format!("{}{FILE_PREFIX}", std::env::consts::DLL_PREFIX);
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut here: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with(&prefix) && n.ends_with(std::env::consts::DLL_SUFFIX)
                })
            })
            .collect();
        here.sort();
        for p in here {
            let name = p.file_name().map(|n| n.to_owned());
            if !found
                .iter()
                .any(|q: &PathBuf| q.file_name().map(|n| n.to_owned()) == name)
            {
                found.push(p);
            }
        }
    }
    found
}

/// The sha256 of a file, in lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, PluginError> {
    let bytes = std::fs::read(path).map_err(|e| PluginError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// A library that passed every check before any of its functions was called.
#[derive(Clone)]
pub struct OpenedLibrary {
    pub path: PathBuf,
    pub sha256: String,
    pub id: String,
    pub version: String,
    pub abi: (u16, u16),
    pub descriptor: &'static PluginDescriptor,
}

/// The fields every ABI version starts with, read before anything else.
#[repr(C)]
struct DescriptorHead {
    magic: u32,
    abi_major: u16,
    abi_minor: u16,
}

/// Size of the descriptor as ABI 1.0 defined it (every field before 1.2's `save`): every 1.x
/// descriptor is at least this large.
const V1_0_DESCRIPTOR_SIZE: usize = std::mem::offset_of!(PluginDescriptor, save);

/// Checks the pin, opens the library, reads and checks its descriptor.
pub fn open(path: &Path, pin: Option<&str>) -> Result<OpenedLibrary, PluginError> {
    let sha256 = sha256_file(path)?;
    if let Some(pin) = pin
        && !pin.eq_ignore_ascii_case(&sha256)
    {
        return Err(PluginError::PinMismatch {
            path: path.to_path_buf(),
            pinned: pin.to_ascii_lowercase(),
            actual: sha256,
        });
    }
    // SAFETY: loading runs the library's initialisers; we only get here for files named as
    // perfuse plugins whose hash matched the pin when one was given.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| PluginError::Open {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    // Never unloaded (see the module docs), so the descriptor and its strings live for the process.
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    let bad = |message: String| PluginError::BadDescriptor {
        path: path.to_path_buf(),
        message,
    };
    // SAFETY: the symbol's type is fixed by the ABI; a library that exports it with another
    // signature is not a perfuse plugin, and the magic below is the first line of defence.
    let get: libloading::Symbol<'static, extern "C" fn() -> *const PluginDescriptor> =
        unsafe { lib.get(DESCRIPTOR_SYMBOL) }
            .map_err(|e| bad(format!("no plugin descriptor symbol ({e})")))?;
    let ptr = get();
    if ptr.is_null() {
        return Err(bad("the descriptor function returned null".into()));
    }
    // SAFETY: non-null and produced by the library for the life of the process. Magic and major
    // are read first: they sit at the same offsets in every ABI version.
    let head = unsafe { &*ptr.cast::<DescriptorHead>() };
    if head.magic != MAGIC {
        return Err(bad(format!(
            "bad magic {:#010x} (expected {MAGIC:#010x}): not a perfuse plugin",
            head.magic
        )));
    }
    let (major, minor) = (head.abi_major, head.abi_minor);
    if major != ABI_MAJOR || minor > ABI_MINOR {
        return Err(PluginError::AbiMismatch {
            path: path.to_path_buf(),
            plugin: (major, minor),
            host: (ABI_MAJOR, ABI_MINOR),
        });
    }
    // SAFETY: magic and major match, so the 1.x layout applies.
    let descriptor: &'static PluginDescriptor = unsafe { &*ptr };
    if (descriptor.size as usize) < V1_0_DESCRIPTOR_SIZE {
        return Err(bad(format!(
            "descriptor is {} bytes, smaller than the {V1_0_DESCRIPTOR_SIZE} of ABI 1.0",
            descriptor.size
        )));
    }
    // SAFETY: the strings point at the library's static data, which is never unloaded.
    let id = unsafe { descriptor.id.as_str() }
        .ok_or_else(|| bad("its id is not UTF-8".into()))?
        .to_string();
    let version = unsafe { descriptor.version.as_str() }
        .ok_or_else(|| bad("its version is not UTF-8".into()))?
        .to_string();
    Ok(OpenedLibrary {
        path: path.to_path_buf(),
        sha256,
        id,
        version,
        abi: (major, minor),
        descriptor,
    })
}
