//! perfuse-report: a run's report and perfusion quality score, from its record.
//!
//! [`data`] reads a record back (its plan compiled again from the protocol text it stores),
//! [`score`] scores it, [`single`] writes the page of one run and [`compare`] puts runs side by
//! side. Trends are inline SVG ([`plot`], decimated by [`decimate`] so no spike is lost): the page
//! needs no network, no script and no font file.

pub mod alarms;
pub mod compare;
pub mod data;
pub mod decimate;
pub mod page;
pub mod plot;
pub mod score;
pub mod single;
pub mod timeline;

use data::Record;
use std::path::{Path, PathBuf};

/// What `perfuse report` prints or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "html" => Ok(Format::Html),
            "json" => Ok(Format::Json),
            _ => Err(format!("--format {s}: expected html or json")),
        }
    }
}

/// The report of one or more records: the page (HTML) or the scores (JSON).
pub fn render(records: &[PathBuf], format: Format) -> Result<String, String> {
    if records.is_empty() {
        return Err("perfuse report: name at least one record".into());
    }
    let recs: Vec<Record> = records
        .iter()
        .map(|p| Record::read(p))
        .collect::<Result<_, _>>()?;
    match format {
        Format::Json => {
            let scores: Vec<serde_json::Value> = recs
                .iter()
                .map(|r| score::score(r).to_json(&r.path.display().to_string()))
                .collect();
            let v = match <[_; 1]>::try_from(scores) {
                Ok([one]) => one,
                Err(all) => serde_json::Value::Array(all),
            };
            serde_json::to_string_pretty(&v)
                .map(|s| s + "\n")
                .map_err(|e| e.to_string())
        }
        Format::Html => match recs.as_slice() {
            [one] => single::html(one),
            many => compare::html(many),
        },
    }
}

/// Writes the report to `out`, or to the first record's path with `.html` when none is given;
/// JSON goes to stdout unless `out` is given. Returns what to print.
pub fn run(records: &[PathBuf], out: Option<&Path>, format: Format) -> Result<String, String> {
    let text = render(records, format)?;
    let path = match (out, format) {
        (Some(p), _) => p.to_path_buf(),
        (None, Format::Json) => return Ok(text),
        (None, Format::Html) => records[0].with_extension("html"),
    };
    std::fs::write(&path, text.as_bytes())
        .map_err(|e| format!("cannot write the report {}: {e}", path.display()))?;
    Ok(format!("{}\n", path.display()))
}
