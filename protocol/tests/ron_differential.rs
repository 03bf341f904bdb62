//! The reader against the `ron` crate, the reference for the RON format: over every shipped
//! protocol and every corpus file both accept or both reject, except for the differences listed in
//! [`DIFFERENCES`], where this reader is stricter on purpose.
//!
//! The dialects differ in one more way, which the reference is configured for: a bare value where
//! an `Option` is expected (`tick_hz: 100.0`) reads as `Some` of it here, as every shipped
//! protocol writes it; the `ron` crate needs its `implicit_some` extension for that (the attribute
//! `#![enable(implicit_some)]`, which this reader accepts and which changes nothing here).

use perfuse_protocol::{ProtocolFile, read_document};
use ron::extensions::Extensions;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Files the two readers disagree on (relative to the repository), and why.
const DIFFERENCES: &[(&str, &str)] = &[
    (
        "tests/corpus/infinity.ron",
        "a non-finite number: this reader refuses `inf` and `NaN`, which no protocol value may \
         be; ron reads them as floats",
    ),
    (
        "tests/corpus/nan.ron",
        "a non-finite number (as infinity.ron)",
    ),
    (
        "tests/corpus/unknown_field.ron",
        "an unknown field: this reader refuses a field the format does not declare (a misspelt \
         optional field would otherwise be ignored without a word); ron skips it",
    ),
];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ron_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            ron_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "ron") {
            out.push(path);
        }
    }
}

/// The `.ron` files under `dir` (relative to the repository), sorted, with their text.
fn files_under(dir: &str) -> Vec<(String, String)> {
    let root = repository();
    let mut paths = Vec::new();
    ron_files(&root.join(dir), &mut paths);
    paths.sort();
    let files: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            let name = p.strip_prefix(&root).expect("under the repository");
            let text = std::fs::read_to_string(p).expect("readable");
            (name.display().to_string(), text)
        })
        .collect();
    assert!(!files.is_empty(), "no .ron files under {dir}");
    files
}

fn reference() -> ron::Options {
    ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME)
}

#[test]
fn shipped_protocols_and_corpus_files_are_read_alike_but_for_the_listed_differences() {
    let mut files = files_under("protocols");
    let shipped = files.len();
    files.extend(files_under("tests/corpus"));
    let mut differing = Vec::new();
    for (name, text) in &files {
        let ours = read_document::<ProtocolFile>(text);
        let theirs = reference().from_str::<ProtocolFile>(text);
        if ours.is_ok() != theirs.is_ok() {
            assert!(
                ours.is_err(),
                "{name}: this reader accepts what ron refuses: {:?}",
                theirs.err()
            );
            differing.push(name.as_str());
        }
    }
    let listed: Vec<&str> = DIFFERENCES.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        differing, listed,
        "the readers disagree on other files than the listed ones: {DIFFERENCES:#?}"
    );
    // Every shipped protocol is among the files both accept.
    assert!(
        differing
            .iter()
            .all(|name| name.starts_with("tests/corpus"))
    );
    assert!(shipped > 0 && files.len() > shipped);
}

#[test]
fn with_the_implicit_some_attribute_plain_ron_reads_every_shipped_protocol_as_this_reader_does() {
    for (name, text) in files_under("protocols") {
        assert!(
            ron::from_str::<ProtocolFile>(&text).is_err(),
            "{name}: plain ron reads it without implicit_some: the note on bare values is stale"
        );
        let with_attribute = format!("#![enable(implicit_some)]\n{text}");
        // A reference to a computed value (`Of("name", factor)` where a number stands) is the
        // protocol loader's own: neither plain ron nor `read_document` takes one.
        if text.contains("\n    computed: Some(") {
            assert!(
                ron::from_str::<ProtocolFile>(&with_attribute).is_err(),
                "{name}"
            );
            continue;
        }
        if let Err(e) = ron::from_str::<ProtocolFile>(&with_attribute) {
            panic!("{name}: ron refuses it with the attribute: {e}");
        }
        if let Err(d) = read_document::<ProtocolFile>(&with_attribute) {
            panic!("{name}: this reader refuses it with the attribute: {d:?}");
        }
    }
}

#[derive(Debug, PartialEq, Deserialize)]
struct WithOption {
    x: Option<f64>,
}

#[test]
fn a_bare_value_for_an_option_is_some_of_it_and_ron_needs_the_extension_for_that() {
    let read = |src: &str| read_document::<WithOption>(src).map(|(v, _)| v);
    let some = WithOption { x: Some(2.0) };
    assert_eq!(read("(x: 2.0)").ok(), Some(WithOption { x: Some(2.0) }));
    assert_eq!(
        read("(x: Some(2.0))").ok(),
        Some(WithOption { x: Some(2.0) })
    );
    assert_eq!(read("()").ok(), Some(WithOption { x: None }));
    assert!(ron::from_str::<WithOption>("(x: 2.0)").is_err());
    assert_eq!(
        ron::from_str::<WithOption>("(x: Some(2.0))").ok(),
        Some(some)
    );
    assert_eq!(
        reference().from_str::<WithOption>("(x: 2.0)").ok(),
        Some(WithOption { x: Some(2.0) })
    );
    assert_eq!(
        read("#![enable(implicit_some)]\n(x: 2.0)").ok(),
        Some(WithOption { x: Some(2.0) })
    );
}
