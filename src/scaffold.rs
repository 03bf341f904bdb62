//! `perfuse new plugin ID`: an out-of-tree plugin crate that builds, checks and runs at once.
//!
//! It writes a `Cargo.toml` that depends on the SDK of this checkout by path (the SDK is not
//! published), a skeleton plugin with its unit tests (`src/lib.rs`), and a protocol file for
//! it: the shipped kidney HMP protocol on the simulator's kidney model, with its plugin section
//! naming the new plugin.

use crate::exit::Failure;
use std::path::{Path, PathBuf};

/// The SDK of the checkout perfuse was built from.
pub const BUILT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/sdk");

const CARGO_TOML: &str = include_str!("scaffold/Cargo.toml.in");
const LIB_RS: &str = include_str!("scaffold/lib.rs.in");
/// The protocol the new plugin's file is made from.
const BASE_PROTOCOL: &str = include_str!("../protocols/kidney-hmp.ron");
const BASE_PLUGIN: &str = "    plugin: (id: \"kidney\", version: \"^0.1\"),\n    plugin_params: {\n        \"kidney_mass_g\": 150.0, // §10.2 [T]\n    },\n";
const BASE_NAME: &str = "    name: \"Kidney HMP (LifePort-like)\",\n";

/// Longest plugin id: the SDK's metadata record holds 32 bytes.
const MAX_ID: usize = perfuse_plugin_sdk::metadata::ID_LEN;

/// Writes the crate for plugin `id` into `dir` (default `./ID`) with the SDK at `sdk` (default
/// [`BUILT_SDK`]); the message says what was written and what to do next.
pub fn new_plugin(id: &str, dir: Option<&Path>, sdk: Option<&Path>) -> Result<String, Failure> {
    check_id(id).map_err(|e| Failure::usage(format!("perfuse new plugin: {e}")))?;
    let dir = dir.map_or_else(|| PathBuf::from(id), Path::to_path_buf);
    let sdk = sdk.unwrap_or(Path::new(BUILT_SDK));
    let sdk = sdk.canonicalize().ok().filter(|p| is_sdk(p)).ok_or_else(|| {
        Failure::input(format!(
            "perfuse new plugin: no perfuse plugin SDK at {} (perfuse was built from another checkout, or it moved); pass --sdk with the path of a perfuse checkout's plugins/sdk",
            sdk.display()
        ))
    })?;
    let sdk = sdk.to_str().ok_or_else(|| {
        Failure::input(format!(
            "perfuse new plugin: the SDK's path {} is not UTF-8, which Cargo.toml cannot hold",
            sdk.display()
        ))
    })?;
    if dir.exists() {
        let empty = std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(Failure::input(format!(
                "perfuse new plugin: {} exists and is not an empty directory; choose another with --dir",
                dir.display()
            )));
        }
    }
    let protocol_name = format!("{id}.ron");
    let files = [
        ("Cargo.toml", cargo_toml(id, sdk)),
        ("src/lib.rs", lib_rs(id)),
        (
            protocol_name.as_str(),
            protocol(id).map_err(Failure::internal)?,
        ),
        (".gitignore", "/target\n".to_string()),
    ];
    let write = |name: &str, text: &str| -> Result<(), Failure> {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure::input(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| Failure::input(format!("cannot write {}: {e}", path.display())))
    };
    for (name, text) in &files {
        write(name, text)?;
    }
    let d = dir.display();
    Ok(format!(
        "created plugin `{id}` in {d} (its SDK: {sdk})
next:
  cd {d} && cargo test && cargo build --release && cd -
  perfuse pin {d}/{protocol_name} --plugin-dir {d}/target/release
  perfuse check {d}/{protocol_name} --plugin-dir {d}/target/release
  perfuse run {d}/{protocol_name} --plugin-dir {d}/target/release --duration 10m
"
    ))
}

/// A plugin id is a protocol file's `plugin.id`, the crate's name and the library's file name.
fn check_id(id: &str) -> Result<(), String> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    let starts = id.starts_with(|c: char| c.is_ascii_lowercase());
    let ends = id.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok_chars && starts && ends && id.len() <= MAX_ID {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a plugin id: expected 1 to {MAX_ID} lower-case letters, digits, `-` and `_`, starting with a letter and ending with a letter or digit (e.g. `va-ecmo`)",
            id.escape_debug()
        ))
    }
}

/// Whether `dir` holds the perfuse plugin SDK's manifest.
fn is_sdk(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|t| t.contains("name = \"perfuse-plugin-sdk\""))
}

fn cargo_toml(id: &str, sdk: &str) -> String {
    let sdk = sdk.replace('\\', "\\\\").replace('"', "\\\"");
    CARGO_TOML
        .replace("__ID__", id)
        .replace("__LIB__", &id.replace('-', "_"))
        .replace("__SDK__", &sdk)
}

fn lib_rs(id: &str) -> String {
    LIB_RS
        .replace("__TYPE__", &type_name(id))
        .replace("__ID__", id)
}

/// `va-ecmo` → `VaEcmo`.
fn type_name(id: &str) -> String {
    id.split(['-', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The kidney HMP protocol with its plugin section naming the new plugin; an error when the
/// shipped protocol no longer has the lines replaced.
fn protocol(id: &str) -> Result<String, String> {
    let changed = |what: &str| {
        format!("the shipped kidney-hmp.ron no longer has the {what} `perfuse new` replaces")
    };
    if !BASE_PROTOCOL.contains(BASE_PLUGIN) {
        return Err(changed("plugin section"));
    }
    if !BASE_PROTOCOL.contains(BASE_NAME) {
        return Err(changed("name"));
    }
    let plugin = format!(
        "    plugin: (id: \"{id}\", version: \"^0.1\"),\n    plugin_params: {{\n        \"organ_mass_g\": 150.0,\n    }},\n"
    );
    let text = BASE_PROTOCOL.replacen(BASE_PLUGIN, &plugin, 1).replacen(
        BASE_NAME,
        &format!("    name: \"{id} (kidney HMP)\",\n"),
        1,
    );
    Ok(format!(
        "// Made by `perfuse new plugin {id}` from the shipped protocols/kidney-hmp.ron: the same\n// circuit, phases and rules on the simulator's kidney model, with the `{id}` plugin.\n{text}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_cannot_name_a_crate_and_a_library_are_refused() {
        for good in ["va-ecmo", "x", "lung2", "my_plugin"] {
            assert_eq!(check_id(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "VA",
            "2x",
            "-x",
            "x-",
            "a b",
            "a/b",
            "é",
            &"x".repeat(33),
        ] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        assert_eq!(type_name("va-ecmo_2"), "VaEcmo2");
    }

    #[test]
    fn the_protocol_names_the_new_plugin_and_differs_from_the_shipped_one() {
        let text = protocol("va-ecmo").unwrap();
        assert_ne!(text, BASE_PROTOCOL, "the edits matched");
        assert!(text.contains("plugin: (id: \"va-ecmo\", version: \"^0.1\")"));
        assert!(text.contains("\"organ_mass_g\": 150.0"));
        // The kidney plugin's parameter is gone; the simulated kidney keeps its mass.
        assert_eq!(text.matches("\"kidney_mass_g\"").count(), 1, "{text}");
        assert!(text.contains("\"kidney_mass_g\": 150.0, // the simulated kidney's"));
        let checked = perfuse_core::config::check_str(&text);
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    }
}
