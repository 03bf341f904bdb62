//! The plugin's metadata record: what a host can know about a library without running it.
//!
//! Opening a library runs its constructors, so a host must not open a library to learn what it
//! is. [`export_plugin!`](crate::export_plugin) therefore also places this record, plain bytes
//! with no pointers (so no relocations), in the ELF section [`SECTION`]; the host reads it from
//! the file. It holds the magic, the ABI version, the id and version, and every parameter the
//! plugin declares with its unit, range and default.
//!
//! Layout (native byte order, offsets in bytes): `0` [`MAGIC`]; `8` ABI major (u16); `10` ABI
//! minor (u16); `12` number of parameters (u16); `14` zero; `16` id ([`ID_LEN`] bytes,
//! NUL-padded); `48` version ([`VERSION_LEN`]); `64` [`crate::MAX_PARAMS`] parameter entries of
//! [`PARAM_SIZE`] bytes: name ([`NAME_LEN`]), unit ([`NAME_LEN`]), min, max, default (f64; NaN
//! default: none).

use crate::{ABI_MAJOR, ABI_MINOR, MAX_PARAMS, Protocol};

/// The ELF section that holds the record.
pub const SECTION: &str = ".perfuse_plugin";
/// First bytes of the record.
pub const MAGIC: [u8; 8] = *b"PRFSMETA";
/// Longest id, version, parameter name and unit (in bytes).
pub const ID_LEN: usize = 32;
pub const VERSION_LEN: usize = 16;
pub const NAME_LEN: usize = 32;
/// Size of one parameter entry.
pub const PARAM_SIZE: usize = 2 * NAME_LEN + 3 * 8;
/// Offset of the first parameter entry.
pub const PARAMS_OFFSET: usize = 64;
/// Size of the whole record.
pub const SIZE: usize = PARAMS_OFFSET + MAX_PARAMS * PARAM_SIZE;

/// One parameter a plugin accepts in the protocol file's `plugin_params`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamSpec {
    pub name: &'static str,
    /// The unit, as the name's suffix says it (`"g"`, `"s"`, `"mmHg"`, `"1"` for a count).
    pub unit: &'static str,
    /// Values outside `min..=max` are refused by the host before the plugin runs.
    pub min: f64,
    pub max: f64,
    /// The value used when the file omits it (`None`: the parameter is required).
    pub default: Option<f64>,
}

const fn put(out: &mut [u8; SIZE], at: usize, bytes: &[u8], cap: usize) {
    assert!(bytes.len() <= cap, "too long for the metadata record");
    let mut i = 0;
    while i < bytes.len() {
        out[at + i] = bytes[i];
        i += 1;
    }
}

const fn put_f64(out: &mut [u8; SIZE], at: usize, v: f64) {
    let b = v.to_ne_bytes();
    put(out, at, &b, 8);
}

/// The record of plugin `P`, built at compile time (a too-long name fails the build).
pub const fn record<P: Protocol>() -> [u8; SIZE] {
    record_of(P::ID, P::VERSION, P::PARAMS, (ABI_MAJOR, ABI_MINOR))
}

/// The record of a plugin described field by field (for libraries that build their descriptor
/// by hand rather than with [`export_plugin!`](crate::export_plugin)).
pub const fn record_of(
    id: &str,
    version: &str,
    params: &[ParamSpec],
    abi: (u16, u16),
) -> [u8; SIZE] {
    let mut out = [0u8; SIZE];
    put(&mut out, 0, &MAGIC, 8);
    put(&mut out, 8, &abi.0.to_ne_bytes(), 2);
    put(&mut out, 10, &abi.1.to_ne_bytes(), 2);
    assert!(params.len() <= MAX_PARAMS, "too many parameters");
    put(&mut out, 12, &(params.len() as u16).to_ne_bytes(), 2);
    put(&mut out, 16, id.as_bytes(), ID_LEN);
    put(&mut out, 48, version.as_bytes(), VERSION_LEN);
    let mut i = 0;
    while i < params.len() {
        let p = &params[i];
        let at = PARAMS_OFFSET + i * PARAM_SIZE;
        put(&mut out, at, p.name.as_bytes(), NAME_LEN);
        put(&mut out, at + NAME_LEN, p.unit.as_bytes(), NAME_LEN);
        put_f64(&mut out, at + 2 * NAME_LEN, p.min);
        put_f64(&mut out, at + 2 * NAME_LEN + 8, p.max);
        let default = match p.default {
            Some(v) => v,
            None => f64::NAN,
        };
        put_f64(&mut out, at + 2 * NAME_LEN + 16, default);
        i += 1;
    }
    out
}
