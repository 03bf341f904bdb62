//! Hand-made records: the record schema written directly with SQLite, so that a test states
//! every sample and event and knows the answer.

use perfuse_core::config;
use perfuse_record::rusqlite::{Connection, params};
use std::path::Path;

pub const KIDNEY_HMP: &str = include_str!("../../../protocols/kidney-hmp.ron");

/// One event row: (t_s, kind, subject, change, priority, accepted, detail).
pub struct Ev {
    pub t_s: f64,
    pub kind: &'static str,
    pub subject: &'static str,
    pub change: Option<&'static str>,
    pub priority: Option<&'static str>,
    pub accepted: Option<bool>,
    pub detail: Option<&'static str>,
}

impl Ev {
    pub fn new(t_s: f64, kind: &'static str, subject: &'static str) -> Ev {
        Ev {
            t_s,
            kind,
            subject,
            change: None,
            priority: None,
            accepted: None,
            detail: None,
        }
    }

    pub fn alarm(
        t_s: f64,
        subject: &'static str,
        change: &'static str,
        priority: &'static str,
    ) -> Ev {
        Ev {
            change: Some(change),
            priority: Some(priority),
            ..Ev::new(t_s, "alarm", subject)
        }
    }
}

/// A record of `protocol` sampled every second (100 ticks at 100 Hz) at the given times, each
/// sample's signal values from `value(signal id, t)` (None: NULL), in phase `phase`, with
/// `events`; `end_s` None leaves the run without an end (interrupted).
pub fn write(
    path: &Path,
    protocol: &str,
    phase: &str,
    times: impl Iterator<Item = f64>,
    value: impl Fn(&str, f64) -> Option<f64>,
    events: &[Ev],
    end_s: Option<f64>,
) {
    let plan = config::load_str(protocol, Path::new("protocols/test.ron"))
        .expect("protocol loads")
        .plan;
    let conn = Connection::open(path).unwrap();
    let mut cols = String::new();
    for s in &plan.signals {
        cols.push_str(&format!(", \"{0}\" REAL, \"{0}.validity\" INTEGER", s.id));
    }
    for a in &plan.actuators {
        cols.push_str(&format!(", \"cmd.{}\" REAL", a.id));
    }
    conn.execute_batch(&format!(
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO meta VALUES ('format', 'perfuse-record');
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
         CREATE TABLE channels(col INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, unit TEXT NOT NULL);
         CREATE TABLE events(
            seq INTEGER PRIMARY KEY, tick INTEGER NOT NULL, t_s REAL NOT NULL,
            kind TEXT NOT NULL, subject TEXT, change TEXT, priority TEXT,
            limit_value REAL, value REAL, accepted INTEGER, detail TEXT);
         CREATE TABLE samples(tick INTEGER PRIMARY KEY, t_s REAL NOT NULL, phase TEXT NOT NULL{cols}) WITHOUT ROWID;
         PRAGMA user_version = 1;"
    ))
    .unwrap();
    conn.execute(
        "INSERT INTO run VALUES (1, '0.1.0', ?1, 'protocols/test.ron', ?2, 'sha', 'kidney',
            '0.1.0', 'libsha', 7, NULL, NULL, '[]', NULL, NULL, 'lockstep', 0.01, 100, 6000,
            1764446400.0, ?3, ?4, ?5, NULL)",
        params![
            plan.name,
            protocol,
            end_s.map(|e| 1764446400.0 + e),
            end_s.map(|_| "completed"),
            end_s.map(|e| (e * 100.0).round() as i64)
        ],
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    let n = plan.signals.len();
    let placeholders: Vec<String> = (0..3 + 2 * n + plan.actuators.len())
        .map(|i| format!("?{}", i + 1))
        .collect();
    let sql = format!("INSERT INTO samples VALUES ({})", placeholders.join(", "));
    let mut ins = tx.prepare(&sql).unwrap();
    for t in times {
        let mut row: Vec<perfuse_record::rusqlite::types::Value> = vec![
            ((t * 100.0).round() as i64).into(),
            t.into(),
            phase.to_string().into(),
        ];
        for s in &plan.signals {
            row.push(value(&s.id, t).into());
            row.push(0i64.into());
        }
        for a in &plan.actuators {
            row.push(value(&format!("cmd.{}", a.id), t).into());
        }
        ins.execute(perfuse_record::rusqlite::params_from_iter(row))
            .unwrap();
    }
    drop(ins);
    for e in events {
        tx.execute(
            "INSERT INTO events(tick, t_s, kind, subject, change, priority, accepted, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                (e.t_s * 100.0).round() as i64,
                e.t_s,
                e.kind,
                e.subject,
                e.change,
                e.priority,
                e.accepted,
                e.detail
            ],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// The JSON score of a record, as `perfuse report --format json` prints it.
pub fn score_json(path: &Path) -> serde_json::Value {
    let text = perfuse_report::render(&[path.to_path_buf()], perfuse_report::Format::Json).unwrap();
    serde_json::from_str(&text).unwrap()
}
