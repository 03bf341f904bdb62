//! The metadata record: what a host can learn about a plugin library without running it.
//!
//! Opening a library runs its constructors, so a host must not open a library to learn what it
//! is. [`export_plugin!`](crate::export_plugin) therefore also writes this record into the ELF
//! section [`SECTION`] of the library: plain bytes without pointers (so without relocations),
//! which the host reads from the file. It holds the ABI version the plugin was built for, its id
//! and version, and every parameter it declares with unit, range and default
//! ([`Protocol::PARAMS`]). The writer ([`record`]) and the reader
//! ([`parse`]) of the format both live here.
//!
//! The record has its own format version ([`FORMAT`]); it does not change the descriptor, so
//! the ABI version is not bumped for it. A library built before the record existed has no such
//! section: a host can still load it once it trusts the file, but can list nothing of it and
//! check none of its parameters before opening it.
//!
//! Layout, little-endian, offsets in bytes: `0` [`MAGIC`]; `8` [`FORMAT`] (u16); `10` ABI major
//! (u16); `12` ABI minor (u16); `14` number of parameters (u16); `16` id ([`ID_LEN`] bytes,
//! NUL-padded); `48` version ([`VERSION_LEN`]); `64` [`MAX_PARAMS`] parameter entries of
//! [`PARAM_SIZE`] bytes: name ([`NAME_LEN`]), unit ([`UNIT_LEN`]), min, max, default (f64; NaN:
//! none), flags (u64; bit 0: required).

use crate::{ABI_MAJOR, ABI_MINOR, MAX_PARAMS, Protocol};

/// The ELF section that holds the record.
pub const SECTION: &str = ".perfuse_plugin";
/// First bytes of the record.
pub const MAGIC: [u8; 8] = *b"PRFSMETA";
/// Version of this layout.
pub const FORMAT: u16 = 1;
/// Longest id, in bytes.
pub const ID_LEN: usize = 32;
/// Longest version, in bytes.
pub const VERSION_LEN: usize = 16;
/// Longest parameter name, in bytes.
pub const NAME_LEN: usize = 32;
/// Longest unit, in bytes.
pub const UNIT_LEN: usize = 16;
/// Size of one parameter entry.
pub const PARAM_SIZE: usize = NAME_LEN + UNIT_LEN + 4 * 8;
/// Offset of the first parameter entry.
const PARAMS_AT: usize = 64;
/// Size of the whole record.
pub const SIZE: usize = PARAMS_AT + MAX_PARAMS * PARAM_SIZE;

/// One parameter a plugin takes from the protocol file's `plugin_params`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamSpec<'a> {
    /// The key in `plugin_params`, with its unit as suffix (`kidney_mass_g`).
    pub name: &'a str,
    /// The unit the name's suffix says (`"g"`, `"s"`, `"°C"`, `"mmHg"`; `"1"` for a ratio or a
    /// count).
    pub unit: &'a str,
    /// Values outside `min..=max` are refused by the host before the library is opened.
    pub min: f64,
    /// The largest value accepted.
    pub max: f64,
    /// The file must give it.
    pub required: bool,
    /// The value the plugin uses when the file leaves it out (none for a required parameter;
    /// none for an optional one that the plugin needs only in some protocols, and then asks for).
    pub default: Option<f64>,
}

impl ParamSpec<'static> {
    /// A parameter the file must give.
    pub const fn required(name: &'static str, unit: &'static str, min: f64, max: f64) -> Self {
        ParamSpec {
            name,
            unit,
            min,
            max,
            required: true,
            default: None,
        }
    }

    /// A parameter with a default.
    pub const fn with_default(
        name: &'static str,
        unit: &'static str,
        min: f64,
        max: f64,
        default: f64,
    ) -> Self {
        ParamSpec {
            name,
            unit,
            min,
            max,
            required: false,
            default: Some(default),
        }
    }

    /// An optional parameter without a default: the plugin asks for it where it needs it.
    pub const fn optional(name: &'static str, unit: &'static str, min: f64, max: f64) -> Self {
        ParamSpec {
            name,
            unit,
            min,
            max,
            required: false,
            default: None,
        }
    }
}

impl ParamSpec<'_> {
    /// The file's value, or the default.
    pub fn value(&self, params: &crate::Params<'_>) -> Option<f64> {
        params.get(self.name).or(self.default)
    }
}

/// What a library's record says, borrowed from the record's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata<'a> {
    /// ABI major and minor the library was built for.
    pub abi: (u16, u16),
    /// [`Protocol::ID`].
    pub id: &'a str,
    /// [`Protocol::VERSION`].
    pub version: &'a str,
    /// [`Protocol::PARAMS`].
    pub params: Vec<ParamSpec<'a>>,
}

const fn put(out: &mut [u8; SIZE], at: usize, bytes: &[u8], cap: usize) {
    assert!(
        bytes.len() <= cap,
        "too long for the plugin's metadata record"
    );
    let mut i = 0;
    while i < bytes.len() {
        out[at + i] = bytes[i];
        i += 1;
    }
}

/// The record of plugin `P`, built at compile time (a name that does not fit fails the build).
pub const fn record<P: Protocol>() -> [u8; SIZE] {
    record_of(P::ID, P::VERSION, P::PARAMS, (ABI_MAJOR, ABI_MINOR))
}

/// The record of a plugin given field by field, for a library that builds its descriptor by
/// hand instead of with [`export_plugin!`](crate::export_plugin).
pub const fn record_of(
    id: &str,
    version: &str,
    params: &[ParamSpec<'_>],
    abi: (u16, u16),
) -> [u8; SIZE] {
    let mut out = [0u8; SIZE];
    put(&mut out, 0, &MAGIC, 8);
    put(&mut out, 8, &FORMAT.to_le_bytes(), 2);
    put(&mut out, 10, &abi.0.to_le_bytes(), 2);
    put(&mut out, 12, &abi.1.to_le_bytes(), 2);
    assert!(params.len() <= MAX_PARAMS, "too many plugin parameters");
    put(&mut out, 14, &(params.len() as u16).to_le_bytes(), 2);
    put(&mut out, 16, id.as_bytes(), ID_LEN);
    put(&mut out, 48, version.as_bytes(), VERSION_LEN);
    let mut i = 0;
    while i < params.len() {
        let p = &params[i];
        let at = PARAMS_AT + i * PARAM_SIZE;
        put(&mut out, at, p.name.as_bytes(), NAME_LEN);
        put(&mut out, at + NAME_LEN, p.unit.as_bytes(), UNIT_LEN);
        let numbers = at + NAME_LEN + UNIT_LEN;
        put(&mut out, numbers, &p.min.to_le_bytes(), 8);
        put(&mut out, numbers + 8, &p.max.to_le_bytes(), 8);
        let default = match p.default {
            Some(v) => v,
            None => f64::NAN,
        };
        put(&mut out, numbers + 16, &default.to_le_bytes(), 8);
        let flags: u64 = if p.required { 1 } else { 0 };
        put(&mut out, numbers + 24, &flags.to_le_bytes(), 8);
        i += 1;
    }
    out
}

/// Reads a record, checking everything a host relies on: magic, format, counts, printable
/// UTF-8 texts, finite ordered ranges with the default inside.
pub fn parse(rec: &[u8]) -> Result<Metadata<'_>, String> {
    if rec.len() < SIZE || rec[..8] != MAGIC {
        return Err("its metadata record is not a perfuse record".into());
    }
    let u16_at = |at: usize| u16::from_le_bytes([rec[at], rec[at + 1]]);
    let f64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&rec[at..at + 8]);
        f64::from_le_bytes(b)
    };
    let format = u16_at(8);
    if format != FORMAT {
        return Err(format!(
            "its metadata record has format {format}; this host reads format {FORMAT}"
        ));
    }
    let n = u16_at(14) as usize;
    if n > MAX_PARAMS {
        return Err(format!(
            "its metadata record declares {n} parameters, more than {MAX_PARAMS}"
        ));
    }
    let mut params = Vec::with_capacity(n);
    for i in 0..n {
        let at = PARAMS_AT + i * PARAM_SIZE;
        let numbers = at + NAME_LEN + UNIT_LEN;
        let name = text(&rec[at..at + NAME_LEN], "a parameter name")?;
        let (min, max, default) = (f64_at(numbers), f64_at(numbers + 8), f64_at(numbers + 16));
        let default = (!default.is_nan()).then_some(default);
        let flags = f64_at(numbers + 24).to_bits();
        let required = flags == 1;
        let ordered = min.is_finite() && max.is_finite() && min <= max;
        let default_ok = match default {
            Some(d) => !required && (min..=max).contains(&d),
            None => true,
        };
        if name.is_empty() || flags > 1 || !ordered || !default_ok {
            return Err(format!(
                "its metadata record declares parameter `{name}` without a name, with unknown flags, or with a range or default that is not ordered, finite and inside"
            ));
        }
        params.push(ParamSpec {
            name,
            unit: text(&rec[at + NAME_LEN..numbers], "a parameter unit")?,
            min,
            max,
            required,
            default,
        });
    }
    Ok(Metadata {
        abi: (u16_at(10), u16_at(12)),
        id: text(&rec[16..16 + ID_LEN], "its id")?,
        version: text(&rec[48..48 + VERSION_LEN], "its version")?,
        params,
    })
}

/// A NUL-padded field as text, refused when not printable UTF-8.
fn text<'a>(raw: &'a [u8], what: &str) -> Result<&'a str, String> {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let s = std::str::from_utf8(&raw[..end])
        .map_err(|_| format!("{what} in its metadata record is not UTF-8"))?;
    if s.chars().any(char::is_control) {
        return Err(format!(
            "{what} in its metadata record holds control characters"
        ));
    }
    Ok(s)
}

/// Why given parameters do not fit the declared ones.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    /// The parameter the message is about.
    pub name: String,
    /// What is wrong, for the user.
    pub message: String,
}

/// Checks given parameters against the declared ones: every name declared, every value finite
/// and inside its range, every required parameter given.
pub fn check<'n>(
    declared: &[ParamSpec<'_>],
    given: impl IntoIterator<Item = (&'n str, f64)>,
) -> Result<(), ParamError> {
    let given: Vec<(&str, f64)> = given.into_iter().collect();
    for &(name, value) in &given {
        let Some(p) = declared.iter().find(|p| p.name == name) else {
            let names: Vec<&str> = declared.iter().map(|p| p.name).collect();
            return Err(ParamError {
                name: name.to_string(),
                message: format!(
                    "unknown parameter `{}`; the plugin takes {}",
                    shorten(name),
                    names.join(", ")
                ),
            });
        };
        if !(p.min..=p.max).contains(&value) {
            return Err(ParamError {
                name: name.to_string(),
                message: format!(
                    "expected {} from {} to {} {}, found {}",
                    p.name,
                    number(p.min),
                    number(p.max),
                    p.unit,
                    number(value)
                ),
            });
        }
    }
    match declared
        .iter()
        .find(|p| p.required && !given.iter().any(|(n, _)| *n == p.name))
    {
        Some(p) => Err(ParamError {
            name: p.name.to_string(),
            message: format!(
                "missing parameter `{}` ({} from {} to {}), which the plugin requires",
                p.name,
                p.unit,
                number(p.min),
                number(p.max)
            ),
        }),
        None => Ok(()),
    }
}

/// A number as a message echoes it: huge and tiny ones in scientific notation.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if v.is_finite() && a != 0.0 && !(1e-6..1e9).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// A name as a message echoes it: at most 40 characters.
fn shorten(name: &str) -> String {
    match name.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &name[..i]),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: &[ParamSpec<'static>] = &[
        ParamSpec::required("mass_g", "g", 10.0, 1000.0),
        ParamSpec::with_default("hold_s", "s", 0.0, 600.0, 30.0),
        ParamSpec::optional("at_s", "s", 0.0, 60.0),
    ];

    #[test]
    fn a_record_reads_back_as_written() {
        let rec = record_of("kid-ney", "1.2.3", PARAMS, (1, 2));
        let m = parse(&rec).unwrap();
        assert_eq!(m.abi, (1, 2));
        assert_eq!((m.id, m.version), ("kid-ney", "1.2.3"));
        assert_eq!(m.params, PARAMS);
    }

    #[test]
    fn a_damaged_record_is_refused() {
        let good = record_of("x", "0.1.0", PARAMS, (1, 2));
        let mut bad = good;
        bad[0] = b'Q';
        assert!(parse(&bad).unwrap_err().contains("not a perfuse record"));
        assert!(parse(&good[..SIZE - 1]).is_err(), "short");
        let mut bad = good;
        bad[14] = 200;
        assert!(parse(&bad).unwrap_err().contains("200 parameters"));
        let mut bad = good;
        bad[16] = 0x1b;
        assert!(parse(&bad).unwrap_err().contains("control characters"));
        // The first parameter's min set above its max.
        let mut bad = good;
        let min_at = PARAMS_AT + NAME_LEN + UNIT_LEN;
        bad[min_at..min_at + 8].copy_from_slice(&5000f64.to_le_bytes());
        assert!(parse(&bad).unwrap_err().contains("`mass_g`"));
    }

    #[test]
    fn given_parameters_are_checked_against_the_declared_ones() {
        assert_eq!(check(PARAMS, [("mass_g", 150.0)]), Ok(()));
        let e = check(PARAMS, [("mass_g", 1e308)]).unwrap_err();
        assert_eq!(e.name, "mass_g");
        assert_eq!(e.message, "expected mass_g from 10 to 1000 g, found 1e308");
        let e = check(PARAMS, [("mass_g", f64::NAN)]).unwrap_err();
        assert!(e.message.ends_with("found NaN"), "{}", e.message);
        let e = check(PARAMS, [("mass_g", 150.0), ("mas_g", 1.0)]).unwrap_err();
        assert_eq!(
            e.message,
            "unknown parameter `mas_g`; the plugin takes mass_g, hold_s, at_s"
        );
        let e = check(PARAMS, [("hold_s", 1.0)]).unwrap_err();
        assert_eq!(
            e.message,
            "missing parameter `mass_g` (g from 10 to 1000), which the plugin requires"
        );
    }
}
