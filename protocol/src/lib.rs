//! Protocol files: the RON format, loading with diagnostics, and validation into a [`plan::Plan`];
//! also labs and commands files, and device profiles through [`read_document`].
//!
//! A crate of its own so that protocols can be checked without the runtime: it depends on serde,
//! semver, the HAL's kinds and the plugin SDK's limits, not on the tick or the plugin loader. The
//! runtime (perfuse-core) re-exports it as `perfuse_core::config`.
//!
//! Loading never stops at the first problem: syntax errors aside (after which nothing can be
//! trusted), every type error, unknown field, missing field, non-finite number and semantic
//! problem of a file is reported at once, each with file, line, column, the field's path, what
//! was expected and what was found.

pub mod alarm_ids;
pub mod bounds;
mod commands;
pub mod computed;
mod de;
mod duration;
pub mod input_file;
mod labs;
pub mod plan;
mod ron_doc;
mod run_end;
pub mod run_params;
pub mod schema;
mod validate;

pub use alarm_ids::alarm_ids;
pub use commands::{
    OperatorAction, OperatorCommand, commands_text, load_commands, load_commands_str,
};
pub use de::Reference;
pub use duration::{parse_duration, parse_run_duration};
pub use labs::{LabEntry, labs_text, load_labs, load_labs_str};
pub use ron_doc::{Diagnostic, Span};
pub use run_end::run_end_s;
pub use run_params::{ParamOverride, parse_param};
pub use schema::*;
pub use validate::{Problem, compile};

use crate::plan::Plan;
use std::collections::BTreeMap;
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
            bounds::escaped(&self.file.display().to_string(), 200),
            self.diagnostics.len()
        )
    }
}

impl std::error::Error for LoadError {}

/// `file:line:column: path: expected …, found …`
///
/// What the file supplied (its name, a map key in the path, the value found) is echoed escaped and
/// shortened: a control character in a protocol file never reaches the terminal.
pub fn format_diagnostic(file: &Path, d: &Diagnostic) -> String {
    use bounds::escaped;
    let path = if d.path.is_empty() {
        "(document)".to_string()
    } else {
        escaped(&d.path, 200)
    };
    format!(
        "{}:{}:{}: {path}: expected {}, found {}",
        escaped(&file.display().to_string(), 200),
        d.span.line,
        d.span.col,
        escaped(&d.expected, 2000),
        escaped(&d.found, 200)
    )
}

/// A protocol file that passed every check, with its plan.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub file: ProtocolFile,
    pub plan: Plan,
    /// Finds the position of a field by path, for problems found later (e.g. by the plugin).
    root: ron_doc::Node,
    /// The file's references to computed values (`Of("name", factor)`). Until
    /// [`Loaded::resolve`] each reads as its value's lower end.
    pub references: Vec<Reference>,
}

impl Loaded {
    /// The names of the values the file's `computed` section asks the plugin for.
    pub fn computed_names(&self) -> Vec<String> {
        self.file
            .computed
            .iter()
            .flatten()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Writes the plugin's computed `values` into the file and the plan: refused (each problem
    /// at its declaration) when a declared value is missing, not finite or outside the file's
    /// interval. The plan keeps what the run set on it before (the plugin's `--param` values,
    /// the fingerprint, the device links); derived values are bound after this.
    pub fn resolve(&mut self, values: &BTreeMap<String, f64>) -> Result<(), Vec<Diagnostic>> {
        let located = |problems: Vec<Problem>| -> Vec<Diagnostic> {
            problems
                .into_iter()
                .map(|p| Diagnostic {
                    span: span_of(&self.root, &p.path),
                    path: p.path,
                    expected: p.expected,
                    found: p.found,
                })
                .collect()
        };
        let problems = computed::check_values(&self.file, values);
        if !problems.is_empty() {
            return Err(located(problems));
        }
        let declared: BTreeMap<String, f64> = self
            .file
            .computed
            .iter()
            .flatten()
            .map(|(name, _)| (name.clone(), values[name]))
            .collect();
        let (file, diagnostics, _) = de::from_node_with::<ProtocolFile>(&self.root, &declared);
        let file = match file {
            Some(file) if diagnostics.is_empty() => file,
            _ => return Err(diagnostics),
        };
        let mut plan = compile(&file).map_err(located)?;
        plan.plugin = self.plan.plugin.clone();
        plan.source_sha256 = std::mem::take(&mut self.plan.source_sha256);
        plan.links = std::mem::take(&mut self.plan.links);
        plan.computed = declared.into_iter().collect();
        self.file = file;
        self.plan = plan;
        Ok(())
    }

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

/// A RON document as [`read_document`] read it: where each of its values stands.
#[derive(Debug, Clone)]
pub struct Document {
    root: ron_doc::Node,
}

impl Document {
    /// Line and column of the field at `path`, or of its nearest enclosing field.
    pub fn span_of(&self, path: &str) -> Span {
        span_of(&self.root, path)
    }
}

/// The text of an input file (a protocol, labs, commands file or a device profile; `what` names
/// it in the diagnostic): a regular file under the size limit, in UTF-8.
pub fn read_file(path: &Path, what: &str) -> Result<String, LoadError> {
    input_file::read_text(path, what).map_err(|d| LoadError {
        file: path.to_path_buf(),
        diagnostics: vec![d],
    })
}

/// Parses and type-checks `src` as a `T`: the value and its document, or every problem found.
/// The one reader of every RON file perfuse takes: protocols, labs and commands files, device
/// profiles; all report every problem at once, each at its line and column.
pub fn read_document<T: serde::de::DeserializeOwned>(
    src: &str,
) -> Result<(T, Document), Vec<Diagnostic>> {
    let root = ron_doc::parse(src).map_err(|d| vec![d])?;
    match de::from_node::<T>(&root) {
        (Some(value), diagnostics) if diagnostics.is_empty() => Ok((value, Document { root })),
        (_, diagnostics) => Err(diagnostics),
    }
}

/// Reads, parses, type-checks and validates a protocol file.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    load_str(&read_file(path, "protocol")?, path)
}

/// As [`load`], from text; `path` only names the file in diagnostics.
pub fn load_str(src: &str, path: &Path) -> Result<Loaded, LoadError> {
    let checked = check_str(src);
    match checked.loaded {
        Some(loaded) => Ok(loaded),
        None => Err(LoadError {
            file: path.to_path_buf(),
            diagnostics: checked.diagnostics,
        }),
    }
}

/// A protocol file read as far as its problems allow, so that later checks (the plugin, the
/// simulator) can run on a file that failed validation and every problem is reported at once.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The file with its plan, when it passed every check.
    pub loaded: Option<Loaded>,
    /// Every problem found, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    /// The file's contents when it failed validation but every field has its type.
    unvalidated: Option<ProtocolFile>,
    root: Option<ron_doc::Node>,
}

impl Checked {
    /// The file's contents, when it parsed and every field has its type (other problems aside).
    pub fn file(&self) -> Option<&ProtocolFile> {
        self.loaded
            .as_ref()
            .map(|l| &l.file)
            .or(self.unvalidated.as_ref())
    }

    /// Line and column of the field at `path`, or of its nearest enclosing field (1:1 when the
    /// file did not parse).
    pub fn span_of(&self, path: &str) -> Span {
        let root = self.loaded.as_ref().map(|l| &l.root).or(self.root.as_ref());
        root.map_or(Span { line: 1, col: 1 }, |root| span_of(root, path))
    }
}

/// Reads and checks a protocol file as [`load`] does, keeping what could be read.
pub fn check(path: &Path) -> Checked {
    match read_file(path, "protocol") {
        Ok(src) => check_str(&src),
        Err(e) => Checked {
            loaded: None,
            diagnostics: e.diagnostics,
            unvalidated: None,
            root: None,
        },
    }
}

/// As [`check`], from text.
pub fn check_str(src: &str) -> Checked {
    let root = match ron_doc::parse(src) {
        Ok(root) => root,
        Err(d) => {
            return Checked {
                loaded: None,
                diagnostics: vec![d],
                unvalidated: None,
                root: None,
            };
        }
    };
    // As `read_document`, keeping the document when a field has the wrong type: `perfuse pin`
    // edits a file with problems at the position of its `plugin` field.
    let (file, references) = match de::from_node_with::<ProtocolFile>(&root, &BTreeMap::new()) {
        (Some(file), diagnostics, refs) if diagnostics.is_empty() => (file, refs),
        (_, diagnostics, _) => {
            return Checked {
                loaded: None,
                diagnostics,
                unvalidated: None,
                root: Some(root),
            };
        }
    };
    let mut problems = computed::check(&file, &references);
    // A reference in error reads as 0: what its value or struct would then break is not told.
    let broken: Vec<String> = problems
        .iter()
        .filter_map(|p| ron_doc::parent_path(&p.path).map(str::to_owned))
        .filter(|p| !p.is_empty())
        .collect();
    // The file at each combination of its computed values' ends; the first (all lower ends) is
    // the one loaded. Without computed values: the file as read, once.
    let mut first = None;
    for values in computed::corners(&file) {
        let at_corner = if values.is_empty() {
            Some(file.clone())
        } else {
            de::from_node_with::<ProtocolFile>(&root, &values).0
        };
        let Some(at_corner) = at_corner else { continue };
        match compile(&at_corner) {
            Ok(plan) => {
                first.get_or_insert((at_corner, plan));
            }
            Err(found) => {
                for p in found {
                    let seen = problems
                        .iter()
                        .any(|q| q.path == p.path && q.expected == p.expected)
                        || broken.iter().any(|b| p.path.starts_with(b.as_str()));
                    if !seen {
                        problems.push(Problem {
                            found: computed::at(&p.found, &values),
                            ..p
                        });
                    }
                }
            }
        }
    }
    match first {
        Some((file, plan)) if problems.is_empty() => Checked {
            loaded: Some(Loaded {
                file,
                plan,
                root,
                references,
            }),
            diagnostics: Vec::new(),
            unvalidated: None,
            root: None,
        },
        _ => {
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
            Checked {
                loaded: None,
                diagnostics,
                unvalidated: Some(file),
                root: Some(root),
            }
        }
    }
}
