//! Listing the records of a directory: file, protocol, start, duration, end reason, alarms.

use crate::schema::open_existing;
use std::path::{Path, PathBuf};

/// One record as `perfuse runs` lists it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub file: PathBuf,
    pub protocol: String,
    pub started_at: f64,
    /// Run time recorded (to the end, or to the last sample of an interrupted run).
    pub duration_s: f64,
    /// `None`: the run has no end: it was interrupted.
    pub end_reason: Option<String>,
    /// Alarms raised, by priority: high, medium, low.
    pub alarms: [u64; 3],
}

/// Reads one record's listing.
pub fn read(path: &Path) -> Result<Listed, String> {
    let conn = open_existing(path, false)?;
    let e = |x: rusqlite::Error| format!("{}: {x}", path.display());
    let (protocol, started_at, end_reason, end_tick, period): (
        String,
        f64,
        Option<String>,
        Option<i64>,
        f64,
    ) = conn
        .query_row(
            "SELECT protocol, started_at, end_reason, end_tick, period_s FROM run",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .map_err(e)?;
    let last: Option<i64> = conn
        .query_row(
            "SELECT max(tick) FROM (SELECT max(tick) AS tick FROM samples UNION ALL SELECT max(tick) FROM events)",
            [],
            |r| r.get(0),
        )
        .map_err(e)?;
    let mut alarms = [0; 3];
    for (i, p) in ["high", "medium", "low"].iter().enumerate() {
        alarms[i] = conn
            .query_row(
                "SELECT count(*) FROM events WHERE kind = 'alarm' AND change = 'raised' AND priority = ?1",
                [p],
                |r| r.get::<_, i64>(0),
            )
            .map_err(e)? as u64;
    }
    Ok(Listed {
        file: path.to_path_buf(),
        protocol,
        started_at,
        duration_s: end_tick.or(last).unwrap_or(0) as f64 * period,
        end_reason,
        alarms,
    })
}

/// Every record in `dir` (files ending in `.sqlite`), oldest first; files that are not records
/// are reported with their problem.
pub fn list(dir: &Path) -> Result<Vec<Result<Listed, String>>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sqlite"))
        .collect();
    files.sort();
    Ok(files.iter().map(|f| read(f)).collect())
}
