//! The recorder: an output thread that writes the frames into the record.
//!
//! Events are committed as soon as their frame arrives; samples are gathered in a transaction
//! that is committed at least every second. When the run hangs up the queue, what is left is
//! committed and the connection is handed back for the run's end.

use crate::checkpoint;
use crate::names::{Names, quote};
use crate::schema::RecordFile;
use crossbeam_channel::RecvTimeoutError;
use perfuse_core::output::{Frame, FrameReceiver};
use perfuse_core::run::summary::command_text;
use perfuse_core::tick::events::{AlarmChange, Event, WATCHDOG_ALARM, WATCHDOG_TEXT};
use perfuse_core::tick::protocol::fault_reason;
use rusqlite::{Connection, params, params_from_iter, types::Value};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Samples wait at most this long in an open transaction: half the promised bound of one
/// second, leaving the other half for a frame's way through the queue.
const COMMIT_EVERY: Duration = Duration::from_millis(500);

/// What the recorder did, handed back when it ends.
pub struct Written {
    pub record: RecordFile,
    /// Why it stopped early (full disk, I/O error), if it did.
    pub error: Option<String>,
}

/// Starts the recorder on `frames`. `checkpoint_every_ticks` (0: none) marks the ticks whose
/// frame also becomes a checkpoint row.
pub fn spawn(
    record: RecordFile,
    frames: FrameReceiver,
    checkpoint_every_ticks: u64,
) -> std::io::Result<JoinHandle<Written>> {
    std::thread::Builder::new()
        .name("perfuse-record".into())
        .spawn(move || {
            let mut w = Writer {
                sample_sql: sample_sql(&record.names),
                record,
                overruns_seen: 0,
                checkpoint_every_ticks,
            };
            let error = w.run(&frames).err().map(|e| e.to_string());
            // Dropping the queue here tells the run the recorder failed.
            drop(frames);
            Written {
                record: w.record,
                error,
            }
        })
}

fn sample_sql(names: &Names) -> String {
    let cols = names.sample_columns();
    let list: Vec<String> = cols.iter().map(|c| quote(c)).collect();
    let marks: Vec<String> = (0..cols.len() + 3).map(|i| format!("?{}", i + 1)).collect();
    format!(
        "INSERT OR REPLACE INTO samples(tick, t_s, phase, {}) VALUES ({})",
        list.join(", "),
        marks.join(", ")
    )
}

struct Writer {
    record: RecordFile,
    sample_sql: String,
    overruns_seen: u64,
    checkpoint_every_ticks: u64,
}

impl Writer {
    fn run(&mut self, frames: &FrameReceiver) -> rusqlite::Result<()> {
        let mut open_since: Option<Instant> = None;
        loop {
            let wait = open_since.map_or(Duration::from_secs(3600), |t| {
                COMMIT_EVERY.saturating_sub(t.elapsed())
            });
            match frames.recv_timeout(wait) {
                Ok(f) => {
                    if open_since.is_none() {
                        self.record.conn.execute_batch("BEGIN")?;
                        open_since = Some(Instant::now());
                    }
                    let urgent = self.write_frame(&f)?;
                    if urgent || open_since.is_some_and(|t| t.elapsed() >= COMMIT_EVERY) {
                        self.record.conn.execute_batch("COMMIT")?;
                        open_since = None;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if open_since.take().is_some() {
                        self.record.conn.execute_batch("COMMIT")?;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    if open_since.take().is_some() {
                        self.record.conn.execute_batch("COMMIT")?;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Writes one frame; `true` when it held something that must be committed now.
    fn write_frame(&mut self, f: &Frame) -> rusqlite::Result<bool> {
        let conn = &self.record.conn;
        let names = &self.record.names;
        let period = names.plan.period_s;
        if f.sample {
            insert_sample(conn, &self.sample_sql, names, f)?;
        }
        let mut urgent = false;
        for e in f.events() {
            insert_event(conn, names, f, e)?;
            urgent = true;
        }
        let t_s = f.tick as f64 * period;
        if f.overruns > self.overruns_seen {
            conn.prepare_cached(
                "INSERT INTO events(tick, t_s, kind, value) VALUES (?1, ?2, 'overrun', ?3)",
            )?
            .execute(params![
                f.tick as i64,
                t_s,
                (f.overruns - self.overruns_seen) as i64
            ])?;
            self.overruns_seen = f.overruns;
            urgent = true;
        }
        if f.events_dropped > 0 {
            conn.prepare_cached(
                "INSERT INTO events(tick, t_s, kind, value) VALUES (?1, ?2, 'events_dropped', ?3)",
            )?
            .execute(params![f.tick as i64, t_s, f.events_dropped as i64])?;
            urgent = true;
        }
        if f.sample
            && self.checkpoint_every_ticks > 0
            && f.tick > 0
            && f.tick.is_multiple_of(self.checkpoint_every_ticks)
        {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO checkpoints(tick, digest) VALUES (?1, ?2)",
            )?
            .execute(params![f.tick as i64, checkpoint::digest(f)])?;
        }
        Ok(urgent)
    }
}

/// NaN (no value) is stored as NULL.
fn real(v: f64) -> Value {
    if v.is_finite() {
        Value::Real(v)
    } else {
        Value::Null
    }
}

fn insert_sample(conn: &Connection, sql: &str, names: &Names, f: &Frame) -> rusqlite::Result<()> {
    let plan = &names.plan;
    let mut row: Vec<Value> = Vec::with_capacity(3 + plan.signals.len() * 2 + plan.actuators.len());
    row.push(Value::Integer(f.tick as i64));
    row.push(Value::Real(f.tick as f64 * plan.period_s));
    row.push(Value::Text(plan.phases[f.phase].id.clone()));
    for i in 0..plan.signals.len() {
        row.push(real(f.values[i]));
        row.push(Value::Integer(i64::from(f.validity[i])));
    }
    for i in 0..plan.actuators.len() {
        row.push(real(f.commands[i]));
    }
    conn.prepare_cached(sql)?.execute(params_from_iter(row))?;
    Ok(())
}

fn change_text(c: AlarmChange) -> &'static str {
    match c {
        AlarmChange::ConditionBegan => "condition_began",
        AlarmChange::Raised => "raised",
        AlarmChange::Escalated => "escalated",
        AlarmChange::Acknowledged => "acknowledged",
        AlarmChange::AcknowledgementExpired => "acknowledgement_expired",
        AlarmChange::Reset => "reset",
        AlarmChange::Ended => "ended",
        AlarmChange::LogDropped => "log_dropped",
        AlarmChange::LogMerged => "log_merged",
    }
}

/// One event row. Columns unused by a kind stay NULL.
fn insert_event(conn: &Connection, names: &Names, f: &Frame, e: &Event) -> rusqlite::Result<()> {
    let plan = &names.plan;
    let subject: Option<String>;
    let mut change: Option<&str> = None;
    let mut priority: Option<&str> = None;
    let mut limit = Value::Null;
    let mut value = Value::Null;
    let mut accepted: Option<bool> = None;
    let mut detail: Option<String> = None;
    let kind = match *e {
        Event::PhaseStarted { phase } => {
            subject = Some(plan.phases[phase].id.clone());
            "phase"
        }
        Event::Alarm {
            alarm,
            change: c,
            priority: p,
            limit: l,
            value: v,
        } => {
            let a = &names.alarms[alarm];
            subject = Some(a.id.clone());
            change = Some(change_text(c));
            priority = Some(p.as_str());
            limit = real(l);
            value = real(v);
            if c == AlarmChange::Raised {
                detail = Some(
                    serde_json::json!({
                        "text": a.text,
                        "technical": a.technical,
                        "action": a.action,
                    })
                    .to_string(),
                );
            }
            "alarm"
        }
        Event::Operator {
            action,
            accepted: ok,
        } => {
            subject = Some(command_text(plan, &names.alarm_ids, action));
            accepted = Some(ok);
            if !ok {
                detail = Some(action.refusal().into());
            }
            "operator"
        }
        Event::Lab { sensor, value: v } => {
            subject = Some(plan.sensors[sensor].id.clone());
            value = real(v);
            "lab"
        }
        Event::Assessment { .. } => {
            let values: serde_json::Map<String, serde_json::Value> = names
                .derived
                .iter()
                .zip(&f.assessment)
                .map(|(n, v)| (n.clone(), serde_json::json!(v.is_finite().then_some(*v))))
                .collect();
            subject = Some(plan.phases[f.phase].id.clone());
            detail = Some(serde_json::Value::Object(values).to_string());
            "assessment"
        }
        Event::PluginFault { code } => {
            subject = Some(fault_reason(code).into());
            value = Value::Integer(i64::from(code));
            "plugin_fault"
        }
        Event::Sounding { priority: p } => {
            // What the audible signal does from this tick on: a priority, or silence.
            subject = Some(p.map_or("silent", |p| p.as_str()).into());
            priority = p.map(|p| p.as_str());
            "sounding"
        }
        Event::AudioPaused { until_tick } => {
            subject = Some("paused".into());
            value = Value::Real(until_tick as f64 * plan.period_s);
            detail = Some(format!(
                "{{\"until_s\":{}}}",
                until_tick as f64 * plan.period_s
            ));
            "audio"
        }
        Event::AudioResumed { early } => {
            subject = Some(if early { "resumed" } else { "pause_ended" }.into());
            "audio"
        }
        Event::RequestClamped {
            signal,
            requested,
            applied,
        } => {
            subject = Some(plan.signals[signal].id.clone());
            limit = real(applied);
            value = real(requested);
            "plugin_clamped"
        }
        Event::Watchdog {
            responding,
            silent_ms,
        } => {
            // The watchdog's alarm, recorded like the protocol's own: the report lists it.
            subject = Some(WATCHDOG_ALARM.into());
            change = Some(if responding { "ended" } else { "raised" });
            priority = Some("high");
            value = Value::Real(silent_ms as f64 / 1000.0);
            if !responding {
                detail = Some(
                    serde_json::json!({
                        "text": WATCHDOG_TEXT,
                        "technical": true,
                        "action": "check the controller; the devices are in their safe state",
                    })
                    .to_string(),
                );
            }
            "alarm"
        }
    };
    conn.prepare_cached(
        "INSERT INTO events(tick, t_s, kind, subject, change, priority, limit_value, value, accepted, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        f.tick as i64,
        f.tick as f64 * plan.period_s,
        kind,
        subject,
        change,
        priority,
        limit,
        value,
        accepted,
        detail
    ])?;
    Ok(())
}

/// Adds an event the run itself writes (e.g. `resumed`), committed at once.
pub fn insert_run_event(
    conn: &Connection,
    tick: u64,
    t_s: f64,
    kind: &str,
    detail: &str,
) -> Result<(), String> {
    conn.execute(
        "INSERT INTO events(tick, t_s, kind, detail) VALUES (?1, ?2, ?3, ?4)",
        params![tick as i64, t_s, kind, detail],
    )
    .map(|_| ())
    .map_err(|e| format!("cannot write the `{kind}` event: {e}"))
}
