//! Finding, checking and opening plugin libraries.
//!
//! Opening a library runs its constructors, so nothing is opened before it is verified. A file
//! is read once (a regular file, bounded in size) and everything is checked on those bytes: its
//! sha256, its trust (the protocol's pin, or the release directory beside perfuse, or the
//! user's `--allow-untrusted`), its metadata record (the ELF section the SDK's export macro
//! writes: ABI and declared parameters) and the protocol's parameters against it. Only then are
//! the same bytes handed to the dynamic loader, from a sealed memory file: nothing that happens
//! to the file on disk after it was read can change what runs. Search paths are absolute.
//! Libraries are never closed: a Rust library that used thread-locals crashes at thread exit
//! once unloaded.

use crate::config::input_file;
use perfuse_plugin_sdk::metadata::{self, Metadata, ParamError};
use perfuse_plugin_sdk::{
    ABI_MAJOR, ABI_MINOR, DESCRIPTOR_SIZE_1_0, DESCRIPTOR_SYMBOL, MAGIC, PluginDescriptor,
};
use std::fmt;
use std::path::{Path, PathBuf};

/// Largest plugin library read: 64 MiB (the shipped ones, with line tables, are about 4.5 MiB).
pub const MAX_LIBRARY_BYTES: u64 = 64 << 20;

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
    /// Neither pinned nor in a release directory, and not allowed by the user.
    Untrusted {
        path: PathBuf,
        sha256: String,
    },
    /// The protocol's `plugin_params` do not fit the parameters the library declares.
    Params {
        id: String,
        error: ParamError,
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
            PluginError::Untrusted { path, sha256 } => write!(
                f,
                "refusing to load {}: it is neither pinned by the protocol nor shipped beside perfuse (sha256 {sha256}); pin it with `sha256: Some(\"{sha256}\")` in the protocol's `plugin`, or run with --allow-untrusted",
                path.display()
            ),
            PluginError::Params { id, error } => {
                write!(f, "plugin `{id}` refuses it: {}", error.message)
            }
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

impl PluginError {
    /// The protocol field the error is about, for its location in the file.
    pub fn field(&self) -> String {
        match self {
            PluginError::Params { error, .. } => format!("plugin_params[\"{}\"]", error.name),
            _ => "plugin".into(),
        }
    }
}

/// The platform's file name for plugin `id`.
pub fn library_file_name(id: &str) -> String {
    let stem = format!("{FILE_PREFIX}{}", id.replace('-', "_"));
    format!(
        "{}{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The directories searched for plugins, in order: the given ones, `$PERFUSE_PLUGIN_DIR`
/// (empty entries ignored), then the release directories ([`release_dirs`]). Relative entries
/// are made absolute against the working directory.
pub fn search_dirs(extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut given: Vec<PathBuf> = extra.to_vec();
    if let Some(env) = std::env::var_os("PERFUSE_PLUGIN_DIR") {
        given.extend(std::env::split_paths(&env));
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut dirs: Vec<PathBuf> = given
        .into_iter()
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| std::path::absolute(cwd.join(d)).unwrap_or_else(|_| cwd.clone()))
        .collect();
    dirs.extend(release_dirs());
    dirs
}

/// Where the release keeps its plugins: cargo's `deps/` beside the running executable (where
/// cargo builds the plugin libraries as dependencies of the command line, always fresh), then
/// the executable's own directory (where a release puts them; cargo's copies there are only
/// refreshed when a plugin package is built directly). For a test executable, which lives in
/// `deps/`, that directory alone. Whoever can write there can replace perfuse itself, so a
/// library found there is trusted.
pub fn release_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        if dir.ends_with("deps") {
            dirs.push(dir);
        } else {
            dirs.push(dir.join("deps"));
            dirs.push(dir);
        }
    }
    dirs
}

/// Where plugins are looked for, and which may be loaded.
#[derive(Debug, Clone, Default)]
pub struct SearchPolicy {
    /// Absolute directories, searched in order.
    pub dirs: Vec<PathBuf>,
    /// Load a library that is neither pinned nor in a release directory (`--allow-untrusted`).
    pub allow_untrusted: bool,
}

impl SearchPolicy {
    /// The standard search path with `extra` directories first.
    pub fn new(extra: &[PathBuf], allow_untrusted: bool) -> Self {
        SearchPolicy {
            dirs: search_dirs(extra),
            allow_untrusted,
        }
    }
}

/// Finds the library file of plugin `id`.
pub fn find(id: &str, dirs: &[PathBuf]) -> Result<PathBuf, PluginError> {
    let name = library_file_name(id);
    dirs.iter()
        .map(|d| d.join(&name))
        // Whatever has the name, so that a FIFO or a directory is reported, not passed over.
        .find(|p| p.exists())
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

/// Why a library was trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Its sha256 matched the protocol's pin.
    Pinned,
    /// It lies in a release directory beside perfuse.
    Release,
    /// Neither, and the user allowed it (`--allow-untrusted`).
    Allowed,
}

impl Trust {
    pub fn as_str(self) -> &'static str {
        match self {
            Trust::Pinned => "pinned",
            Trust::Release => "release",
            Trust::Allowed => "untrusted (allowed)",
        }
    }
}

/// A library file read once and never executed: its bytes and their sha256.
pub struct Inspected {
    pub path: PathBuf,
    pub sha256: String,
    bytes: Vec<u8>,
}

impl Inspected {
    /// The library's metadata record; `Ok(None)` when it has none (built with an SDK from
    /// before the record), an error when the file is no ELF library or the record is damaged.
    pub fn metadata(&self) -> Result<Option<Metadata<'_>>, String> {
        elf_section(&self.bytes, metadata::SECTION)?
            .map(metadata::parse)
            .transpose()
    }

    /// Whether the file lies in one of the release directories.
    pub fn in_release_dir(&self) -> bool {
        let dir = self.path.parent().and_then(|d| d.canonicalize().ok());
        dir.is_some_and(|dir| {
            release_dirs()
                .iter()
                .filter_map(|d| d.canonicalize().ok())
                .any(|d| d == dir)
        })
    }
}

/// Reads `path` once (a regular file of at most [`MAX_LIBRARY_BYTES`]) and hashes it. Nothing
/// of it runs.
pub fn inspect(path: &Path) -> Result<Inspected, PluginError> {
    let bytes =
        input_file::read_regular(path, MAX_LIBRARY_BYTES).map_err(|found| PluginError::Io {
            path: path.to_path_buf(),
            message: format!(
                "expected a plugin library (a regular file of at most {} MiB), found {found}",
                MAX_LIBRARY_BYTES >> 20
            ),
        })?;
    Ok(Inspected {
        path: path.to_path_buf(),
        sha256: crate::config::sha256_hex(&bytes),
        bytes,
    })
}

/// The contents of section `name` of a 64-bit little-endian ELF file; `None` when it has no
/// such section. Every offset is bounds-checked: a damaged file is an error, never a panic.
fn elf_section<'a>(bytes: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, String> {
    let truncated = || "a truncated or damaged ELF file".to_string();
    let at = |off: usize, len: usize| -> Result<&'a [u8], String> {
        off.checked_add(len)
            .and_then(|end| bytes.get(off..end))
            .ok_or_else(truncated)
    };
    let num = |off: usize, len: usize| -> Result<usize, String> {
        let mut b = [0u8; 8];
        b[..len].copy_from_slice(at(off, len)?);
        usize::try_from(u64::from_le_bytes(b)).map_err(|_| truncated())
    };
    if bytes.get(..6) != Some(b"\x7fELF\x02\x01") {
        return Err("not a 64-bit little-endian ELF library".into());
    }
    // ELF64 header: e_shoff at 0x28, e_shentsize at 0x3a, e_shnum at 0x3c, e_shstrndx at 0x3e.
    let (shoff, shentsize, shnum, shstrndx) =
        (num(0x28, 8)?, num(0x3a, 2)?, num(0x3c, 2)?, num(0x3e, 2)?);
    if shentsize < 0x40 {
        return Err(truncated());
    }
    // Section header i: sh_name at 0, sh_offset at 0x18, sh_size at 0x20.
    let header = |i: usize| {
        i.checked_mul(shentsize)
            .and_then(|o| o.checked_add(shoff))
            .ok_or_else(truncated)
    };
    let field = |h: usize, off: usize| h.checked_add(off).ok_or_else(truncated);
    let contents = |h: usize| -> Result<&'a [u8], String> {
        at(num(field(h, 0x18)?, 8)?, num(field(h, 0x20)?, 8)?)
    };
    let names = contents(header(shstrndx)?)?;
    for i in 0..shnum {
        let h = header(i)?;
        let n = num(h, 4)?;
        let section_name = names.get(n..).and_then(|s| s.split(|&b| b == 0).next());
        if section_name == Some(name.as_bytes()) {
            return contents(h).map(Some);
        }
    }
    Ok(None)
}

/// Refuses an ABI the host cannot run: another major, or a newer minor.
pub fn check_abi(path: &Path, (major, minor): (u16, u16)) -> Result<(), PluginError> {
    if major != ABI_MAJOR || minor > ABI_MINOR {
        return Err(PluginError::AbiMismatch {
            path: path.to_path_buf(),
            plugin: (major, minor),
            host: (ABI_MAJOR, ABI_MINOR),
        });
    }
    Ok(())
}

/// Whether the library may be loaded, decided before anything of it runs.
fn trust(lib: &Inspected, pin: Option<&str>, allow_untrusted: bool) -> Result<Trust, PluginError> {
    if let Some(pin) = pin {
        return if pin.eq_ignore_ascii_case(&lib.sha256) {
            Ok(Trust::Pinned)
        } else {
            Err(PluginError::PinMismatch {
                path: lib.path.clone(),
                pinned: pin.to_ascii_lowercase(),
                actual: lib.sha256.clone(),
            })
        };
    }
    match (lib.in_release_dir(), allow_untrusted) {
        (true, _) => Ok(Trust::Release),
        (false, true) => Ok(Trust::Allowed),
        (false, false) => Err(PluginError::Untrusted {
            path: lib.path.clone(),
            sha256: lib.sha256.clone(),
        }),
    }
}

/// A library that passed every check before any of its functions was called.
#[derive(Clone)]
pub struct OpenedLibrary {
    pub path: PathBuf,
    pub sha256: String,
    pub trust: Trust,
    pub id: String,
    pub version: String,
    pub abi: (u16, u16),
    /// The host's copy of the library's descriptor; fields beyond the library's own descriptor
    /// (an older ABI minor) are `None`.
    pub descriptor: PluginDescriptor,
}

/// The fields every ABI version starts with, read before anything else.
#[repr(C)]
struct DescriptorHead {
    magic: u32,
    abi_major: u16,
    abi_minor: u16,
    size: u32,
}

/// What was read about the library before it was opened, and what it must then agree with.
struct Verified {
    trust: Trust,
    /// Id, version and ABI from the metadata record, when the library has one.
    declared: Option<(String, String, (u16, u16))>,
}

/// Reads, verifies and only then loads the library at `path`: trust (`pin`, release directory
/// or `policy.allow_untrusted`), its metadata record (ABI) and `params` against the parameters
/// it declares; then its descriptor, which must agree with the record.
pub fn open(
    path: &Path,
    pin: Option<&str>,
    params: &[(String, f64)],
    policy: &SearchPolicy,
) -> Result<OpenedLibrary, PluginError> {
    open_inspected(inspect(path)?, pin, params, policy)
}

/// [`open`] for bytes already read: what is verified and loaded is `inspected`'s bytes, whatever
/// has become of the file since.
pub fn open_inspected(
    inspected: Inspected,
    pin: Option<&str>,
    params: &[(String, f64)],
    policy: &SearchPolicy,
) -> Result<OpenedLibrary, PluginError> {
    let path = &inspected.path.clone();
    let bad = |message: String| PluginError::BadDescriptor {
        path: path.to_path_buf(),
        message,
    };
    let trust = trust(&inspected, pin, policy.allow_untrusted)?;
    let declared = match inspected.metadata().map_err(bad)? {
        Some(m) => {
            check_abi(path, m.abi)?;
            if !m.params.is_empty() {
                let given = params.iter().map(|(k, v)| (k.as_str(), *v));
                metadata::check(&m.params, given).map_err(|error| PluginError::Params {
                    id: m.id.to_string(),
                    error,
                })?;
            }
            Some((m.id.to_string(), m.version.to_string(), m.abi))
        }
        None => None,
    };
    let verified = Verified { trust, declared };
    let lib = memfd::load(inspected).map_err(|message| PluginError::Open {
        path: path.to_path_buf(),
        message,
    })?;
    read_descriptor(path, lib, verified)
}

/// Reads and checks the descriptor of a loaded library.
fn read_descriptor(
    path: &Path,
    lib: Loaded,
    verified: Verified,
) -> Result<OpenedLibrary, PluginError> {
    let bad = |message: String| PluginError::BadDescriptor {
        path: path.to_path_buf(),
        message,
    };
    // SAFETY: the symbol's type is fixed by the ABI; a library that exports it with another
    // signature is not a perfuse plugin, and the magic below is the first line of defence.
    let get: libloading::Symbol<'static, unsafe extern "C" fn() -> *const PluginDescriptor> =
        unsafe { lib.library.get(DESCRIPTOR_SYMBOL) }
            .map_err(|e| bad(format!("no plugin descriptor symbol ({e})")))?;
    // SAFETY: the ABI's descriptor function takes nothing and returns a pointer to static data.
    let ptr = unsafe { get() };
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
    let abi = (head.abi_major, head.abi_minor);
    check_abi(path, abi)?;
    let size = head.size as usize;
    if size < DESCRIPTOR_SIZE_1_0 {
        return Err(bad(format!(
            "descriptor is {size} bytes, smaller than the {DESCRIPTOR_SIZE_1_0} of ABI 1.0"
        )));
    }
    // An older minor's descriptor is shorter than this one: copy only the bytes it has, into a
    // zeroed descriptor whose later fields (all `Option`s of functions) then read `None`.
    let mut copy = std::mem::MaybeUninit::<PluginDescriptor>::zeroed();
    // SAFETY: magic and major match, so the 1.x layout applies to the first `size` bytes the
    // library provides; at most a whole descriptor is copied into the host's own.
    unsafe {
        std::ptr::copy_nonoverlapping(
            ptr.cast::<u8>(),
            copy.as_mut_ptr().cast::<u8>(),
            size.min(std::mem::size_of::<PluginDescriptor>()),
        );
    }
    // SAFETY: the 1.0 fields (non-null function pointers among them) came from the library; every
    // field after them is an `Option` of a function, for which zero is `None`.
    let descriptor = unsafe { copy.assume_init() };
    // SAFETY: the strings point at the library's static data, which is never unloaded.
    let id = unsafe { descriptor.id.as_str() }
        .ok_or_else(|| bad("its id is not UTF-8".into()))?
        .to_string();
    let version = unsafe { descriptor.version.as_str() }
        .ok_or_else(|| bad("its version is not UTF-8".into()))?
        .to_string();
    if let Some((m_id, m_version, m_abi)) = verified.declared
        && (m_id != id || m_version != version || m_abi != abi)
    {
        return Err(bad(format!(
            "its descriptor ({id} {version}, ABI {}.{}) differs from its metadata record ({m_id} {m_version}, ABI {}.{})",
            abi.0, abi.1, m_abi.0, m_abi.1
        )));
    }
    Ok(OpenedLibrary {
        path: path.to_path_buf(),
        sha256: lib.sha256,
        trust: verified.trust,
        id,
        version,
        abi,
        descriptor,
    })
}

/// File-name prefix of every simulator model library (`libperfuse_model_<id>.so` on Linux).
const MODEL_FILE_PREFIX: &str = "perfuse_model_";

/// The platform's file name for simulator model library `id`.
pub fn model_library_file_name(id: &str) -> String {
    let stem = format!("{MODEL_FILE_PREFIX}{}", id.replace('-', "_"));
    format!(
        "{}{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// A simulator model library that passed the trust check and was loaded, and the pointer its
/// descriptor function returned.
pub struct ModelLibrary {
    pub path: PathBuf,
    pub sha256: String,
    pub trust: Trust,
    /// What the library's `symbol` function returned (its descriptor; the caller checks it).
    pub descriptor: *const std::ffi::c_void,
}

/// Finds simulator model library `id` in `policy`'s directories and loads it under the same
/// trust rules as a protocol plugin (`pin`, the release directory, or
/// `policy.allow_untrusted`), from its verified bytes; then calls its descriptor function
/// `symbol` (`extern "C" fn() -> *const T`). Errors say which library and why.
pub fn open_model_library(
    id: &str,
    pin: Option<&str>,
    policy: &SearchPolicy,
    symbol: &[u8],
) -> Result<ModelLibrary, String> {
    let name = model_library_file_name(id);
    let path = policy
        .dirs
        .iter()
        .map(|d| d.join(&name))
        .find(|p| p.exists())
        .ok_or_else(|| {
            let dirs: Vec<String> = policy.dirs.iter().map(|d| d.display().to_string()).collect();
            format!(
                "model library `{id}` not found; looked for {name} in: {} (build it with `cargo build --release`, or pass --plugin-dir)",
                dirs.join(" ")
            )
        })?;
    let inspected = inspect(&path).map_err(|e| e.to_string())?;
    let trust = trust(&inspected, pin, policy.allow_untrusted).map_err(|e| match e {
        PluginError::Untrusted { path, sha256 } => format!(
            "refusing to load {}: it is neither pinned by the protocol nor shipped beside perfuse (sha256 {sha256}); pin it with `sha256: Some(\"{sha256}\")` in the protocol's `simulator.library`, or run with --allow-untrusted",
            path.display()
        ),
        other => other.to_string(),
    })?;
    let lib = memfd::load(inspected)
        .map_err(|message| format!("cannot open {}: {message}", path.display()))?;
    let symbol_name =
        String::from_utf8_lossy(symbol.strip_suffix(b"\0").unwrap_or(symbol)).into_owned();
    // SAFETY: the symbol's type is fixed by the model ABI; the caller checks the magic of what
    // it returns before reading anything else.
    let get: libloading::Symbol<'static, unsafe extern "C" fn() -> *const std::ffi::c_void> =
        unsafe { lib.library.get(symbol) }.map_err(|e| {
            format!(
                "refusing {}: no `{symbol_name}` symbol, not a perfuse model library ({e})",
                path.display()
            )
        })?;
    // SAFETY: the ABI's descriptor function takes nothing and returns a pointer to static data.
    let descriptor = unsafe { get() };
    Ok(ModelLibrary {
        path,
        sha256: lib.sha256,
        trust,
        descriptor,
    })
}

/// A library handed to the dynamic loader, with the sha256 of its bytes.
struct Loaded {
    library: &'static libloading::Library,
    sha256: String,
}

mod memfd {
    //! Loading verified bytes: they are copied into a memory file that is then sealed against
    //! every change, and the dynamic loader opens that file as `/proc/self/fd/N`.
    //!
    //! The loader knows a library by the name it was opened under and would return the same
    //! library for the same name: so every memory file stays open for the life of the process
    //! (its N is never reused), and a library already loaded is found again by its sha256.

    use super::{Inspected, Loaded};
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::sync::Mutex;

    /// Every library loaded in this process, by sha256, with the memory file it came from.
    static LOADED: Mutex<Vec<(String, &'static libloading::Library, OwnedFd)>> =
        Mutex::new(Vec::new());

    pub(super) fn load(inspected: Inspected) -> Result<Loaded, String> {
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((sha256, library, _)) = loaded.iter().find(|(s, ..)| *s == inspected.sha256) {
            return Ok(Loaded {
                library,
                sha256: sha256.clone(),
            });
        }
        let fd = sealed_copy(&inspected.bytes)
            .map_err(|e| format!("cannot copy it into a sealed memory file: {e}"))?;
        let name = format!("/proc/self/fd/{}", fd.as_raw_fd());
        // SAFETY: loading runs the library's initialisers; we only get here for bytes that were
        // trusted and whose metadata record matched, and the sealed file holds exactly them.
        let library = unsafe { libloading::Library::new(&name) }.map_err(|e| e.to_string())?;
        // Never unloaded (see the module docs), so the descriptor and its strings live for the
        // process.
        let library: &'static libloading::Library = Box::leak(Box::new(library));
        loaded.push((inspected.sha256.clone(), library, fd));
        Ok(Loaded {
            library,
            sha256: inspected.sha256,
        })
    }

    /// A memory file holding `bytes`, sealed against writing, growing and shrinking.
    fn sealed_copy(bytes: &[u8]) -> std::io::Result<OwnedFd> {
        let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
        // SAFETY: a NUL-terminated name and valid flags; the result is checked.
        let raw = unsafe { libc::memfd_create(c"perfuse-plugin".as_ptr(), flags) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes)?;
        let seals =
            libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
        // SAFETY: a valid descriptor and seal flags.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(file.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_elf_file_is_an_error_never_a_panic() {
        // This test's own executable is an ELF file with a `.text` section.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(elf_section(&exe, ".text").unwrap().is_some());
        assert_eq!(elf_section(&exe, ".no_such_section"), Ok(None));
        // Cut anywhere, or with its header fields overwritten, it never panics.
        for len in [
            0,
            5,
            6,
            0x27,
            0x40,
            0x41,
            4096,
            exe.len() / 2,
            exe.len() - 1,
        ] {
            let _ = elf_section(&exe[..len], ".text");
        }
        for at in (0x28..0x40).step_by(2) {
            let mut bad = exe.clone();
            bad[at..at + 2].copy_from_slice(&[0xff, 0xff]);
            let _ = elf_section(&bad, ".text");
        }
        assert!(elf_section(b"MZ not an ELF file", ".text").is_err());
    }
}
