//! Protocol files: the RON format, loading with diagnostics, and validation.
//!
//! Loading never stops at the first problem: syntax errors aside (after which nothing can be
//! trusted), every type error, unknown field, missing field, non-finite number and semantic
//! problem of a file is reported at once, each with file, line, column, the field's path, what
//! was expected and what was found.

mod commands;
mod de;
mod duration;
mod labs;
mod ron_doc;
pub mod schema;
mod validate;

pub use commands::{OperatorAction, OperatorCommand, alarm_ids, load_commands, load_commands_str};
pub use duration::parse_duration;
pub use labs::{LabEntry, load_labs, load_labs_str};
pub use ron_doc::{Diagnostic, Span};
pub use schema::*;
pub use validate::{Problem, compile};

use crate::plan::Plan;
use std::fmt;
use std::path::{Path, PathBuf};

/// Everything wrong with one protocol file.
#[derive(Debug, Clone)]
pub struct LoadError {
    pub file: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{}", format_diagnostic(&self.file, d))?;
        }
        write!(
            f,
            "{}: {} problem(s)",
            self.file.display(),
            self.diagnostics.len()
        )
    }
}

impl std::error::Error for LoadError {}

/// `file:line:column: path: expected …, found …`
pub fn format_diagnostic(file: &Path, d: &Diagnostic) -> String {
    let path = if d.path.is_empty() {
        "(document)"
    } else {
        &d.path
    };
    format!(
        "{}:{}:{}: {path}: expected {}, found {}",
        file.display(),
        d.span.line,
        d.span.col,
        d.expected,
        d.found
    )
}

/// A protocol file that passed every check, with its plan.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub file: ProtocolFile,
    pub plan: Plan,
    /// Finds the position of a field by path, for problems found later (e.g. by the plugin).
    root: ron_doc::Node,
}

impl Loaded {
    /// Line and column of the field at `path`, or of its nearest enclosing field.
    pub fn span_of(&self, path: &str) -> Span {
        span_of(&self.root, path)
    }
}

fn span_of(root: &ron_doc::Node, path: &str) -> Span {
    let mut p = path;
    loop {
        if let Some(s) = root.span_at(p) {
            return s;
        }
        match p.rfind(['.', '[']) {
            Some(i) => p = &p[..i],
            None => return root.span(),
        }
    }
}

/// Reads, parses, type-checks and validates a protocol file.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let src = std::fs::read_to_string(path).map_err(|e| LoadError {
        file: path.to_path_buf(),
        diagnostics: vec![Diagnostic {
            span: Span { line: 1, col: 1 },
            path: String::new(),
            expected: "a readable UTF-8 protocol file".into(),
            found: e.to_string(),
        }],
    })?;
    load_str(&src, path)
}

/// As [`load`], from text; `path` only names the file in diagnostics.
pub fn load_str(src: &str, path: &Path) -> Result<Loaded, LoadError> {
    let fail = |diagnostics| LoadError {
        file: path.to_path_buf(),
        diagnostics,
    };
    let root = ron_doc::parse(src).map_err(|d| fail(vec![d]))?;
    let (file, diagnostics) = de::from_node::<ProtocolFile>(&root);
    let file = match file {
        Some(file) if diagnostics.is_empty() => file,
        _ => return Err(fail(diagnostics)),
    };
    match compile(&file) {
        Ok(plan) => Ok(Loaded { file, plan, root }),
        Err(problems) => {
            let mut diagnostics: Vec<Diagnostic> = problems
                .into_iter()
                .map(|p| Diagnostic {
                    span: span_of(&root, &p.path),
                    path: p.path,
                    expected: p.expected,
                    found: p.found,
                })
                .collect();
            diagnostics.sort_by_key(|d| (d.span.line, d.span.col));
            Err(fail(diagnostics))
        }
    }
}
