//! Mutated and random protocol files never panic the loader: each ends in a plan or in at least
//! one diagnostic with a position inside the file.

use perfuse_protocol::load_str;
use proptest::prelude::*;
use std::path::Path;

fn shipped() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocols");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("protocols/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("readable"))
        .collect()
}

/// Pieces that make mutations meaningful for RON: structure, numbers, garbage.
const FRAGMENTS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "\"",
    "NaN",
    "inf",
    "-inf",
    "-1e308",
    "1e999",
    "None",
    "Some(",
    "//",
    "/*",
    "*/",
    "0",
    "-0.0",
    "\u{1F9EA}",
    "\\",
    "id",
    "Hold(",
    "All([",
];

/// Applies one edit at a position chosen by `at` (a fraction of the text).
fn mutate(text: &str, edit: u8, at: f64, len: usize, fragment: usize) -> String {
    let mut pos = ((text.len() as f64) * at) as usize;
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let mut end = (pos + len).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let piece = FRAGMENTS[fragment % FRAGMENTS.len()];
    match edit % 4 {
        0 => format!("{}{}", &text[..pos], &text[end..]),
        1 => format!("{}{piece}{}", &text[..pos], &text[pos..]),
        2 => format!("{}{piece}{}", &text[..pos], &text[end..]),
        _ => text[..pos].to_string(),
    }
}

fn check(text: &str) -> Result<(), TestCaseError> {
    let lines = text.lines().count().max(1) as u32;
    match load_str(text, Path::new("mutated.ron")) {
        Ok(_) => Ok(()),
        Err(e) => {
            prop_assert!(!e.diagnostics.is_empty());
            for d in &e.diagnostics {
                prop_assert!(d.span.line >= 1 && d.span.line <= lines + 1, "{d:?}");
                prop_assert!(d.span.col >= 1);
            }
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn mutated_protocols_end_in_a_plan_or_a_diagnostic(
        file in 0..64usize,
        edits in prop::collection::vec((0..4u8, 0.0..1.0f64, 0..40usize, 0..64usize), 1..6),
    ) {
        let files = shipped();
        let mut text = files[file % files.len()].clone();
        for (edit, at, len, fragment) in edits {
            text = mutate(&text, edit, at, len, fragment);
        }
        check(&text)?;
    }

    #[test]
    fn random_text_ends_in_a_diagnostic(text in "\\PC{0,400}") {
        check(&text)?;
    }
}
