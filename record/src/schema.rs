//! The record file: its schema, creating it before a run, opening it afterwards, closing it.
//!
//! Tables: `meta` (the format marker), `run` (one row: inputs, plugin, start, end), `channels`
//! (what each sample column is, with its unit), `samples` (one row per sampled tick, wide by
//! signal), `events` (every event at its tick), `checkpoints` (lockstep resume points), `organ`
//! (the simulator parameters of an organ drawn from a cohort, by name; its seed is the `meta` row
//! `organ_seed`; both empty for the protocol's own organ). The `meta` row `params` holds the
//! run's `--param` texts (a JSON list; absent without any), the row `computed` the values the
//! plugin computed for the protocol's `computed` section as the run used them (a JSON object;
//! absent without any; a replay computes them again from the same inputs). The schema
//! version is SQLite's `user_version`; a newer one is refused, naming both.

use crate::names::{Names, quote};
use perfuse_core::run::Run;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::Path;

/// The schema this build writes and reads.
pub const SCHEMA_VERSION: i64 = 1;
/// The `meta` row that marks a perfuse record.
const FORMAT: &str = "perfuse-record";

/// What a run was started from: enough to run it again.
#[derive(Debug, Clone, Default)]
pub struct RunInputs {
    pub protocol_path: String,
    pub protocol_text: String,
    pub seed: u64,
    /// The seed of the organ drawn from a cohort (`None`: the protocol's organ).
    pub organ_seed: Option<u64>,
    pub scenario: Option<String>,
    pub duration_s: Option<f64>,
    /// `--fault` specifications as given.
    pub faults: Vec<String>,
    /// `--param KEY=VALUE` texts as given: the plugin parameters set over the file's.
    pub params: Vec<String>,
    /// The labs and commands files' text, when given.
    pub labs: Option<String>,
    pub commands: Option<String>,
    pub realtime: bool,
    /// Ticks between samples.
    pub sample_every_ticks: u64,
    /// Ticks between checkpoints (lockstep; 0: none).
    pub checkpoint_every_ticks: u64,
    /// The real devices the run drove instead of the simulator (`None`: the simulator).
    pub devices: Option<RecordedDevices>,
}

/// The devices of a `--hal modbus` run, as given: a resumed run reconnects to them, never to the
/// simulator. Kept as JSON in the `meta` row `devices`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecordedDevices {
    /// The device profile's path and text.
    pub profile_path: String,
    pub profile_text: String,
    /// Every device at this `host:port` instead of its profile's endpoint (`--devices`).
    pub endpoint: Option<String>,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Completed,
    /// The operator's Stop command.
    Stopped,
    /// SIGINT or SIGTERM.
    Signal(i32),
}

impl EndReason {
    pub fn text(self) -> String {
        match self {
            EndReason::Completed => "completed".into(),
            EndReason::Stopped => "stopped by the operator".into(),
            EndReason::Signal(2) => "signal SIGINT".into(),
            EndReason::Signal(15) => "signal SIGTERM".into(),
            EndReason::Signal(n) => format!("signal {n}"),
        }
    }
}

/// An open record being written.
pub struct RecordFile {
    pub conn: Connection,
    pub names: Names,
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("record {}: {e}", path.display())
}

/// Seconds since the Unix epoch, for start and end times.
pub fn now_unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The UTC calendar date and time of a Unix time: year, month, day, hour, minute, second
/// (proleptic Gregorian, from the days since 1970-01-01), for record names and reports.
pub fn utc_civil(unix_s: f64) -> (i64, i64, i64, i64, i64, i64) {
    let secs = unix_s.max(0.0).floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
}

/// Durable settings of every connection that writes: WAL, and a commit reaches the disk before
/// it returns, so a power cut loses nothing committed.
fn writing_pragmas(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
}

impl RecordFile {
    /// Creates the record of a run about to start, with its inputs. Refuses an existing file and
    /// an unwritable place before the run starts.
    pub fn create(path: &Path, run: &Run, inputs: &RunInputs) -> Result<Self, String> {
        if path.exists() {
            return Err(err(path, "exists already; choose another --record path"));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| err(path, format!("cannot create its directory: {e}")))?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )
        .map_err(|e| err(path, e))?;
        let names = Names::of(run);
        // One transaction: a kill leaves either no tables (not a record) or a whole run row.
        writing_pragmas(&conn)
            .and_then(|()| conn.execute_batch("BEGIN"))
            .and_then(|()| create_schema(&conn, &names))
            .and_then(|()| write_run(&conn, run, inputs))
            .and_then(|()| conn.execute_batch("COMMIT"))
            .map_err(|e| err(path, e))?;
        Ok(RecordFile { conn, names })
    }

    /// Opens an interrupted record to write on (resume).
    pub fn reopen(path: &Path, run: &Run) -> Result<Self, String> {
        let conn = open_existing(path, true)?;
        writing_pragmas(&conn).map_err(|e| err(path, e))?;
        Ok(RecordFile {
            conn,
            names: Names::of(run),
        })
    }

    /// Keeps where the run's devices are now (a resume told `--devices`), so that a later resume
    /// reconnects there.
    pub fn set_devices(&self, devices: &RecordedDevices) -> Result<(), String> {
        let json = serde_json::to_string(devices).map_err(|e| e.to_string())?;
        self.conn
            .execute("UPDATE meta SET value = ?1 WHERE key = 'devices'", [json])
            .map(drop)
            .map_err(|e| format!("the record's devices cannot be written: {e}"))
    }

    /// Replaces the run's labs and commands inputs with what the operator entered, scripted
    /// and live (from the console), so the record re-runs as it ran: replay, summary.
    pub fn set_operator_input(&self, labs: &str, commands: &str) -> Result<(), String> {
        self.conn
            .execute(
                "UPDATE run SET labs = ?1, commands = ?2",
                params![labs, commands],
            )
            .map(|_| ())
            .map_err(|e| format!("cannot record the operator's input: {e}"))
    }

    /// Writes how the run ended and its summary.
    pub fn finish(
        &self,
        reason: EndReason,
        end_tick: u64,
        summary_json: &str,
    ) -> Result<(), String> {
        self.conn
            .execute(
                "UPDATE run SET ended_at = ?1, end_reason = ?2, end_tick = ?3, summary = ?4",
                params![now_unix_s(), reason.text(), end_tick as i64, summary_json],
            )
            .map(|_| ())
            .map_err(|e| format!("cannot close the record: {e}"))
    }
}

fn create_schema(conn: &Connection, names: &Names) -> rusqlite::Result<()> {
    let mut sql = String::from(
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE run(
            id INTEGER PRIMARY KEY CHECK (id = 1),
            perfuse_version TEXT NOT NULL,
            protocol TEXT NOT NULL, protocol_path TEXT NOT NULL,
            protocol_text TEXT NOT NULL, protocol_sha256 TEXT NOT NULL,
            plugin_id TEXT NOT NULL, plugin_version TEXT NOT NULL, plugin_sha256 TEXT NOT NULL,
            seed INTEGER NOT NULL, scenario TEXT, duration_s REAL,
            faults TEXT NOT NULL, labs TEXT, commands TEXT,
            mode TEXT NOT NULL, period_s REAL NOT NULL,
            sample_every_ticks INTEGER NOT NULL, checkpoint_every_ticks INTEGER NOT NULL,
            started_at REAL NOT NULL,
            ended_at REAL, end_reason TEXT, end_tick INTEGER, summary TEXT);
         CREATE TABLE organ(param TEXT PRIMARY KEY, value REAL NOT NULL);
         CREATE TABLE channels(col INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, unit TEXT NOT NULL);
         CREATE TABLE events(
            seq INTEGER PRIMARY KEY, tick INTEGER NOT NULL, t_s REAL NOT NULL,
            kind TEXT NOT NULL, subject TEXT, change TEXT, priority TEXT,
            limit_value REAL, value REAL, accepted INTEGER, detail TEXT);
         CREATE INDEX events_tick ON events(tick);
         -- `state` is for a serialised run state (real-time resume), NULL while unused.
         CREATE TABLE checkpoints(tick INTEGER PRIMARY KEY, digest TEXT NOT NULL, state BLOB);
         CREATE TABLE samples(tick INTEGER PRIMARY KEY, t_s REAL NOT NULL, phase TEXT NOT NULL",
    );
    let plan = &names.plan;
    let mut channels = Vec::new();
    for s in &plan.signals {
        sql.push_str(&format!(
            ", {} REAL, {} INTEGER",
            quote(&s.id),
            quote(&format!("{}.validity", s.id))
        ));
        channels.push((s.id.clone(), "signal", s.unit.to_string()));
        channels.push((format!("{}.validity", s.id), "validity", String::new()));
    }
    for a in &plan.actuators {
        sql.push_str(&format!(", {} REAL", quote(&format!("cmd.{}", a.id))));
        channels.push((
            format!("cmd.{}", a.id),
            "command",
            a.kind.unit().to_string(),
        ));
    }
    sql.push_str(") WITHOUT ROWID;");
    sql.push_str(&format!("PRAGMA user_version = {SCHEMA_VERSION};"));
    conn.execute_batch(&sql)?;
    conn.execute("INSERT INTO meta VALUES ('format', ?1)", [FORMAT])?;
    let mut ins = conn.prepare("INSERT INTO channels VALUES (?1, ?2, ?3, ?4)")?;
    for (i, (name, kind, unit)) in channels.iter().enumerate() {
        ins.execute(params![i as i64, name, kind, unit])?;
    }
    Ok(())
}

fn write_run(conn: &Connection, run: &Run, inputs: &RunInputs) -> rusqlite::Result<()> {
    let faults = serde_json::to_string(&inputs.faults).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO run(id, perfuse_version, protocol, protocol_path, protocol_text,
            protocol_sha256, plugin_id, plugin_version, plugin_sha256, seed, scenario, duration_s,
            faults, labs, commands, mode, period_s, sample_every_ticks, checkpoint_every_ticks,
            started_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
        params![
            env!("CARGO_PKG_VERSION"),
            run.plan.name,
            inputs.protocol_path,
            inputs.protocol_text,
            sha256_hex(inputs.protocol_text.as_bytes()),
            run.plugin.id,
            run.plugin.version,
            run.plugin.sha256,
            inputs.seed as i64,
            inputs.scenario,
            inputs.duration_s,
            faults,
            inputs.labs,
            inputs.commands,
            if inputs.realtime { "realtime" } else { "lockstep" },
            run.plan.period_s,
            inputs.sample_every_ticks as i64,
            inputs.checkpoint_every_ticks as i64,
            now_unix_s(),
        ],
    )?;
    if !inputs.params.is_empty() {
        let params = serde_json::to_string(&inputs.params).unwrap_or_else(|_| "[]".into());
        conn.execute("INSERT INTO meta VALUES ('params', ?1)", [params])?;
    }
    if let Some(devices) = &inputs.devices {
        let json = serde_json::to_string(devices).unwrap_or_else(|_| "null".into());
        conn.execute("INSERT INTO meta VALUES ('devices', ?1)", [json])?;
    }
    if !run.plan.computed.is_empty() {
        let values: serde_json::Map<String, serde_json::Value> = run
            .plan
            .computed
            .iter()
            .map(|(name, v)| (name.clone(), serde_json::json!(v)))
            .collect();
        let json = serde_json::Value::Object(values).to_string();
        conn.execute("INSERT INTO meta VALUES ('computed', ?1)", [json])?;
    }
    if let Some(seed) = inputs.organ_seed {
        conn.execute(
            "INSERT INTO meta VALUES ('organ_seed', ?1)",
            [seed.to_string()],
        )?;
    }
    if let Some(organ) = &run.organ {
        let mut ins = conn.prepare("INSERT INTO organ VALUES (?1, ?2)")?;
        for (name, value) in &organ.params {
            ins.execute(params![name, value])?;
        }
    }
    Ok(())
}

/// The organ seed a record was run with (`None`: the protocol's organ, or a record from before
/// cohorts).
fn stored_organ_seed(conn: &Connection) -> Result<Option<u64>, String> {
    let text: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'organ_seed'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| format!("the record's organ seed cannot be read: {e}"))?;
    text.map(|t| {
        t.parse()
            .map_err(|_| format!("the record's organ seed `{t}` is not a number"))
    })
    .transpose()
}

/// Opens a record, refusing a file that is not a perfuse record or one of a newer schema.
pub fn open_existing(path: &Path, write: bool) -> Result<Connection, String> {
    if !path.is_file() {
        return Err(err(path, "no such file"));
    }
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| err(path, e))?;
    let not_record = || err(path, "is not a perfuse record");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|_| not_record())?;
    let format: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|_| not_record())?;
    if format.as_deref() != Some(FORMAT) {
        return Err(not_record());
    }
    if version > SCHEMA_VERSION {
        return Err(err(
            path,
            format!(
                "was written with record schema version {version}; this perfuse reads version {SCHEMA_VERSION} and older: use a newer perfuse"
            ),
        ));
    }
    Ok(conn)
}

/// The inputs stored in a record, to run it again.
#[derive(Debug, Clone)]
pub struct StoredRun {
    pub inputs: RunInputs,
    pub protocol_sha256: String,
    pub plugin_sha256: String,
    pub end_reason: Option<String>,
    pub end_tick: Option<u64>,
    pub summary: Option<String>,
}

pub fn stored_run(conn: &Connection) -> Result<StoredRun, String> {
    let mut stored = stored_run_row(conn)?;
    stored.inputs.organ_seed = stored_organ_seed(conn)?;
    stored.inputs.params = stored_params(conn)?;
    stored.inputs.devices = stored_devices(conn)?;
    Ok(stored)
}

/// The devices a record's run drove (`None`: the simulator, or a record from before devices
/// were kept).
fn stored_devices(conn: &Connection) -> Result<Option<RecordedDevices>, String> {
    let text: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'devices'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| format!("the record's devices cannot be read: {e}"))?;
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| format!("the record's devices `{t}` are malformed: {e}"))
    })
    .transpose()
}

/// The `--param` texts a record was run with (none for a record from before them).
fn stored_params(conn: &Connection) -> Result<Vec<String>, String> {
    let text: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'params'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| format!("the record's plugin parameters cannot be read: {e}"))?;
    text.map_or(Ok(Vec::new()), |t| {
        serde_json::from_str(&t)
            .map_err(|e| format!("the record's plugin parameters `{t}` are malformed: {e}"))
    })
}

fn stored_run_row(conn: &Connection) -> Result<StoredRun, String> {
    conn.query_row(
        "SELECT protocol_path, protocol_text, seed, scenario, duration_s, faults, labs, commands,
                mode, sample_every_ticks, checkpoint_every_ticks, protocol_sha256, plugin_sha256,
                end_reason, end_tick, summary FROM run WHERE id = 1",
        [],
        |r| {
            let faults: String = r.get(5)?;
            let mode: String = r.get(8)?;
            Ok(StoredRun {
                inputs: RunInputs {
                    protocol_path: r.get(0)?,
                    protocol_text: r.get(1)?,
                    seed: r.get::<_, i64>(2)? as u64,
                    organ_seed: None,
                    scenario: r.get(3)?,
                    duration_s: r.get(4)?,
                    faults: serde_json::from_str(&faults).unwrap_or_default(),
                    params: Vec::new(),
                    labs: r.get(6)?,
                    commands: r.get(7)?,
                    realtime: mode == "realtime",
                    sample_every_ticks: r.get::<_, i64>(9)? as u64,
                    checkpoint_every_ticks: r.get::<_, i64>(10)? as u64,
                    devices: None,
                },
                protocol_sha256: r.get(11)?,
                plugin_sha256: r.get(12)?,
                end_reason: r.get(13)?,
                end_tick: r.get::<_, Option<i64>>(14)?.map(|t| t as u64),
                summary: r.get(15)?,
            })
        },
    )
    .map_err(|e| format!("the record's run row cannot be read: {e}"))
}

/// The sha256 of a text, as the record stores the protocol's.
pub fn text_sha256(text: &str) -> String {
    sha256_hex(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::utc_civil;

    #[test]
    fn unix_times_map_to_their_utc_calendar_date() {
        assert_eq!(utc_civil(0.0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc_civil(951_868_799.0), (2000, 2, 29, 23, 59, 59));
        assert_eq!(utc_civil(1_795_980_001.7), (2026, 11, 29, 19, 20, 1));
    }
}
