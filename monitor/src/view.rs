//! What the monitor shows, built from the run's frames on the monitor's own thread: the state
//! of the latest frame as JSON, and the trend of every signal over the last hour of run time.

use perfuse_core::output::{ALARM_ACKNOWLEDGED, ALARM_PAUSED, Frame};
use perfuse_core::run::status::{StatusNames, clock_text, priority_of};
use perfuse_core::tick::events::{WATCHDOG_ALARM, WATCHDOG_TEXT};
use perfuse_plugin_sdk::validity;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::fmt::Write as _;

/// Trend points kept: one per second of run time over an hour.
pub const TREND_POINTS: usize = 3600;

/// The view of a run: its names, its latest frame and its trend.
pub struct View {
    names: StatusNames,
    latest: Option<Frame>,
    /// Per trend point: its run time and every signal's value (NaN: none or invalid).
    trend: VecDeque<(f64, Vec<f64>)>,
    /// Run time of the last trend point, so one is taken per second of run time.
    last_point_s: f64,
    ended: bool,
    /// While the watchdog reports no control tick: the last tick done.
    not_responding_since: Option<u64>,
}

fn finite(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

fn validity_text(v: u8) -> &'static str {
    match v {
        validity::OK => "ok",
        validity::STALE => "stale",
        validity::STUCK => "stuck",
        _ => "invalid",
    }
}

impl View {
    pub fn new(names: StatusNames) -> Self {
        View {
            names,
            latest: None,
            trend: VecDeque::with_capacity(TREND_POINTS),
            last_point_s: f64::NEG_INFINITY,
            ended: false,
            not_responding_since: None,
        }
    }

    /// Takes a frame: the newest state, and a trend point once per second of run time.
    pub fn update(&mut self, f: &Frame) {
        // The watchdog's frame carries its alarm only: the state shown stays the last tick's.
        if let Some((responding, _)) = f.watchdog_event() {
            self.not_responding_since = (!responding).then_some(f.tick);
            return;
        }
        let t_s = f.tick as f64 * self.names.plan.period_s;
        if f.sample && t_s >= self.last_point_s + 1.0 - 1e-9 {
            let n = self.names.plan.signals.len();
            let values = (0..n)
                .map(|i| {
                    if f.validity[i] == validity::OK {
                        f.values[i]
                    } else {
                        f64::NAN
                    }
                })
                .collect();
            if self.trend.len() == TREND_POINTS {
                self.trend.pop_front();
            }
            self.trend.push_back((t_s, values));
            self.last_point_s = t_s;
        }
        self.latest = Some(*f);
    }

    /// The run has ended: the view keeps its last state.
    pub fn end(&mut self) {
        self.ended = true;
    }

    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The state of the latest frame (`GET /api/state` adds the trend, see [`View::trend_json`]).
    pub fn state(&self) -> Value {
        let plan = &self.names.plan;
        let Some(f) = &self.latest else {
            return json!({ "protocol": plan.name, "started": false, "ended": self.ended });
        };
        let t_s = f.tick as f64 * plan.period_s;
        let phase = &plan.phases[f.phase];
        let values: Vec<Value> = plan
            .signals
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let band = phase.targets[i].and_then(|t| t.band);
                let v = f.values[i];
                let out_of_band = band.is_some_and(|b| v.is_finite() && (v < b.min || v > b.max));
                json!({
                    "id": s.id,
                    "unit": s.unit,
                    "value": finite(v),
                    "validity": validity_text(f.validity[i]),
                    "setpoint": finite(f.setpoints[i]),
                    "band": band.map(|b| json!([b.min, b.max])),
                    "out_of_band": out_of_band,
                })
            })
            .collect();
        let derived: Vec<Value> = self
            .names
            .derived
            .iter()
            .zip(&f.derived)
            .map(|(id, &v)| json!({ "id": id, "value": finite(v) }))
            .collect();
        let mut alarms: Vec<(u8, u64, Value)> = self
            .names
            .alarms
            .iter()
            .zip(&f.alarms)
            .enumerate()
            .filter_map(|(i, ((id, text), &s))| {
                let p = priority_of(s)?;
                let since = f.alarm_since[i];
                let since_s = since as f64 * plan.period_s;
                Some((
                    s & 0x0f,
                    since,
                    json!({
                        "id": id,
                        "priority": p.as_str().to_uppercase(),
                        "text": text,
                        "technical": self.names.technical.get(i).copied().unwrap_or(false),
                        "acknowledged": s & ALARM_ACKNOWLEDGED != 0,
                        "paused": s & ALARM_PAUSED != 0,
                        "since_s": since_s,
                        "since": clock_text(since_s),
                    }),
                ))
            })
            .collect();
        // Highest priority first, then the oldest.
        alarms.sort_by_key(|(p, since, _)| (std::cmp::Reverse(*p), *since));
        // The watchdog's alarm first: nothing else shown is current while it stands.
        if let Some(tick) = self.not_responding_since {
            let since_s = tick as f64 * plan.period_s;
            let alarm = json!({
                "id": WATCHDOG_ALARM,
                "priority": "HIGH",
                "text": WATCHDOG_TEXT,
                "technical": true,
                "acknowledged": false,
                "paused": false,
                "since_s": since_s,
                "since": clock_text(since_s),
            });
            alarms.insert(0, (3, tick, alarm));
        }
        let paused_s = (f.audio_paused_until > f.tick)
            .then(|| (f.audio_paused_until - f.tick) as f64 * plan.period_s);
        json!({
            "protocol": plan.name,
            "started": true,
            "ended": self.ended,
            "phase": phase.id,
            "time_s": t_s,
            "clock": clock_text(t_s),
            "values": values,
            "derived": derived,
            "alarms": alarms.into_iter().map(|(_, _, a)| a).collect::<Vec<_>>(),
            "sounding": priority_of(f.sounding).map(|p| p.as_str().to_uppercase()),
            "audio_paused_remaining_s": paused_s,
            "overruns": f.overruns,
        })
    }

    /// The trend as JSON text: `{"t":[...],"series":{"id":[...],...}}`, values with four
    /// significant decimals at most, `null` where a value was missing or invalid. Written by hand
    /// because an hour of every signal is tens of thousands of numbers.
    pub fn trend_json(&self) -> String {
        let mut out =
            String::with_capacity(self.trend.len() * 8 * (1 + self.names.plan.signals.len()));
        out.push_str("{\"t\":[");
        for (k, (t, _)) in self.trend.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            let _ = write!(out, "{t:.0}");
        }
        out.push_str("],\"series\":{");
        for (i, s) in self.names.plan.signals.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::String(s.id.clone()).to_string());
            out.push_str(":[");
            for (k, (_, values)) in self.trend.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                number(&mut out, values[i]);
            }
            out.push(']');
        }
        out.push_str("}}");
        out
    }
}

/// A number with at most 4 decimals and no trailing zeros; `null` when not finite.
fn number(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push_str("null");
        return;
    }
    let start = out.len();
    let _ = write!(out, "{v:.4}");
    let trimmed = out[start..]
        .trim_end_matches('0')
        .trim_end_matches('.')
        .len();
    out.truncate(start + trimmed);
    if &out[start..] == "-0" || out[start..].is_empty() {
        out.truncate(start);
        out.push('0');
    }
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_are_short_and_valid_json() {
        let text = |v| {
            let mut s = String::new();
            number(&mut s, v);
            s
        };
        assert_eq!(text(30.0), "30");
        assert_eq!(text(8.61234), "8.6123");
        assert_eq!(text(-0.00001), "0");
        assert_eq!(text(0.5), "0.5");
        assert_eq!(text(f64::NAN), "null");
        assert_eq!(text(100.0), "100");
    }
}
