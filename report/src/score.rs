//! The perfusion quality score, 0–100, and every part of it.
//!
//! Five parts, each with a maximum; the score is their sum. The formula is stated once, in
//! [`FORMULA`], and shown in the report and the README so that a reviewer can redo the sum.

use crate::alarms::{Episode, episodes, rank};
use crate::data::Record;
use serde_json::{Value, json};

pub const TARGETS_MAX: f64 = 50.0;
pub const ALARMS_MAX: f64 = 20.0;
pub const INTERVENTIONS_MAX: f64 = 10.0;
pub const FAULTS_MAX: f64 = 10.0;
pub const DATA_MAX: f64 = 10.0;

/// Points an alarm costs when raised, and per minute active, by priority (high, medium, low).
pub const ALARM_RAISE: [f64; 3] = [4.0, 1.0, 0.25];
pub const ALARM_MINUTE: [f64; 3] = [0.5, 0.1, 0.02];
/// Points one operator command costs (alarm handling excepted).
pub const INTERVENTION: f64 = 1.0;
/// Points one plugin fault costs.
pub const FAULT: f64 = 5.0;
/// A target reached later than its settle time loses its timeliness linearly over this long (or
/// over the settle time, when that is longer).
pub const LATE_WINDOW_S: f64 = 300.0;

/// The formula in words, as the report and the README print it.
pub const FORMULA: &str = "\
score = targets (50) + alarms (20) + interventions (10) + plugin faults (10) + data (10).
targets: every band of a phase that ran (a phase run and a signal with a band in the protocol) \
has an equal share of 50 points: share x (0.8 x in-band + 0.2 x timeliness). in-band is the \
fraction of the phase's samples after its settle time whose value is valid and inside the band; \
timeliness is 1 when the band was first reached within the settle time, falls linearly to 0 over \
max(settle time, 300 s) after it, and is 0 when never reached. A band with no sample after its \
settle time is not judged. No judged band: 50.
alarms: 20 - 4 per high, 1 per medium, 0.25 per low alarm raised - 0.5, 0.1, 0.02 per minute \
active (high, medium, low; priority when raised; an alarm still active at the end counts to the \
end), at least 0.
interventions: 10 - 1 per operator command (setpoints, phase advance or hold, stop; refused ones \
too; alarm handling, acknowledge and pause audio, is not counted), at least 0.
plugin faults: 10 - 5 per plugin fault, at least 0.
data: 10 x samples present / samples expected (one every sample interval from the first sample \
to the end of the run).";

/// One band judged.
#[derive(Debug, Clone)]
pub struct Target {
    pub phase: String,
    pub signal: String,
    pub unit: String,
    pub band: (f64, f64),
    pub settle_s: f64,
    /// Samples after settling.
    pub judged: usize,
    pub in_band: usize,
    pub time_to_target_s: Option<f64>,
    pub timeliness: f64,
    pub points: f64,
    pub share: f64,
}

impl Target {
    pub fn in_band_fraction(&self) -> f64 {
        if self.judged == 0 {
            0.0
        } else {
            self.in_band as f64 / self.judged as f64
        }
    }
}

/// Alarm counts and minutes by priority (high, medium, low).
#[derive(Debug, Clone, Default)]
pub struct AlarmBurden {
    pub count: [usize; 3],
    pub minutes: [f64; 3],
}

#[derive(Debug, Clone)]
pub struct Score {
    pub targets: Vec<Target>,
    /// Bands of phases that ran but had no sample after settling.
    pub not_judged: Vec<String>,
    pub targets_points: f64,
    pub alarms: AlarmBurden,
    pub alarms_points: f64,
    pub interventions: usize,
    pub interventions_points: f64,
    pub faults: usize,
    pub faults_points: f64,
    pub samples_present: u64,
    pub samples_expected: u64,
    pub largest_gap_s: f64,
    pub data_points: f64,
}

impl Score {
    pub fn total(&self) -> f64 {
        self.targets_points
            + self.alarms_points
            + self.interventions_points
            + self.faults_points
            + self.data_points
    }

    /// The total as shown: rounded to a whole point.
    pub fn shown(&self) -> i64 {
        self.total().round() as i64
    }

    /// (name, points, max, what it is made of) for each part, in the order of the formula.
    pub fn parts(&self) -> Vec<(&'static str, f64, f64, String)> {
        let a = &self.alarms;
        vec![
            (
                "targets",
                self.targets_points,
                TARGETS_MAX,
                format!(
                    "{} bands judged{}",
                    self.targets.len(),
                    if self.not_judged.is_empty() {
                        String::new()
                    } else {
                        format!(", {} not judged", self.not_judged.len())
                    }
                ),
            ),
            (
                "alarms",
                self.alarms_points,
                ALARMS_MAX,
                format!(
                    "high {} ({:.1} min), medium {} ({:.1} min), low {} ({:.1} min)",
                    a.count[0], a.minutes[0], a.count[1], a.minutes[1], a.count[2], a.minutes[2]
                ),
            ),
            (
                "interventions",
                self.interventions_points,
                INTERVENTIONS_MAX,
                format!("{} operator commands", self.interventions),
            ),
            (
                "plugin faults",
                self.faults_points,
                FAULTS_MAX,
                format!("{} faults", self.faults),
            ),
            (
                "data",
                self.data_points,
                DATA_MAX,
                format!(
                    "{} of {} samples, largest gap {:.0} s",
                    self.samples_present, self.samples_expected, self.largest_gap_s
                ),
            ),
        ]
    }

    pub fn to_json(&self, record: &str) -> Value {
        let targets: Vec<Value> = self
            .targets
            .iter()
            .map(|t| {
                json!({
                    "phase": t.phase, "signal": t.signal, "unit": t.unit,
                    "band": [t.band.0, t.band.1], "settle_s": t.settle_s,
                    "samples_judged": t.judged, "in_band": round3(t.in_band_fraction()),
                    "time_to_target_s": t.time_to_target_s, "timeliness": round3(t.timeliness),
                    "points": round3(t.points), "max": round3(t.share),
                })
            })
            .collect();
        let a = &self.alarms;
        json!({
            "record": record,
            "score": self.shown(),
            "total": round3(self.total()),
            "parts": {
                "targets": { "points": round3(self.targets_points), "max": TARGETS_MAX,
                             "bands": targets, "not_judged": self.not_judged },
                "alarms": { "points": round3(self.alarms_points), "max": ALARMS_MAX,
                            "count": { "high": a.count[0], "medium": a.count[1], "low": a.count[2] },
                            "minutes": { "high": round3(a.minutes[0]), "medium": round3(a.minutes[1]),
                                         "low": round3(a.minutes[2]) } },
                "interventions": { "points": round3(self.interventions_points),
                                   "max": INTERVENTIONS_MAX, "operator_commands": self.interventions },
                "plugin_faults": { "points": round3(self.faults_points), "max": FAULTS_MAX,
                                   "faults": self.faults },
                "data": { "points": round3(self.data_points), "max": DATA_MAX,
                          "samples_present": self.samples_present,
                          "samples_expected": self.samples_expected,
                          "largest_gap_s": round3(self.largest_gap_s) },
            },
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Scores a record.
pub fn score(rec: &Record) -> Score {
    let (targets, not_judged) = judge_targets(rec);
    let targets_points = if targets.is_empty() {
        TARGETS_MAX
    } else {
        targets.iter().map(|t| t.points).sum()
    };
    let alarms = burden(&episodes(rec), rec.span_s().1);
    let alarm_cost: f64 = (0..3)
        .map(|i| alarms.count[i] as f64 * ALARM_RAISE[i] + alarms.minutes[i] * ALARM_MINUTE[i])
        .sum();
    let interventions = rec
        .events
        .iter()
        .filter(|e| e.kind == "operator")
        .filter(|e| {
            !e.subject
                .as_deref()
                .is_some_and(|s| s.starts_with("acknowledge ") || s == "pause audio")
        })
        .count();
    let faults = rec
        .events
        .iter()
        .filter(|e| e.kind == "plugin_fault")
        .count();
    let (samples_present, samples_expected, largest_gap_s) = completeness(rec);
    Score {
        targets_points,
        not_judged,
        targets,
        alarms_points: (ALARMS_MAX - alarm_cost).max(0.0),
        alarms,
        interventions,
        interventions_points: (INTERVENTIONS_MAX - INTERVENTION * interventions as f64).max(0.0),
        faults,
        faults_points: (FAULTS_MAX - FAULT * faults as f64).max(0.0),
        samples_present,
        samples_expected,
        largest_gap_s,
        data_points: if samples_expected == 0 {
            0.0
        } else {
            DATA_MAX * samples_present as f64 / samples_expected as f64
        },
    }
}

/// Alarm counts and minutes by the priority each was raised with.
pub fn burden(episodes: &[Episode], record_end_s: f64) -> AlarmBurden {
    let mut b = AlarmBurden::default();
    for e in episodes {
        let i = rank(&e.priority);
        b.count[i] += 1;
        b.minutes[i] += e.minutes(record_end_s);
    }
    b
}

fn judge_targets(rec: &Record) -> (Vec<Target>, Vec<String>) {
    let mut judged = Vec::new();
    let mut not_judged = Vec::new();
    let period = rec.run.period_s;
    for (phase, first, end) in rec.phase_runs() {
        let plan = &rec.plan.phases[phase];
        let start = rec.phase_start_s(phase, first);
        for (s, target) in plan.targets.iter().enumerate() {
            let Some(band) = target.and_then(|t| t.band) else {
                continue;
            };
            let settle_s = target.map_or(0.0, |t| t.settle_ticks as f64 * period);
            let in_band = |i: usize| {
                let v = rec.signals[s][i];
                v.is_finite() && rec.validity[s][i] == 0 && v >= band.min && v <= band.max
            };
            let after: Vec<usize> = (first..end)
                .filter(|&i| rec.t_s[i] - start >= settle_s)
                .collect();
            let name = format!("{} in {}", rec.plan.signals[s].id, plan.id);
            if after.is_empty() {
                not_judged.push(name);
                continue;
            }
            let time_to_target_s = (first..end)
                .find(|&i| in_band(i))
                .map(|i| rec.t_s[i] - start);
            let timeliness = match time_to_target_s {
                None => 0.0,
                Some(t) if t <= settle_s => 1.0,
                Some(t) => (1.0 - (t - settle_s) / settle_s.max(LATE_WINDOW_S)).max(0.0),
            };
            judged.push(Target {
                phase: plan.id.clone(),
                signal: rec.plan.signals[s].id.clone(),
                unit: rec.plan.signals[s].unit.clone(),
                band: (band.min, band.max),
                settle_s,
                judged: after.len(),
                in_band: after.iter().filter(|&&i| in_band(i)).count(),
                time_to_target_s,
                timeliness,
                points: 0.0,
                share: 0.0,
            });
        }
    }
    let share = TARGETS_MAX / judged.len().max(1) as f64;
    for t in &mut judged {
        t.share = share;
        t.points = share * (0.8 * t.in_band_fraction() + 0.2 * t.timeliness);
    }
    (judged, not_judged)
}

/// Samples present and expected (one per sample interval from the first sample to the end of
/// the run, or to the last sample of an interrupted one), and the largest gap in seconds.
fn completeness(rec: &Record) -> (u64, u64, f64) {
    let every = rec.run.sample_every_ticks;
    let (Some(&first), Some(&last)) = (rec.ticks.first(), rec.ticks.last()) else {
        return (0, 0, 0.0);
    };
    let end = rec.run.end_tick.unwrap_or(last).max(last);
    let expected = (end - first) / every + 1;
    let present = rec.ticks.len() as u64;
    let mut largest = 0u64;
    for w in rec.ticks.windows(2) {
        largest = largest.max(w[1] - w[0] - every.min(w[1] - w[0]));
    }
    largest = largest.max((end - last) / every * every);
    (
        present.min(expected),
        expected,
        largest as f64 * rec.run.period_s,
    )
}
