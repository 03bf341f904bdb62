//! Reading a record back into memory: its run row, its plan (compiled again from the protocol
//! text the record stores), its samples column by column and its events.

use perfuse_core::config;
use perfuse_core::plan::Plan;
use perfuse_record::open_existing;
use perfuse_record::rusqlite::{Connection, Row};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The run row, with what the protocol text adds (version, plugin and simulator parameters).
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub protocol: String,
    pub protocol_version: String,
    pub protocol_path: String,
    pub protocol_sha256: String,
    pub perfuse_version: String,
    pub plugin_id: String,
    pub plugin_version: String,
    pub plugin_sha256: String,
    pub seed: u64,
    pub scenario: Option<String>,
    pub faults: String,
    pub mode: String,
    pub period_s: f64,
    pub sample_every_ticks: u64,
    pub started_at: f64,
    pub ended_at: Option<f64>,
    pub end_reason: Option<String>,
    pub end_tick: Option<u64>,
    /// The summary JSON the run wrote at its end (none when interrupted).
    pub summary: Option<String>,
    pub plugin_params: BTreeMap<String, f64>,
    pub sim_model: String,
    /// The simulator's parameters of this run (the scenario's overrides applied).
    pub sim_params: BTreeMap<String, f64>,
}

/// One row of the `events` table.
#[derive(Debug, Clone, Default)]
pub struct EventRow {
    pub tick: u64,
    pub t_s: f64,
    pub kind: String,
    pub subject: Option<String>,
    pub change: Option<String>,
    pub priority: Option<String>,
    pub limit: Option<f64>,
    pub value: Option<f64>,
    pub accepted: Option<bool>,
    pub detail: Option<String>,
}

/// A record in memory. Sample columns hold NaN where the record has NULL.
#[derive(Debug, Clone)]
pub struct Record {
    pub path: PathBuf,
    pub run: RunInfo,
    pub plan: Plan,
    pub ticks: Vec<u64>,
    pub t_s: Vec<f64>,
    /// Index into `plan.phases` of each sample.
    pub phase: Vec<usize>,
    /// One column per plan signal.
    pub signals: Vec<Vec<f64>>,
    /// One column per plan signal: 0 ok, else stale, implausible or stuck.
    pub validity: Vec<Vec<i64>>,
    /// One column per plan actuator.
    pub commands: Vec<Vec<f64>>,
    pub events: Vec<EventRow>,
}

fn quote(id: &str) -> String {
    format!("\"{}\"", id.replace('"', "\"\""))
}

fn at(path: &Path, what: &str, e: impl std::fmt::Display) -> String {
    format!("record {}: {what}: {e}", path.display())
}

impl Record {
    /// Reads a whole record. A record that is not one, or whose protocol text no longer compiles,
    /// is refused with the reason.
    pub fn read(path: &Path) -> Result<Record, String> {
        let conn = open_existing(path, false)?;
        let (run, text) = run_row(&conn).map_err(|e| at(path, "the run row", e))?;
        let loaded = config::load_str(&text, Path::new(&run.protocol_path))
            .map_err(|e| at(path, "its protocol text does not load", e))?;
        let file = loaded.file;
        let sim_params = file
            .simulator
            .params_for(run.scenario.as_deref())
            .unwrap_or_default();
        // The plugin's parameters as the run gave them: its `--param` values over the file's.
        let mut plugin_params: Vec<(String, f64)> = file
            .plugin_params
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let given = perfuse_record::schema::stored_run(&conn)
            .map_err(|e| at(path, "the run row", e))?
            .inputs
            .params;
        config::run_params::apply(&mut plugin_params, &given)
            .map_err(|e| at(path, "its plugin parameters", e))?;
        let run = RunInfo {
            protocol_version: file.version.clone(),
            plugin_params: plugin_params.into_iter().collect(),
            sim_model: file.simulator.model.clone(),
            sim_params,
            ..run
        };
        let plan = loaded.plan;
        let mut rec = Record {
            path: path.to_path_buf(),
            run,
            ticks: Vec::new(),
            t_s: Vec::new(),
            phase: Vec::new(),
            signals: vec![Vec::new(); plan.signals.len()],
            validity: vec![Vec::new(); plan.signals.len()],
            commands: vec![Vec::new(); plan.actuators.len()],
            events: Vec::new(),
            plan,
        };
        rec.read_samples(&conn)
            .map_err(|e| at(path, "the samples", e))?;
        rec.events = events(&conn).map_err(|e| at(path, "the events", e))?;
        Ok(rec)
    }

    fn read_samples(&mut self, conn: &Connection) -> Result<(), String> {
        let plan = &self.plan;
        let mut cols = vec!["tick".to_string(), "t_s".into(), "phase".into()];
        for s in &plan.signals {
            cols.push(quote(&s.id));
            cols.push(quote(&format!("{}.validity", s.id)));
        }
        for a in &plan.actuators {
            cols.push(quote(&format!("cmd.{}", a.id)));
        }
        let sql = format!("SELECT {} FROM samples ORDER BY tick", cols.join(", "));
        let mut stmt = conn.prepare(&sql).map_err(|e| e.to_string())?;
        let mut rows = stmt.query([]).map_err(|e| e.to_string())?;
        let n = plan.signals.len();
        let phase_ids: Vec<&str> = plan.phases.iter().map(|p| p.id.as_str()).collect();
        while let Some(r) = rows.next().map_err(|e| e.to_string())? {
            let tick: i64 = r.get(0).map_err(|e| e.to_string())?;
            let phase: String = r.get(2).map_err(|e| e.to_string())?;
            let p = phase_ids
                .iter()
                .position(|id| *id == phase)
                .ok_or_else(|| format!("tick {tick}: phase `{phase}` is not in the protocol"))?;
            self.ticks.push(tick as u64);
            self.t_s.push(r.get(1).map_err(|e| e.to_string())?);
            self.phase.push(p);
            for i in 0..n {
                self.signals[i].push(real(r, 3 + 2 * i)?);
                let v: Option<i64> = r.get(4 + 2 * i).map_err(|e| e.to_string())?;
                self.validity[i].push(v.unwrap_or(0));
            }
            for (j, c) in self.commands.iter_mut().enumerate() {
                c.push(real(r, 3 + 2 * n + j)?);
            }
        }
        Ok(())
    }

    /// Seconds from the first to the last sample.
    pub fn span_s(&self) -> (f64, f64) {
        match (self.t_s.first(), self.t_s.last()) {
            (Some(a), Some(b)) => (*a, *b),
            _ => (0.0, 0.0),
        }
    }

    /// The phases in the order they ran: phase index, first and one-past-last sample index.
    pub fn phase_runs(&self) -> Vec<(usize, usize, usize)> {
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        for (i, &p) in self.phase.iter().enumerate() {
            match runs.last_mut() {
                Some(last) if last.0 == p => last.2 = i + 1,
                _ => runs.push((p, i, i + 1)),
            }
        }
        runs
    }

    /// When a phase run started: its `phase` event, or its first sample when the record has none.
    pub fn phase_start_s(&self, phase: usize, first_sample: usize) -> f64 {
        let t = self.t_s[first_sample];
        let id = &self.plan.phases[phase].id;
        self.events
            .iter()
            .filter(|e| e.kind == "phase" && e.subject.as_deref() == Some(id) && e.t_s <= t)
            .map(|e| e.t_s)
            .next_back()
            .unwrap_or(t)
    }

    /// The scenario run: the one named, else the protocol's default, else none.
    pub fn scenario_text(&self) -> String {
        match (&self.run.scenario, &self.plan.default_scenario) {
            (Some(s), _) => s.clone(),
            (None, Some(d)) => format!("{d} (the default)"),
            (None, None) => "none".into(),
        }
    }

    /// The file name, to tell runs apart.
    pub fn label(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into(),
        )
    }
}

fn real(r: &Row, i: usize) -> Result<f64, String> {
    let v: Option<f64> = r.get(i).map_err(|e| e.to_string())?;
    Ok(v.unwrap_or(f64::NAN))
}

fn run_row(conn: &Connection) -> Result<(RunInfo, String), String> {
    conn.query_row(
        "SELECT protocol, protocol_path, protocol_text, protocol_sha256, perfuse_version,
                plugin_id, plugin_version, plugin_sha256, seed, scenario, faults, mode, period_s,
                sample_every_ticks, started_at, ended_at, end_reason, end_tick, summary
         FROM run WHERE id = 1",
        [],
        |r| {
            Ok((
                RunInfo {
                    protocol: r.get(0)?,
                    protocol_version: String::new(),
                    protocol_path: r.get(1)?,
                    protocol_sha256: r.get(3)?,
                    perfuse_version: r.get(4)?,
                    plugin_id: r.get(5)?,
                    plugin_version: r.get(6)?,
                    plugin_sha256: r.get(7)?,
                    seed: r.get::<_, i64>(8)? as u64,
                    scenario: r.get(9)?,
                    faults: r.get(10)?,
                    mode: r.get(11)?,
                    period_s: r.get(12)?,
                    sample_every_ticks: r.get::<_, i64>(13)?.max(1) as u64,
                    started_at: r.get(14)?,
                    ended_at: r.get(15)?,
                    end_reason: r.get(16)?,
                    end_tick: r.get::<_, Option<i64>>(17)?.map(|t| t as u64),
                    summary: r.get(18)?,
                    plugin_params: BTreeMap::new(),
                    sim_model: String::new(),
                    sim_params: BTreeMap::new(),
                },
                r.get(2)?,
            ))
        },
    )
    .map_err(|e| e.to_string())
}

fn events(conn: &Connection) -> Result<Vec<EventRow>, String> {
    let mut stmt = conn
        .prepare(
            "SELECT tick, t_s, kind, subject, change, priority, limit_value, value, accepted, detail
             FROM events ORDER BY seq",
        )
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([], |r| {
            Ok(EventRow {
                tick: r.get::<_, i64>(0)? as u64,
                t_s: r.get(1)?,
                kind: r.get(2)?,
                subject: r.get(3)?,
                change: r.get(4)?,
                priority: r.get(5)?,
                limit: r.get(6)?,
                value: r.get(7)?,
                accepted: r.get::<_, Option<i64>>(8)?.map(|a| a != 0),
                detail: r.get(9)?,
            })
        })
        .map_err(|e| e.to_string())?;
    rows.collect::<Result<_, _>>().map_err(|e| e.to_string())
}
