//! Alarm episodes rebuilt from the record's alarm events: each one from `raised` to `ended` (or
//! `reset`, or the end of the record), with its escalations and acknowledgements.

use crate::data::Record;

pub const PRIORITIES: [&str; 3] = ["high", "medium", "low"];

#[derive(Debug, Clone)]
pub struct Episode {
    pub alarm: String,
    pub text: String,
    /// Priority when raised.
    pub priority: String,
    /// The highest priority it reached (after escalations).
    pub top_priority: String,
    pub start_s: f64,
    /// `None`: still active when the record ends.
    pub end_s: Option<f64>,
    pub escalations: Vec<(f64, String)>,
    pub acks: Vec<f64>,
    pub limit: Option<f64>,
    pub value: Option<f64>,
    pub action: Option<String>,
}

impl Episode {
    /// Minutes active, counting an open episode to the end of the record.
    pub fn minutes(&self, record_end_s: f64) -> f64 {
        (self.end_s.unwrap_or(record_end_s) - self.start_s).max(0.0) / 60.0
    }
}

/// Rank of a priority name: 0 high, 1 medium, 2 low (unknown names rank as low).
pub fn rank(priority: &str) -> usize {
    PRIORITIES.iter().position(|p| *p == priority).unwrap_or(2)
}

/// The episodes in the order they were raised.
pub fn episodes(rec: &Record) -> Vec<Episode> {
    let mut out: Vec<Episode> = Vec::new();
    for e in rec.events.iter().filter(|e| e.kind == "alarm") {
        let Some(alarm) = e.subject.clone() else {
            continue;
        };
        let open = out
            .iter_mut()
            .rev()
            .find(|x| x.alarm == alarm && x.end_s.is_none());
        match (e.change.as_deref(), open) {
            (Some("raised"), _) => {
                let detail: serde_json::Value = e
                    .detail
                    .as_deref()
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or_default();
                let priority = e.priority.clone().unwrap_or_else(|| "low".into());
                out.push(Episode {
                    text: detail["text"].as_str().unwrap_or_default().to_string(),
                    action: detail["action"].as_str().map(str::to_string),
                    alarm,
                    top_priority: priority.clone(),
                    priority,
                    start_s: e.t_s,
                    end_s: None,
                    escalations: Vec::new(),
                    acks: Vec::new(),
                    limit: e.limit,
                    value: e.value,
                });
            }
            (Some("escalated"), Some(x)) => {
                let p = e.priority.clone().unwrap_or_default();
                if rank(&p) < rank(&x.top_priority) {
                    x.top_priority = p.clone();
                }
                x.escalations.push((e.t_s, p));
            }
            (Some("acknowledged"), Some(x)) => x.acks.push(e.t_s),
            (Some("ended") | Some("reset"), Some(x)) => x.end_s = Some(e.t_s),
            _ => {}
        }
    }
    out
}
