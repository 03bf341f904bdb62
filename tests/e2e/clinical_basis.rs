//! The clinical basis is in the repository: every `§` reference in the protocol files, the code,
//! the tests and the README names a numbered heading of `docs/clinical-basis.md`.
//!
//! A reference is `§`, an optional space, and a section number: digits, then either one capital
//! letter (`§4A`) or dotted digits (`§10.2`); a trailing full stop ends the sentence, not the
//! number. A `§` not followed by a digit (as in "§ of docs/clinical-basis.md") is prose.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The document the references resolve to.
const BASIS: &str = "docs/clinical-basis.md";
/// Directories scanned in full (every file, at any depth).
const SCANNED_DIRS: &[&str] = &["protocols", "plugins", "hal-sim", "core", "src", "tests"];
/// Single files scanned besides them; the document's own cross-references must resolve too.
const SCANNED_FILES: &[&str] = &["README.md", BASIS];
/// About 630 references exist outside the document (335 in protocols/); far fewer means the scan
/// or the citation form broke.
const MIN_REFERENCES: usize = 150;

/// One `§` reference found in a file.
struct Reference {
    file: PathBuf,
    line: usize,
    section: String,
}

/// The section number at the start of `text` (the text right after `§`), or `None` when `text`
/// does not start with a digit.
fn section_number(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut end = digits(0);
    if end == 0 {
        return None;
    }
    if bytes.get(end).is_some_and(u8::is_ascii_uppercase) {
        end += 1;
    } else {
        // `.digits` continues the number; a `.` without digits after it ends the sentence.
        while bytes.get(end) == Some(&b'.') {
            let more = digits(end + 1);
            if more == 0 {
                break;
            }
            end += 1 + more;
        }
    }
    Some(&text[..end])
}

/// Every `§` reference in `text`, as (line number from 1, section number).
fn references_in(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for (at, _) in line.match_indices('§') {
            let after = &line[at + '§'.len_utf8()..];
            let after = after.strip_prefix(' ').unwrap_or(after);
            if let Some(section) = section_number(after) {
                found.push((index + 1, section.to_owned()));
            }
        }
    }
    found
}

/// The section number of every numbered Markdown heading (`## 4.`, `### 4A.`, `### 10.2 ...`).
/// A number given twice is an error: a reference to it would be ambiguous.
fn headings_in(text: &str) -> Result<BTreeSet<String>, String> {
    let mut sections = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        let Some(title) = line.strip_prefix('#') else {
            continue;
        };
        let title = title.trim_start_matches('#').trim_start();
        let title = title.strip_prefix('§').unwrap_or(title);
        let Some(section) = section_number(title) else {
            continue;
        };
        let after = title[section.len()..].chars().next();
        if !matches!(after, None | Some('.' | ' ')) {
            continue;
        }
        if !sections.insert(section.to_owned()) {
            return Err(format!(
                "{BASIS}:{}: section {section} has a second heading",
                index + 1
            ));
        }
    }
    Ok(sections)
}

/// Every file under `dir`, at any depth, in a stable order.
fn files_under(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_under(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// The references of one file, read as text (the sign is searched in every file, so invalid
/// UTF-8 elsewhere in a file cannot hide one).
fn references_of_file(root: &Path, path: &Path) -> Vec<Reference> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let text = String::from_utf8_lossy(&bytes);
    let file = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    references_in(&text)
        .into_iter()
        .map(|(line, section)| Reference {
            file: file.clone(),
            line,
            section,
        })
        .collect()
}

#[test]
fn every_section_reference_resolves_to_a_heading_of_the_clinical_basis() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let basis =
        fs::read_to_string(root.join(BASIS)).unwrap_or_else(|e| panic!("cannot read {BASIS}: {e}"));
    let sections = headings_in(&basis).unwrap_or_else(|e| panic!("{e}"));

    let mut references = Vec::new();
    for dir in SCANNED_DIRS {
        let mut files = Vec::new();
        files_under(&root.join(dir), &mut files);
        assert!(!files.is_empty(), "{dir}/ has no files to scan");
        for path in &files {
            references.extend(references_of_file(root, path));
        }
    }
    for file in SCANNED_FILES {
        references.extend(references_of_file(root, &root.join(file)));
    }

    let unresolved: Vec<String> = references
        .iter()
        .filter(|r| !sections.contains(&r.section))
        .map(|r| format!("{}:{}: §{}", r.file.display(), r.line, r.section))
        .collect();
    assert!(
        unresolved.is_empty(),
        "{} § reference(s) name no heading of {BASIS} (its sections: {}):\n{}",
        unresolved.len(),
        sections.iter().cloned().collect::<Vec<_>>().join(", "),
        unresolved.join("\n")
    );
    assert!(
        references.len() > MIN_REFERENCES,
        "only {} § references found; expected more than {MIN_REFERENCES}",
        references.len()
    );
    // The protocol files cite the basis too, not only the code.
    let in_protocols = references
        .iter()
        .filter(|r| r.file.starts_with("protocols"))
        .count();
    assert!(
        in_protocols > 50,
        "only {in_protocols} § references in protocols/"
    );
}

#[test]
fn the_reference_forms_in_use_are_read_as_meant() {
    // The sign is escaped here so that these samples are not themselves scanned as references.
    let text = "a (\u{a7}4A/\u{a7}9) b\n\u{a7}10.2. end\n\
                \u{a7}1A's \u{a7}11.3 \u{a7} 7 [S 7-2]\n\u{a7} of the basis, \u{a7}x\n";
    let references = references_in(text);
    let found: Vec<(usize, &str)> = references
        .iter()
        .map(|(line, section)| (*line, section.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (1, "4A"),
            (1, "9"),
            (2, "10.2"),
            (3, "1A"),
            (3, "11.3"),
            (3, "7")
        ]
    );

    let headings = "# Title\n## How to read\n## 1. Heart\n### 1A. NESHP\n### 10.2 Numbers\n\
                    ## \u{a7}12 Later\n## Open points\n";
    let sections: Vec<String> = headings_in(headings).unwrap().into_iter().collect();
    assert_eq!(sections, ["1", "10.2", "12", "1A"]);
    assert!(headings_in("## 4A. One\n### 4A. Two\n").is_err());
}
