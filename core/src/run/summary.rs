//! The run summary: the machine-readable contract that tests, benchmarks and protocol authors
//! build on. Maps are ordered so that the same run always serialises to the same text.

use super::Run;
use crate::config::OperatorAction;
use crate::plan::{ActionPlan, Plan};
use crate::tick::dose::DoseWindow;
use crate::tick::protocol::fault_reason;
use crate::tick::state::ActuatorChannel;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PluginSummary {
    pub id: String,
    pub version: String,
    pub sha256: String,
    /// Why the library was loaded: `pinned`, `release` or `untrusted (allowed)`.
    pub trust: String,
    /// Why the plugin was marked faulted, and when; null while it behaved.
    pub fault: Option<String>,
    pub fault_s: Option<f64>,
    /// Times a setpoint request began to be clamped into its phase's band (an episode of
    /// consecutive clamped ticks counts once; each is an event in the record).
    pub clamped_requests: u64,
    /// The parameters the run set with `--param`, over the file's `plugin_params` (empty
    /// without any).
    pub params_overridden: BTreeMap<String, f64>,
    /// The parameters the simulated organ or patient set (a drawn or scenario body surface
    /// area, weight or organ mass the plugin also takes by that name), over the file's.
    pub params_entered: BTreeMap<String, f64>,
    /// The values the plugin computed for the file's `computed` section, as the run used them
    /// in place of the file's `Of("name", factor)` (empty without any).
    pub computed: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChannelSummary {
    pub unit: String,
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub max: Option<f64>,
    /// Fraction of the time with a band in force that the signal was inside it; null without a band.
    pub in_band_fraction: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActuatorSummary {
    pub unit: String,
    pub min: f64,
    pub mean: f64,
    pub max: f64,
    /// What an infusion pump with a dose cap delivered over the run; null otherwise.
    pub delivered_ml: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AssessmentSummary {
    pub t_s: f64,
    pub phase: String,
    pub values: BTreeMap<String, Option<f64>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlarmSummary {
    pub id: String,
    pub priority: String,
    pub technical: bool,
    pub text: String,
    pub first_s: f64,
    pub count: u32,
    /// The highest priority it reached (escalation included).
    pub highest_priority: String,
    pub active_at_end: bool,
}

/// One activation of an alarm, from the alarm log.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlarmLogSummary {
    pub id: String,
    /// The priority when raised.
    pub priority: String,
    /// When the condition began to hold, before the persistence ran.
    pub condition_s: f64,
    pub start_s: f64,
    /// Null while still active at the end.
    pub end_s: Option<f64>,
    /// The limit in force and the value that triggered it (null for sensor-health rules).
    pub limit: Option<f64>,
    pub value: Option<f64>,
    /// The automatic action taken.
    pub action: String,
    pub acknowledged_s: Option<f64>,
    pub escalated_s: Option<f64>,
    /// The priority escalation raised it to.
    pub escalated_to: Option<String>,
    /// When the operator reset it (a latched alarm).
    pub reset_s: Option<f64>,
    /// Activations this entry stands for (more than 1 once the log was full).
    pub activations: u32,
}

/// The audible signal over the run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AudioSummary {
    pub pauses: u32,
    pub sounding_at_end: bool,
    /// The priority it sounded with at the end (null: silent).
    pub sounding_priority_at_end: Option<String>,
    /// What sounded when: every change of the sounding priority (null: silent).
    pub timeline: Vec<SoundingSummary>,
    /// Changes beyond the room kept for the timeline.
    pub timeline_dropped: u32,
}

/// From `t_s` on, the audible signal sounds with `priority` (null: silent).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SoundingSummary {
    pub t_s: f64,
    pub priority: Option<String>,
}

/// One laboratory value the operator entered during the run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabSummary {
    pub t_s: f64,
    pub sensor: String,
    pub value: f64,
}

/// One operator command and whether it was carried out.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OperatorSummary {
    pub t_s: f64,
    pub command: String,
    pub accepted: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PhaseSummary {
    pub id: String,
    pub start_s: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub protocol: String,
    pub plugin: PluginSummary,
    pub seed: u64,
    /// The simulator scenario (null: the protocol's parameters as written).
    pub scenario: Option<String>,
    /// The organ drawn from a cohort (`perfuse run --organ-seed`); absent: the protocol's organ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organ: Option<super::Organ>,
    pub simulated_s: f64,
    pub wall_s: f64,
    pub ticks: u64,
    pub tick_hz: f64,
    pub completed: bool,
    pub final_phase: String,
    pub phases: Vec<PhaseSummary>,
    pub channels: BTreeMap<String, ChannelSummary>,
    /// Per actuator: the commands sent.
    pub actuators: BTreeMap<String, ActuatorSummary>,
    pub alarms: Vec<AlarmSummary>,
    pub alarm_log: Vec<AlarmLogSummary>,
    /// Low-priority activations the full log could not keep.
    pub alarm_log_dropped: u32,
    /// Activations that took a low entry's place or merged into an earlier entry.
    pub alarm_log_merged: u32,
    pub audio: AudioSummary,
    pub operator: Vec<OperatorSummary>,
    /// The laboratory values entered, in time order.
    pub labs: Vec<LabSummary>,
    /// When the operator stopped the run (null: it was not stopped).
    pub stopped_s: Option<f64>,
    pub derived: BTreeMap<String, Option<f64>>,
    /// The plugin's time-stamped assessments, each with its derived values then.
    pub assessments: Vec<AssessmentSummary>,
    /// Ticks that missed their deadline in real time (always 0 in lockstep).
    pub overruns: u64,
    /// How late real-time ticks started after their deadlines; absent in lockstep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lateness: Option<super::lateness::LatenessSummary>,
    /// The signal (2 SIGINT, 15 SIGTERM) that stopped the run; null otherwise.
    pub signal: Option<i32>,
    /// The outputs (status lines, record): how many failed, and frames lagging ones lost.
    pub outputs: OutputsSummary,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutputsSummary {
    pub failed: u32,
    pub frames_lost: u64,
}

/// An action as the alarm log shows it.
pub fn action_text(plan: &Plan, action: ActionPlan) -> String {
    let id = |i: usize| plan.actuators[i].id.as_str();
    match action {
        ActionPlan::AlarmOnly => "alarm only".into(),
        ActionPlan::Limit { actuator, max } => format!("limit {} to {max}", id(actuator)),
        ActionPlan::Reduce { actuator, fraction } => {
            format!("reduce {} by {}%", id(actuator), fraction * 100.0)
        }
        ActionPlan::StopPump { pump, clamp } => match clamp {
            Some(c) => format!("stop {}, close {}", id(pump), id(c)),
            None => format!("stop {}", id(pump)),
        },
        ActionPlan::HeaterOff { heater } => format!("{} off", id(heater)),
        ActionPlan::HoldSetpoints => "hold setpoints".into(),
        ActionPlan::SafeState => "safe state".into(),
    }
}

/// An operator command as the summary and the record show it; `alarm_ids` names the alarms.
pub fn command_text(plan: &Plan, alarm_ids: &[String], action: OperatorAction) -> String {
    match action {
        OperatorAction::Acknowledge(i) => format!("acknowledge {}", alarm_ids[i]),
        OperatorAction::Reset(i) => format!("reset {}", alarm_ids[i]),
        OperatorAction::PauseAudio => "pause audio".into(),
        OperatorAction::ResumeAudio => "resume audio".into(),
        OperatorAction::Setpoint { signal, value } => {
            format!(
                "setpoint {} {}",
                plan.signals[signal].id,
                crate::config::bounds::short_num(value)
            )
        }
        OperatorAction::AdvancePhase => "advance phase".into(),
        OperatorAction::HoldPhase(true) => "hold phase".into(),
        OperatorAction::HoldPhase(false) => "release phase".into(),
        OperatorAction::Stop => "stop".into(),
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl Run {
    /// The summary of the run so far.
    pub fn summary(&self, wall_s: f64, overruns: u64) -> Summary {
        let plan = &self.plan;
        let rec = &self.tick_state().recorder;
        let protocol = &self.tick_state().protocol;
        let (phase, health) = (&protocol.phase, &protocol.plugin.health);
        let period = plan.period_s;
        let channels = plan
            .signals
            .iter()
            .zip(&rec.signals)
            .map(|(sig, st)| {
                let n = st.valid_ticks;
                (
                    sig.id.clone(),
                    ChannelSummary {
                        unit: sig.unit.to_string(),
                        min: (n > 0).then_some(st.min),
                        mean: (n > 0).then(|| st.sum / n as f64),
                        max: (n > 0).then_some(st.max),
                        in_band_fraction: (st.band_ticks > 0)
                            .then(|| st.in_band_ticks as f64 / st.band_ticks as f64),
                    },
                )
            })
            .collect();
        let alarms = self
            .alarms()
            .list
            .iter()
            .filter_map(|a| {
                a.first_tick.map(|t| AlarmSummary {
                    id: a.id.clone(),
                    priority: a.base_priority.as_str().to_string(),
                    technical: a.technical,
                    text: a.text.clone(),
                    first_s: t as f64 * period,
                    count: a.count,
                    highest_priority: a.highest.as_str().to_string(),
                    active_at_end: a.active,
                })
            })
            .collect();
        let derived_vals = &self.tick_state().protocol.plugin.derived;
        let derived = self
            .plugin
            .derived_names
            .iter()
            .zip(&derived_vals.values[..derived_vals.n])
            .map(|(n, v)| (n.clone(), finite(*v)))
            .collect();
        Summary {
            protocol: plan.name.clone(),
            plugin: PluginSummary {
                id: self.plugin.id.clone(),
                version: self.plugin.version.clone(),
                sha256: self.plugin.sha256.clone(),
                trust: self.plugin.trust.to_string(),
                fault: health
                    .faulted
                    .then(|| fault_reason(health.fault_code).to_string()),
                fault_s: health.faulted.then_some(health.fault_tick as f64 * period),
                clamped_requests: self.tick_state().protocol.plugin.clamps.episodes,
                params_overridden: plan
                    .plugin
                    .overridden
                    .iter()
                    .map(|o| (o.key.clone(), o.value))
                    .collect(),
                params_entered: plan
                    .plugin
                    .entered
                    .iter()
                    .map(|o| (o.key.clone(), o.value))
                    .collect(),
                computed: plan.computed.iter().cloned().collect(),
            },
            seed: self.seed,
            scenario: self.scenario.clone(),
            organ: self.organ.clone(),
            simulated_s: self.tick() as f64 * period,
            wall_s,
            ticks: rec.ticks,
            tick_hz: 1.0 / period,
            completed: self.finished() && phase.stopped.is_none(),
            final_phase: plan.phases[phase.index].id.clone(),
            phases: rec
                .phase_starts
                .iter()
                .map(|&(i, t)| PhaseSummary {
                    id: plan.phases[i].id.clone(),
                    start_s: t as f64 * period,
                })
                .collect(),
            channels,
            actuators: self.actuator_summaries(),
            alarms,
            alarm_log: self.alarm_log_summary(),
            alarm_log_dropped: self.alarms().log.dropped,
            alarm_log_merged: self.alarms().log.merged,
            audio: self.audio_summary(),
            operator: self.operator_summary(),
            labs: self.lab_summary(),
            stopped_s: phase.stopped.map(|t| t as f64 * period),
            derived,
            assessments: self.assessment_summaries(),
            overruns,
            lateness: self.lateness.as_ref().map(|l| l.summary()),
            signal: self.ended_by_signal,
            outputs: OutputsSummary {
                failed: self.outputs.failed,
                frames_lost: self.outputs.frames_lost,
            },
        }
    }
}

impl Run {
    fn audio_summary(&self) -> AudioSummary {
        let alarms = self.alarms();
        let name = |p: Option<crate::config::Priority>| p.map(|p| p.as_str().to_string());
        AudioSummary {
            pauses: alarms.audio_pauses,
            sounding_at_end: alarms.audio_sounding(self.tick()),
            sounding_priority_at_end: name(alarms.sounding_priority(self.tick())),
            timeline: alarms
                .timeline
                .iter()
                .map(|&(t, p)| SoundingSummary {
                    t_s: t as f64 * self.plan.period_s,
                    priority: name(p),
                })
                .collect(),
            timeline_dropped: alarms.timeline_dropped,
        }
    }

    fn actuator_summaries(&self) -> BTreeMap<String, ActuatorSummary> {
        let rec = &self.tick_state().recorder;
        let ticks = rec.ticks.max(1) as f64;
        let mut delivered = [None; perfuse_plugin_sdk::MAX_ACTUATORS];
        // No entity has a dose window unless the protocol declares a dose cap.
        if let Some(mut doses) = self.world.try_query::<(&ActuatorChannel, &DoseWindow)>() {
            for (ch, dose) in doses.iter(&self.world) {
                delivered[ch.index] = Some(dose.total_ml);
            }
        }
        self.plan
            .actuators
            .iter()
            .zip(&rec.commands)
            .enumerate()
            .map(|(i, (a, st))| {
                let summary = ActuatorSummary {
                    unit: a.kind.unit().to_string(),
                    min: if rec.ticks > 0 { st.min } else { a.initial },
                    mean: if rec.ticks > 0 {
                        st.sum / ticks
                    } else {
                        a.initial
                    },
                    max: if rec.ticks > 0 { st.max } else { a.initial },
                    delivered_ml: delivered[i],
                };
                (a.id.clone(), summary)
            })
            .collect()
    }

    fn alarm_log_summary(&self) -> Vec<AlarmLogSummary> {
        let period = self.plan.period_s;
        let s = |t: u64| t as f64 * period;
        let alarms = &self.alarms().list;
        // Entries that took a low entry's place sit out of order: the log reads by start.
        let mut entries = self.tick_state().alarms.log.entries.clone();
        entries.sort_by_key(|e| (e.start_tick, e.alarm));
        entries
            .iter()
            .map(|e| AlarmLogSummary {
                id: alarms[e.alarm].id.clone(),
                priority: e.priority.as_str().to_string(),
                condition_s: s(e.condition_tick),
                start_s: s(e.start_tick),
                end_s: e.end_tick.map(s),
                limit: finite(e.limit),
                value: finite(e.value),
                action: action_text(&self.plan, e.action),
                acknowledged_s: e.acknowledged_tick.map(s),
                escalated_s: e.escalated_tick.map(s),
                escalated_to: e.escalated_to.map(|p| p.as_str().to_string()),
                reset_s: e.reset_tick.map(s),
                activations: e.activations,
            })
            .collect()
    }

    fn lab_summary(&self) -> Vec<LabSummary> {
        let plan = &self.plan;
        let input = &self.tick_state().input;
        input
            .entered_labs()
            .iter()
            .map(|e| LabSummary {
                t_s: e.tick as f64 * plan.period_s,
                sensor: plan.sensors[e.sensor].id.clone(),
                value: e.value,
            })
            .collect()
    }

    fn operator_summary(&self) -> Vec<OperatorSummary> {
        let plan = &self.plan;
        let ids: Vec<String> = self.alarms().list.iter().map(|a| a.id.clone()).collect();
        self.tick_state()
            .input
            .log
            .entries
            .iter()
            .map(|&(tick, action, accepted)| OperatorSummary {
                t_s: tick as f64 * plan.period_s,
                command: command_text(plan, &ids, action),
                accepted,
            })
            .collect()
    }

    fn assessment_summaries(&self) -> Vec<AssessmentSummary> {
        let list = &self.tick_state().protocol.plugin.assessments.list;
        list.iter()
            .map(|a| AssessmentSummary {
                t_s: a.tick as f64 * self.plan.period_s,
                phase: self.plan.phases[a.phase].id.clone(),
                values: self
                    .plugin
                    .derived_names
                    .iter()
                    .zip(&a.values)
                    .map(|(n, v)| (n.clone(), finite(*v)))
                    .collect(),
            })
            .collect()
    }
}
