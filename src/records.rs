//! `perfuse runs` and `perfuse export`: reading records without running anything.

use perfuse_record::export::{Format, export as export_tables};
use perfuse_record::list;
use std::path::Path;

/// The listing of the records in `dir`, one line each, oldest first.
pub fn runs(dir: &Path) -> Result<String, String> {
    let items = list::list(dir)?;
    let width = |f: &dyn Fn(&list::Listed) -> usize, min: usize| {
        items.iter().flatten().map(f).fold(min, usize::max)
    };
    let wf = width(&|r| r.file.display().to_string().chars().count(), 4);
    let wp = width(&|r| r.protocol.chars().count(), 8);
    let mut out = format!(
        "{:<wf$}  {:<wp$}  {:<13}  {:>8}  {:<24} alarms H/M/L\n",
        "file", "protocol", "start (UTC)", "duration", "end"
    );
    for item in items {
        match item {
            Ok(r) => out.push_str(&format!(
                "{:<wf$}  {:<wp$}  {:<13}  {:>8}  {:<24} {}/{}/{}\n",
                r.file.display(),
                r.protocol,
                &crate::wiring::utc_stamp(r.started_at)[..13],
                perfuse_core::run::status::clock_text(r.duration_s),
                r.end_reason.as_deref().unwrap_or("interrupted"),
                r.alarms[0],
                r.alarms[1],
                r.alarms[2]
            )),
            Err(e) => out.push_str(&format!("(skipped) {e}\n")),
        }
    }
    Ok(out)
}

/// Exports every table of a record into `dir`; returns the files written, one a line.
pub fn export(record: &Path, format: &str, dir: &Path) -> Result<String, String> {
    let format: Format = format.parse()?;
    let conn = perfuse_record::open_existing(record, false)?;
    let files = export_tables(&conn, format, dir)?;
    Ok(files.iter().map(|f| format!("{}\n", f.display())).collect())
}
