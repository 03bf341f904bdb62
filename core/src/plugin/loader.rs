//! Finding, checking and opening plugin libraries.
//!
//! Opening a library runs its constructors, so nothing is opened before it is verified. A file
//! is opened once: its bytes (bounded) are hashed and its metadata record read from them (the
//! ELF section the SDK's export macro writes), and only a library that is trusted (pinned by the
//! protocol, shipped in the release directory beside the binary, or explicitly allowed) and
//! whose record matches is handed to the dynamic loader, as `/proc/self/fd/N` of that same open
//! file, so the bytes hashed are the bytes loaded. Search paths are absolute. Libraries are
//! never closed: a Rust library that used thread-locals crashes at thread exit once unloaded.

use perfuse_plugin_sdk::metadata as meta;
use perfuse_plugin_sdk::{ABI_MAJOR, ABI_MINOR, DESCRIPTOR_SYMBOL, MAGIC, PluginDescriptor};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Largest plugin library read (the shipped ones are about 4 MiB).
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
    Untrusted {
        path: PathBuf,
        sha256: String,
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

/// The directories searched for plugins, in order: the given ones, `$PERFUSE_PLUGIN_DIR` (empty
/// entries ignored), then the release directories ([`release_dirs`]). Relative entries are made
/// absolute against the working directory, so the dynamic loader never searches its own paths.
pub fn search_dirs(extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = extra.to_vec();
    if let Some(env) = std::env::var_os("PERFUSE_PLUGIN_DIR") {
        dirs.extend(std::env::split_paths(&env));
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut dirs: Vec<PathBuf> = dirs
        .into_iter()
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| cwd.join(d))
        .collect();
    dirs.extend(release_dirs());
    dirs
}

/// Where the release keeps its plugins: cargo's `deps/` beside the running executable (where
/// cargo builds the plugin libraries as dependencies of the command line, always fresh) and the
/// executable's own directory (where a release puts them; cargo's copies there can be stale).
/// Whoever can write there can replace perfuse itself, so libraries found there are trusted.
pub fn release_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        if !dir.ends_with("deps") {
            dirs.push(dir.join("deps"));
        }
        // For a test executable this is cargo's `deps/` itself.
        dirs.push(dir);
    }
    dirs
}

/// Where plugins are looked for, and which may be loaded.
#[derive(Debug, Clone, Default)]
pub struct SearchPolicy {
    /// Absolute directories, searched in order.
    pub dirs: Vec<PathBuf>,
    /// Load a library that is neither pinned nor in a release directory (its hash is recorded).
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

/// One declared parameter, as read from the metadata record.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    pub name: String,
    pub unit: String,
    pub min: f64,
    pub max: f64,
    pub default: Option<f64>,
}

/// What a library says about itself in its metadata record, read without running it.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub abi: (u16, u16),
    pub id: String,
    pub version: String,
    pub params: Vec<ParamInfo>,
}

/// A library file read once and never executed: its hash and metadata.
pub struct Inspected {
    pub path: PathBuf,
    pub sha256: String,
    pub metadata: Result<Metadata, String>,
    file: std::fs::File,
}

fn io_error(path: &Path, e: impl fmt::Display) -> PluginError {
    PluginError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Opens `path` once, reads it (a regular file of at most [`MAX_LIBRARY_BYTES`]), hashes it and
/// reads its metadata record. Nothing of it runs.
pub fn inspect(path: &Path) -> Result<Inspected, PluginError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let info = file.metadata().map_err(|e| io_error(path, e))?;
    if !info.is_file() {
        return Err(io_error(path, "not a regular file"));
    }
    if info.len() > MAX_LIBRARY_BYTES {
        return Err(io_error(
            path,
            format!(
                "{} bytes, more than the {MAX_LIBRARY_BYTES} a plugin library may have",
                info.len()
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(info.len() as usize);
    (&file)
        .take(MAX_LIBRARY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    if bytes.len() as u64 > MAX_LIBRARY_BYTES {
        return Err(io_error(path, "it grew while being read"));
    }
    let sha256 = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Inspected {
        path: path.to_path_buf(),
        sha256,
        metadata: read_metadata(&bytes),
        file,
    })
}

/// The section `name` of a little-endian ELF64 file, bounds-checked throughout.
fn elf_section<'a>(bytes: &'a [u8], name: &str) -> Result<&'a [u8], String> {
    let at = |off: usize, len: usize| -> Result<&'a [u8], String> {
        off.checked_add(len)
            .and_then(|end| bytes.get(off..end))
            .ok_or_else(|| "truncated ELF file".to_string())
    };
    let u16_at = |off| at(off, 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |off| at(off, 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
    let u64_at = |off| at(off, 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize);
    if at(0, 6)? != b"\x7fELF\x02\x01" {
        return Err("not a 64-bit little-endian ELF library".into());
    }
    let (shoff, shentsize, shnum, shstrndx) =
        (u64_at(0x28)?, u16_at(0x3a)?, u16_at(0x3c)?, u16_at(0x3e)?);
    let header = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    let bad = || "bad ELF section table".to_string();
    let names = header(shstrndx).ok_or_else(bad)?;
    let names = at(u64_at(names + 0x18)?, u64_at(names + 0x20)?)?;
    for i in 0..shnum {
        let h = header(i).ok_or_else(bad)?;
        let n = u32_at(h)?;
        let section_name = names.get(n..).and_then(|s| s.split(|&b| b == 0).next());
        if section_name == Some(name.as_bytes()) {
            return at(u64_at(h + 0x18)?, u64_at(h + 0x20)?);
        }
    }
    Err(format!(
        "no `{name}` section: not built with the perfuse SDK's export macro"
    ))
}

/// Reads the SDK's metadata record (see `perfuse_plugin_sdk::metadata`) from the library's bytes.
fn read_metadata(bytes: &[u8]) -> Result<Metadata, String> {
    let rec = elf_section(bytes, meta::SECTION)?;
    if rec.len() < meta::PARAMS_OFFSET || rec[..8] != meta::MAGIC {
        return Err("its metadata record has no perfuse magic".into());
    }
    let u16_at = |off: usize| u16::from_ne_bytes([rec[off], rec[off + 1]]);
    let f64_at = |off: usize| f64::from_ne_bytes(rec[off..off + 8].try_into().unwrap());
    let text = |off: usize, len: usize, what: &str| -> Result<String, String> {
        let raw = &rec[off..off + len];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(len);
        let s = std::str::from_utf8(&raw[..end]).map_err(|_| format!("its {what} is not UTF-8"))?;
        if s.chars().any(char::is_control) {
            return Err(format!("its {what} holds control characters"));
        }
        Ok(s.to_string())
    };
    let abi = (u16_at(8), u16_at(10));
    let n = u16_at(12) as usize;
    if n > perfuse_plugin_sdk::MAX_PARAMS || rec.len() < meta::PARAMS_OFFSET + n * meta::PARAM_SIZE
    {
        return Err(format!("its metadata record declares {n} parameters"));
    }
    let mut params = Vec::with_capacity(n);
    for i in 0..n {
        let at = meta::PARAMS_OFFSET + i * meta::PARAM_SIZE;
        let default = f64_at(at + 2 * meta::NAME_LEN + 16);
        params.push(ParamInfo {
            name: text(at, meta::NAME_LEN, "parameter name")?,
            unit: text(at + meta::NAME_LEN, meta::NAME_LEN, "parameter unit")?,
            min: f64_at(at + 2 * meta::NAME_LEN),
            max: f64_at(at + 2 * meta::NAME_LEN + 8),
            default: (!default.is_nan()).then_some(default),
        });
    }
    Ok(Metadata {
        abi,
        id: text(16, meta::ID_LEN, "id")?,
        version: text(48, meta::VERSION_LEN, "version")?,
        params,
    })
}

/// A library that passed every check before any of its functions was called.
pub struct OpenedLibrary {
    pub path: PathBuf,
    pub sha256: String,
    pub trust: Trust,
    pub id: String,
    pub version: String,
    pub abi: (u16, u16),
    pub descriptor: &'static PluginDescriptor,
}

/// Checks a library's metadata record against the host: magic (already), ABI.
pub fn check_metadata(path: &Path, metadata: &Metadata) -> Result<(), PluginError> {
    let (major, minor) = metadata.abi;
    if major != ABI_MAJOR || minor > ABI_MINOR {
        return Err(PluginError::AbiMismatch {
            path: path.to_path_buf(),
            plugin: (major, minor),
            host: (ABI_MAJOR, ABI_MINOR),
        });
    }
    Ok(())
}

/// Checks the protocol's `plugin_params` against the parameters the library declares in its
/// metadata record (a library that declares none is left to check its own): every value named,
/// inside its range, and every parameter without a default given.
pub fn check_params(metadata: &Metadata, params: &[(String, f64)]) -> Result<(), String> {
    if metadata.params.is_empty() {
        return Ok(());
    }
    let declared = || {
        let names: Vec<&str> = metadata.params.iter().map(|p| p.name.as_str()).collect();
        names.join(", ")
    };
    for (name, value) in params {
        let Some(p) = metadata.params.iter().find(|p| &p.name == name) else {
            return Err(format!(
                "plugin_params.{name}: not a parameter of plugin `{}`; it declares {}",
                metadata.id,
                declared()
            ));
        };
        if !(p.min..=p.max).contains(value) {
            return Err(format!(
                "plugin_params.{name}: {} {} is outside the range {} ..= {} {} plugin `{}` declares",
                short(*value),
                p.unit,
                p.min,
                p.max,
                p.unit,
                metadata.id
            ));
        }
    }
    for p in metadata.params.iter().filter(|p| p.default.is_none()) {
        if !params.iter().any(|(n, _)| n == &p.name) {
            return Err(format!(
                "plugin_params: missing `{}` ({}, {} ..= {}), which plugin `{}` requires",
                p.name, p.unit, p.min, p.max, metadata.id
            ));
        }
    }
    Ok(())
}

/// A number as a message echoes it: huge and tiny ones in scientific notation, never hundreds
/// of digits.
fn short(v: f64) -> String {
    if v != 0.0 && !(1e-3..1e6).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Whether the library may be loaded, before anything of it runs.
fn trust(lib: &Inspected, pin: Option<&str>, policy: &SearchPolicy) -> Result<Trust, PluginError> {
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
    let dir = lib.path.parent().and_then(|d| d.canonicalize().ok());
    let released = release_dirs()
        .iter()
        .filter_map(|d| d.canonicalize().ok())
        .any(|d| Some(d) == dir);
    match (released, policy.allow_untrusted) {
        (true, _) => Ok(Trust::Release),
        (false, true) => Ok(Trust::Allowed),
        (false, false) => Err(PluginError::Untrusted {
            path: lib.path.clone(),
            sha256: lib.sha256.clone(),
        }),
    }
}

/// The fields every ABI version starts with, read before anything else.
#[repr(C)]
struct DescriptorHead {
    magic: u32,
    abi_major: u16,
    abi_minor: u16,
}

/// Size of the descriptor as ABI 1.0 defined it: every 1.x descriptor is at least this large.
const V1_0_DESCRIPTOR_SIZE: usize = std::mem::size_of::<PluginDescriptor>();

/// Libraries loaded in this process, by the device and inode of their file, with the sha256
/// they were loaded with.
///
/// The dynamic loader knows a library by every name it was opened under, here `/proc/self/fd/N`,
/// and would hand it out again for that name: so a file is handed to it once, and its descriptor
/// stays open for the process (N never names another file); later loads of the same file take
/// the library from here.
type Loaded = Vec<((u64, u64), String, &'static libloading::Library)>;
static LOADED: std::sync::Mutex<Loaded> = std::sync::Mutex::new(Vec::new());

/// Loads the inspected file (once per process), returning the library.
fn load_once(
    inspected: Inspected,
    path: &Path,
) -> Result<&'static libloading::Library, PluginError> {
    use std::os::unix::fs::MetadataExt;
    let failed = |message: String| PluginError::Open {
        path: path.to_path_buf(),
        message,
    };
    let m = inspected
        .file
        .metadata()
        .map_err(|e| failed(e.to_string()))?;
    let key = (m.dev(), m.ino());
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, sha256, lib)) = loaded.iter().find(|(k, _, _)| *k == key) {
        return if *sha256 == inspected.sha256 {
            Ok(*lib)
        } else {
            Err(failed(format!(
                "this file was changed in place after it was loaded (sha256 {sha256} then, {} now)",
                inspected.sha256
            )))
        };
    }
    let fd_path = format!("/proc/self/fd/{}", inspected.file.as_raw_fd());
    // SAFETY: loading runs the library's initialisers; we only get here for a trusted file whose
    // metadata record matched, and load the very file that was hashed.
    let lib = unsafe { libloading::Library::new(&fd_path) }.map_err(|e| failed(e.to_string()))?;
    // Never unloaded (see the module docs), so the descriptor and its strings live for the process.
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    loaded.push((key, inspected.sha256, lib));
    std::mem::forget(inspected.file);
    Ok(lib)
}

/// Reads, verifies and only then opens the library: trust (pin or release directory or
/// `allow_untrusted`), metadata record, ABI and the protocol's `params` against the declared ones, all from one open file, which is then loaded as
/// `/proc/self/fd/N` so the bytes checked are the bytes loaded; then reads and checks its
/// descriptor against the record.
pub fn open(
    path: &Path,
    pin: Option<&str>,
    params: &[(String, f64)],
    policy: &SearchPolicy,
) -> Result<OpenedLibrary, PluginError> {
    let inspected = inspect(path)?;
    let bad = |message: String| PluginError::BadDescriptor {
        path: path.to_path_buf(),
        message,
    };
    let trust = trust(&inspected, pin, policy)?;
    let metadata = inspected.metadata.clone().map_err(bad)?;
    check_metadata(path, &metadata)?;
    check_params(&metadata, params).map_err(|message| PluginError::Rejected {
        id: metadata.id.clone(),
        message,
    })?;
    let sha256 = inspected.sha256.clone();
    let lib = load_once(inspected, path)?;
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
    if id != metadata.id || version != metadata.version || (major, minor) != metadata.abi {
        return Err(bad(format!(
            "its descriptor ({id} {version}, ABI {major}.{minor}) differs from its metadata record ({} {}, ABI {}.{})",
            metadata.id, metadata.version, metadata.abi.0, metadata.abi.1
        )));
    }
    Ok(OpenedLibrary {
        path: path.to_path_buf(),
        sha256,
        trust,
        id,
        version,
        abi: (major, minor),
        descriptor,
    })
}
