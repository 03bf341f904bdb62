//! Resuming from a saved run state (what a real-time restart restores, since real devices
//! cannot be re-simulated): every shipped protocol is run in lockstep to a time mid-phase, its
//! state saved and sent through JSON, and restored into a freshly built run; the phase and its
//! clock, the operator's setpoints, alarms, dose windows, control loops and the plugin's own
//! derived values carry on. Wrong protocols and newer states are refused.
//!
//! Where a test compares the resumed run with the uninterrupted one, the resumed run gets the
//! plant of a twin run (same protocol, seed and inputs, stepped to the same tick), so both see
//! the same organ; only the controller was restarted.

use crate::common::*;
use perfuse_core::config;
use perfuse_core::run::state::{RunState, STATE_VERSION};
use perfuse_core::run::{Run, realtime};
use perfuse_core::tick::control::{ControlLoop, LoopMemory};
use perfuse_core::tick::dose::DoseWindow;
use perfuse_core::tick::state::{ActuatorChannel, Targets};
use std::path::Path;

const SEED: u64 = 7;

/// What a run is built from.
#[derive(Clone, Copy)]
struct Spec<'a> {
    file: &'a str,
    scenario: Option<&'a str>,
    faults: &'a [&'a str],
    /// Operator commands (a RON list), entered into the original run and its twin only.
    commands: &'a str,
}

impl<'a> Spec<'a> {
    fn new(file: &'a str) -> Self {
        Spec {
            file,
            scenario: None,
            faults: &[],
            commands: "",
        }
    }
}

/// A lockstep run of `spec`, not yet ticked; `input` enters its operator commands.
fn build(spec: Spec<'_>, input: bool) -> Run {
    build_from(&protocol(spec.file), spec, input)
}

fn build_from(file: &Path, spec: Spec<'_>, input: bool) -> Run {
    let loaded = config::load(file).unwrap_or_else(|e| panic!("{e}"));
    let commands = if input && !spec.commands.is_empty() {
        commands(&loaded.plan, spec.commands)
    } else {
        Vec::new()
    };
    let policy = plugin_policy(&loaded.plan);
    let w = Wiring {
        scenario: spec.scenario.map(str::to_string),
        devices: Devices::Simulator(spec.faults.iter().map(|f| f.to_string()).collect()),
        commands,
        ..Wiring::lockstep(&policy, SEED)
    };
    wired(loaded, file, w)
}

/// Steps `seconds` of simulated time.
fn run_for(run: &mut Run, seconds: f64) {
    let n = ticks(run, seconds);
    step(run, n);
}

fn commands(plan: &perfuse_core::plan::Plan, commands: &str) -> Vec<config::OperatorCommand> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("commands.ron");
    std::fs::write(&path, commands).unwrap();
    // The protocol's own length stands for `--duration`, so a hold without release is accepted.
    let length_s = plan.phases.iter().map(|p| p.duration_ticks).sum::<u64>() as f64 * plan.period_s;
    config::load_commands(&path, plan, Some(length_s)).unwrap_or_else(|e| panic!("{e}"))
}

/// Saves `run`'s state and reads it back from its JSON text, which must give the same state.
fn save_through_json(run: &mut Run) -> RunState {
    let state = run.save_state();
    let back = RunState::from_json(&state.to_json()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, state, "the state survives serialisation");
    back
}

/// The uninterrupted run at `t_s`, its state, and a fresh run resumed from that state on the
/// twin's plant.
struct Resumed {
    original: Run,
    state: RunState,
    resumed: Run,
}

fn resume_at(spec: Spec<'_>, t_s: f64) -> Resumed {
    let mut original = build(spec, true);
    let n = ticks(&original, t_s);
    step(&mut original, n);
    let state = save_through_json(&mut original);
    let mut twin = build(spec, true);
    step(&mut twin, n);
    let mut resumed = build(spec, false);
    resumed
        .restore_state(&state, 0.0)
        .unwrap_or_else(|e| panic!("{}: {e}", spec.file));
    // The resumed run drives the twin's plant.
    std::mem::swap(
        &mut twin.tick_state_mut().device.port,
        &mut resumed.tick_state_mut().device.port,
    );
    assert_restored(&original, &state, &mut resumed);
    Resumed {
        original,
        state,
        resumed,
    }
}

/// What every restore must give back, before the resumed run's first tick.
fn assert_restored(original: &Run, state: &RunState, resumed: &mut Run) {
    assert_eq!(resumed.tick(), original.tick());
    assert_eq!(resumed.phase(), original.phase());
    assert_eq!(
        phase_elapsed(resumed),
        phase_elapsed(original),
        "phase clock"
    );
    let (a, b) = (targets(original), targets(resumed));
    assert_eq!(bits(&a.operator), bits(&b.operator), "operator setpoints");
    assert_eq!(bits(&a.setpoints), bits(&b.setpoints), "setpoints in force");
    assert_eq!(loops(resumed), loops(original), "control loops");
    assert_eq!(
        bits(&resumed.commands().values),
        bits(&original.commands().values),
        "last commands"
    );
    assert_eq!(doses(resumed), doses(original), "dose windows");
    for (i, name) in original.plugin.derived_names.iter().enumerate() {
        assert_eq!(
            derived_all(resumed)[i].to_bits(),
            derived_all(original)[i].to_bits(),
            "derived `{name}`"
        );
    }
    // Saved again before any tick, the resumed run is the same state, plugin bytes included.
    assert_eq!(
        &resumed.save_state(),
        state,
        "restored state saves unchanged"
    );
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn phase_elapsed(run: &Run) -> u64 {
    run.tick() - run.tick_state().protocol.phase.start_tick
}

fn targets(run: &Run) -> Targets {
    run.tick_state().protocol.targets
}

fn loops(run: &Run) -> Vec<(usize, Option<LoopMemory>)> {
    let mut q = run
        .world
        .try_query::<(&ActuatorChannel, &ControlLoop)>()
        .unwrap();
    let mut v: Vec<_> = q
        .iter(&run.world)
        .map(|(ch, lp)| (ch.index, lp.memory()))
        .collect();
    v.sort_by_key(|e| e.0);
    v
}

fn dose_window<'a>(run: &'a Run, id: &str) -> &'a DoseWindow {
    let mut q = run
        .world
        .try_query::<(&ActuatorChannel, &DoseWindow)>()
        .unwrap();
    q.iter(&run.world)
        .find(|(ch, _)| ch.spec.id == id)
        .unwrap_or_else(|| panic!("no dose window on {id}"))
        .1
}

fn doses(run: &Run) -> Vec<(String, perfuse_core::tick::dose::DoseMemory)> {
    let mut q = run
        .world
        .try_query::<(&ActuatorChannel, &DoseWindow)>()
        .unwrap();
    let mut v: Vec<_> = q
        .iter(&run.world)
        .map(|(ch, d)| (ch.spec.id.clone(), d.memory()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn derived_all(run: &Run) -> Vec<f64> {
    let d = &run.tick_state().protocol.plugin.derived;
    d.values[..d.n].to_vec()
}

fn derived(run: &Run, name: &str) -> f64 {
    let i = run
        .plugin
        .derived_names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no derived value {name}"));
    derived_all(run)[i]
}

fn command(run: &Run, id: &str) -> f64 {
    run.commands().values[actuator(run, id)]
}

/// Steps both runs `seconds` on, then checks the plugin's derived values carried on: a value the
/// uninterrupted run kept unchanged since the save (a value at a mark, a count, a verdict) is
/// the same in the resumed run, to the bit.
fn continue_both(r: &mut Resumed, seconds: f64) {
    let n = ticks(&r.original, seconds);
    step(&mut r.original, n);
    step(&mut r.resumed, n);
    assert_eq!(r.resumed.phase(), r.original.phase());
    assert_eq!(phase_elapsed(&r.resumed), phase_elapsed(&r.original));
    let (a, b) = (derived_all(&r.original), derived_all(&r.resumed));
    let mut kept = 0;
    for (i, name) in r.original.plugin.derived_names.iter().enumerate() {
        let saved = r.state.plugin.derived[i].unwrap_or(f64::NAN);
        if saved.to_bits() == a[i].to_bits() && !saved.is_nan() {
            kept += 1;
            assert_eq!(
                b[i].to_bits(),
                a[i].to_bits(),
                "{}: `{name}` kept {saved} but resumed has {}",
                r.original.plugin.id,
                b[i]
            );
        }
    }
    eprintln!(
        "{}: {kept} derived value(s) kept over {seconds} s, equal after the restart",
        r.original.plugin.id
    );
}

/// `name` is within `tol` of the uninterrupted run's value, and past the saved one (an
/// accumulating value that went on rather than started over).
fn accumulated(r: &Resumed, name: &str, tol: f64) {
    let (a, b) = (derived(&r.original, name), derived(&r.resumed, name));
    let i = r
        .original
        .plugin
        .derived_names
        .iter()
        .position(|n| n == name)
        .unwrap();
    let saved = r.state.plugin.derived[i].expect("defined when saved");
    assert!(b > saved, "`{name}` started over: {b} after {saved}");
    assert!((a - b).abs() <= tol, "`{name}`: {b}, uninterrupted {a}");
}

#[test]
fn kidney_hmp_keeps_ri_at_2_min_the_operator_setpoint_and_the_pump_loop() {
    let spec = Spec {
        commands: r#"[(at_s: 300.0, command: Setpoint(signal: "systolic_pressure", value: 28.0))]"#,
        ..Spec::new("kidney-hmp.ron")
    };
    let mut r = resume_at(spec, 600.0);
    let sp = r.resumed.plan.signal("systolic_pressure").unwrap();
    assert_eq!(targets(&r.resumed).operator[sp], 28.0);
    assert_eq!(r.state.overrides.len(), 1);
    let ri = derived(&r.resumed, "ri_at_2min");
    assert!(ri.is_finite() && ri > 0.0, "RI at 2 min {ri}");
    // Bumpless: the first command continues from the last one, not from the initial 0.
    let last = command(&r.original, "pump");
    assert!(last > 20.0, "the pump ran at {last}");
    step(&mut r.resumed, 1);
    step(&mut r.original, 1);
    let (a, b) = (command(&r.original, "pump"), command(&r.resumed, "pump"));
    assert!(
        (a - b).abs() < 0.02 * a,
        "pump {b} after the restart, {a} without"
    );
    continue_both(&mut r, 60.0);
    assert_eq!(derived(&r.resumed, "ri_at_2min"), ri);
    accumulated(&r, "perfused_min", 0.05);
    assert_eq!(
        targets(&r.resumed).operator[sp],
        28.0,
        "for the rest of the phase"
    );
}

#[test]
fn kidney_nmp_keeps_its_assessment_counts() {
    let mut r = resume_at(Spec::new("kidney-nmp.ron"), 2400.0);
    assert_eq!(r.resumed.phase(), "assessment");
    continue_both(&mut r, 60.0);
    assert!(derived(&r.resumed, "ri_at_30min").is_finite());
    accumulated(&r, "perfused_min", 0.05);
    accumulated(&r, "urine_ml", 0.5);
}

#[test]
fn heart_nmp_keeps_its_lactate_history() {
    // Two hourly samples (40 and 100 min) give a trend; resumed 10 min after the second.
    let mut r = resume_at(Spec::new("heart-nmp.ron"), 6600.0);
    assert_eq!(derived(&r.resumed, "lactate_samples"), 2.0);
    let trend = derived(&r.resumed, "arterial_lactate_trend_mmol_l_h");
    assert!(trend.is_finite(), "a trend from two samples");
    continue_both(&mut r, 3600.0);
    // The third sample extends the same history rather than starting one.
    assert_eq!(derived(&r.original, "lactate_samples"), 3.0);
    assert_eq!(derived(&r.resumed, "lactate_samples"), 3.0);
    assert!(derived(&r.resumed, "cvr_baseline").is_finite());
    assert_eq!(
        derived(&r.resumed, "cvr_baseline"),
        derived(&r.original, "cvr_baseline")
    );
}

#[test]
fn heart_hope_keeps_its_resistance_baseline() {
    // The baseline is taken at the first hourly point, 40 min into preservation.
    let mut r = resume_at(Spec::new("heart-hope.ron"), 3600.0);
    let baseline = derived(&r.resumed, "cvr_baseline");
    assert!(baseline.is_finite());
    continue_both(&mut r, 60.0);
    assert_eq!(derived(&r.resumed, "cvr_baseline"), baseline);
}

#[test]
fn lung_evlp_keeps_its_assessments_and_ventilation_start() {
    let mut r = resume_at(Spec::new("lung-evlp.ron"), 4500.0);
    assert_eq!(derived(&r.resumed, "assessments"), 1.0);
    assert!(derived(&r.resumed, "ventilation_start_min").is_finite());
    continue_both(&mut r, 3600.0);
    assert_eq!(
        derived(&r.resumed, "assessments"),
        2.0,
        "the next one counts on"
    );
    assert_eq!(
        derived(&r.resumed, "ventilation_start_min"),
        derived(&r.original, "ventilation_start_min")
    );
}

#[test]
fn liver_nmp_keeps_groningen_and_vittal_progress() {
    // Groningen is judged at 2.5 h; VITTAL builds up to 4 h.
    let mut r = resume_at(Spec::new("liver-nmp.ron"), 9600.0);
    let groningen = derived(&r.resumed, "groningen_viable");
    assert!(groningen.is_finite(), "Groningen judged at 2.5 h");
    continue_both(&mut r, 600.0);
    assert_eq!(derived(&r.resumed, "groningen_viable"), groningen);
    for name in ["groningen_lactate", "groningen_ph", "groningen_bile"] {
        assert_eq!(
            derived(&r.resumed, name).to_bits(),
            derived(&r.original, name).to_bits(),
            "{name} frozen at 2.5 h"
        );
    }
}

#[test]
fn liver_hope_and_dhope_resume_mid_phase() {
    // Hypothermic: the plugin reports live resistances only, but its flow means and decision
    // times are saved and restored all the same (checked byte for byte by `resume_at`).
    for file in ["liver-hope.ron", "liver-dhope.ron"] {
        let mut r = resume_at(Spec::new(file), 1800.0);
        assert!(r.state.plugin.state.as_ref().is_some_and(|b| !b.is_empty()));
        continue_both(&mut r, 60.0);
    }
}

#[test]
fn ta_nrp_keeps_its_wean_and_reperfusion_time() {
    let mut r = resume_at(Spec::new("ta-nrp.ron"), 3600.0);
    assert_eq!(r.resumed.phase(), "wean");
    let wean = derived(&r.resumed, "wean_fraction");
    assert!(wean < 1.0, "weaning at {wean}");
    continue_both(&mut r, 60.0);
    accumulated(&r, "nrp_min", 1e-9);
}

#[test]
fn ilp_keeps_its_tissue_time_in_band() {
    for file in ["ilp-leg.ron", "ilp-arm.ron"] {
        let mut r = resume_at(Spec::new(file), 3600.0);
        continue_both(&mut r, 60.0);
        accumulated(&r, "tissue_in_band_min", 0.05);
    }
}

#[test]
fn heated_cavities_keep_their_thermal_dose() {
    for file in ["hipec-mmc.ron", "hipec-oxaliplatin.ron", "hithoc.ron"] {
        let mut r = resume_at(Spec::new(file), 1800.0);
        assert_eq!(r.resumed.phase(), "drug");
        continue_both(&mut r, 60.0);
        accumulated(&r, "drug_min", 1e-9);
        accumulated(&r, "cem43_inflow_min", 0.05);
    }
}

#[test]
fn an_acknowledged_alarm_is_active_and_unacknowledged_again_and_keeps_its_action() {
    // Air at 5 min stops the pump and closes the clamp (latched); acknowledged at 6 min while
    // the air is still there; saved at 8 min.
    let spec = Spec {
        faults: &["air@5m"],
        commands: r#"[
            (at_s: 360.0, command: Acknowledge("air_in_line")),
            (at_s: 420.0, command: PauseAudio),
        ]"#,
        ..Spec::new("kidney-hmp.ron")
    };
    let mut original = build(spec, true);
    run_for(&mut original, 480.0);
    let before = alarm_state(&original, "air_in_line");
    assert!(before.active && before.acknowledged);
    assert!(!original.alarms().audio_sounding(original.tick()), "paused");
    let state = save_through_json(&mut original);

    // Restarted on a circuit whose air was cleared while the controller was down.
    let mut resumed = build(Spec::new("kidney-hmp.ron"), false);
    resumed.restore_state(&state, 30.0).unwrap();
    let after = alarm_state(&resumed, "air_in_line");
    assert!(
        after.active && !after.acknowledged,
        "active, unacknowledged"
    );
    assert_eq!(after.priority, before.priority);
    assert_eq!(after.count, before.count);
    assert_eq!(after.first_tick, before.first_tick);
    assert!(
        resumed.alarms().audio_sounding(resumed.tick()),
        "a pause does not outlast the restart"
    );
    // The condition is gone but the alarm is latched: the pump stays stopped until it is reset.
    for _ in 0..ticks(&resumed, 10.0) {
        resumed.step_lockstep();
        assert_eq!(command(&resumed, "pump"), 0.0);
        assert_eq!(command(&resumed, "arterial_clamp"), 1.0);
    }
    assert!(alarm_state(&resumed, "air_in_line").active);
    let ack_s = resumed.tick() as f64 * resumed.plan.period_s + 1.0;
    let reset_s = ack_s + 2.0;
    let cmds = commands(
        &resumed.plan,
        &format!(
            r#"[
                (at_s: {ack_s}, command: Acknowledge("air_in_line")),
                (at_s: {reset_s}, command: Reset("air_in_line")),
            ]"#
        ),
    );
    resumed.enter_operator_input(Vec::new(), cmds);
    run_for(&mut resumed, 2.0);
    assert!(
        alarm_state(&resumed, "air_in_line").active,
        "acknowledging only silences"
    );
    assert_eq!(command(&resumed, "pump"), 0.0);
    run_for(&mut resumed, 2.0);
    assert!(
        !alarm_state(&resumed, "air_in_line").active,
        "ends once reset"
    );
    run_for(&mut resumed, 5.0);
    assert!(command(&resumed, "pump") > 0.0, "perfusion resumes");
}

fn alarm_state(run: &Run, id: &str) -> perfuse_core::tick::alarms::Alarm {
    run.alarms()
        .list
        .iter()
        .find(|a| a.id == id)
        .unwrap_or_else(|| panic!("no alarm {id}"))
        .clone()
}

#[test]
fn a_restart_never_gives_more_than_the_dose_cap_in_its_window() {
    // An injured liver keeps asking for vasodilator: run until its hourly cap is reached.
    let spec = Spec {
        scenario: Some("injured"),
        ..Spec::new("liver-nmp.ron")
    };
    let mut original = build(spec, false);
    step_until(&mut original, 3.0 * 3600.0, |r| {
        dose_window(r, "vasodilator").exhausted()
    });
    let vasodilator = actuator(&original, "vasodilator");
    let cap = original.plan.actuators[vasodilator]
        .dose_cap
        .expect("a dose cap")
        .max_ml;
    // The core checks the cap before each tick's delivery: the last tick may pass it by its own
    // volume at most.
    let spec_max = original.plan.actuators[vasodilator].range.max;
    let one_tick = spec_max * original.plan.period_s / 3600.0;
    let state = save_through_json(&mut original);
    let saved = state
        .actuators
        .iter()
        .find(|a| a.id == "vasodilator")
        .and_then(|a| a.dose.clone())
        .expect("a saved dose window");
    let in_window = saved.in_window_ml();
    assert!(in_window >= cap - 1e-9, "{in_window} mL in the window");

    // Restarted at once on a fresh injured liver, which asks for vasodilator again.
    let mut resumed = build(spec, false);
    resumed.restore_state(&state, 0.0).unwrap();
    let mut refused = 0;
    for _ in 0..ticks(&resumed, 600.0) {
        resumed.step_lockstep();
        let w = dose_window(&resumed, "vasodilator").memory();
        let window_ml = w.in_window_ml();
        assert!(
            window_ml <= cap + one_tick,
            "{window_ml} mL within the hour"
        );
        let cmd = resumed
            .world
            .try_query::<(&ActuatorChannel, &perfuse_core::tick::state::Command)>()
            .unwrap()
            .iter(&resumed.world)
            .find(|(ch, _)| ch.spec.id == "vasodilator")
            .map(|(_, c)| *c)
            .unwrap();
        if cmd.requested > 0.0 && cmd.sent == 0.0 {
            refused += 1;
        }
    }
    assert!(refused > 0, "the plugin asked again and the cap refused it");
    let total = dose_window(&resumed, "vasodilator").total_ml;
    assert_eq!(total, saved.total_ml, "nothing more delivered");

    // Down for longer than the window (the pump off in its safe state): the window is empty
    // and the pump may deliver again.
    let mut late = build(spec, false);
    late.restore_state(&state, 3700.0).unwrap();
    assert!(!dose_window(&late, "vasodilator").exhausted());
    let w = dose_window(&late, "vasodilator").memory();
    assert_eq!(w.in_window_ml(), 0.0);
}

#[test]
fn downtime_counts_toward_the_phase_clock_unless_the_phase_is_held() {
    let mut run = build(Spec::new("kidney-nmp.ron"), false);
    run_for(&mut run, 2400.0);
    let state = save_through_json(&mut run);
    let mut resumed = build(Spec::new("kidney-nmp.ron"), false);
    resumed.restore_state(&state, 120.0).unwrap();
    let down = ticks(&resumed, 120.0);
    assert_eq!(resumed.tick(), state.tick + down, "the time axis moves on");
    assert_eq!(phase_elapsed(&resumed), state.phase.elapsed_ticks + down);

    let held = Spec {
        commands: r#"[(at_s: 2300.0, command: HoldPhase(true))]"#,
        ..Spec::new("kidney-nmp.ron")
    };
    let mut run = build(held, true);
    run_for(&mut run, 2400.0);
    let state = save_through_json(&mut run);
    assert!(state.phase.held);
    let mut resumed = build(held, false);
    resumed.restore_state(&state, 120.0).unwrap();
    assert_eq!(phase_elapsed(&resumed), state.phase.elapsed_ticks, "held");
    step(&mut resumed, 100);
    assert_eq!(
        phase_elapsed(&resumed),
        state.phase.elapsed_ticks,
        "still held"
    );
}

#[test]
fn a_state_from_another_protocol_or_a_newer_perfuse_is_refused() {
    let mut run = build(Spec::new("kidney-hmp.ron"), false);
    step(&mut run, 1000);
    let state = run.save_state();

    let mut other = build(Spec::new("kidney-nmp.ron"), false);
    let err = other.restore_state(&state, 0.0).unwrap_err();
    assert!(err.contains("another protocol file"), "{err}");
    assert!(err.contains(&state.protocol_sha256), "{err}");

    // The same protocol with one number changed is another protocol.
    let dir = tempfile::tempdir().unwrap();
    let edited = edited_protocol(
        "kidney-hmp.ron",
        &[("duration_s: 21600.0", "duration_s: 21000.0")],
    );
    let file = dir.path().join("kidney-hmp.ron");
    std::fs::write(&file, edited).unwrap();
    let mut changed = build_from(&file, Spec::new("kidney-hmp.ron"), false);
    let err = changed.restore_state(&state, 0.0).unwrap_err();
    assert!(err.contains("another protocol file"), "{err}");

    let mut newer = state.clone();
    newer.version = STATE_VERSION + 1;
    let mut fresh = build(Spec::new("kidney-hmp.ron"), false);
    let err = fresh.restore_state(&newer, 0.0).unwrap_err();
    assert!(
        err.contains(&format!("version {}", STATE_VERSION + 1))
            && err.contains(&format!("version {STATE_VERSION}")),
        "{err}"
    );
    // A newer state's text is refused by its version, whatever else it holds.
    let text = format!(
        r#"{{"version": {}, "something_new": [1, 2]}}"#,
        STATE_VERSION + 1
    );
    let err = RunState::from_json(&text).unwrap_err();
    assert!(err.contains("newer than this perfuse reads"), "{err}");
    assert!(
        RunState::from_json("[1, 2]")
            .unwrap_err()
            .contains("not a perfuse run state")
    );

    // Nothing was changed by the refusals.
    assert_eq!(fresh.tick(), 0);
    assert_eq!(fresh.tick_state().now.clock.tick, 0);
    // And a run that has ticked is not a place to restore into.
    let err = run.restore_state(&state, 0.0).unwrap_err();
    assert!(err.contains("not ticked"), "{err}");
}

#[test]
fn a_plugin_refusing_its_state_is_faulted_like_any_plugin_fault() {
    let mut run = build(Spec::new("kidney-hmp.ron"), false);
    run_for(&mut run, 300.0);
    let mut state = run.save_state();
    let bytes = state
        .plugin
        .state
        .as_mut()
        .expect("the kidney plugin saves its state");
    bytes.truncate(bytes.len() - 3);
    let mut resumed = build(Spec::new("kidney-hmp.ron"), false);
    resumed.restore_state(&state, 0.0).unwrap();
    step(&mut resumed, 2);
    let outputs = &resumed.tick_state().protocol.plugin;
    assert!(outputs.health.faulted);
    let alarm = alarm_state(&resumed, "plugin_fault");
    assert!(alarm.active);
    assert!(command(&resumed, "pump") > 0.0, "control goes on");
}

#[test]
fn a_plugin_built_for_abi_1_1_runs_and_resumes_without_plugin_state() {
    let dir = tempfile::tempdir().unwrap();
    let edited = edited_protocol(
        "kidney-hmp.ron",
        &[(
            r#"plugin: (id: "kidney", version: "^0.1"),"#,
            r#"plugin: (id: "test-abi-1-1", version: "^0.1"),"#,
        )],
    );
    let file = dir.path().join("abi-1-1.ron");
    std::fs::write(&file, edited).unwrap();

    // Through the command line, like any plugin.
    let fixture = fixture_args();
    let s = run_summary(&file, &with_fixture_args(&["--duration", "10m"], &fixture));
    assert_eq!(s["completed"], true);
    assert_eq!(s["plugin"]["trust"], "untrusted (allowed)");
    assert_eq!(s["plugin"]["fault"], serde_json::Value::Null);
    assert_eq!(f(&s["derived"]["steps"]), 60_000.0);

    let spec = Spec::new("kidney-hmp.ron");
    let mut run = build_from(&file, spec, false);
    assert_eq!(run.plugin.abi, (1, 1));
    run_for(&mut run, 300.0);
    let state = save_through_json(&mut run);
    assert_eq!(state.plugin.state, None, "a 1.1 plugin has no save");
    assert_eq!(state.plugin.fault, None);
    let mut resumed = build_from(&file, spec, false);
    resumed.restore_state(&state, 0.0).unwrap();
    assert_eq!(
        derived(&resumed, "steps"),
        30_000.0,
        "its last derived values"
    );
    step(&mut resumed, 1);
    // Its own count starts again (it could not save it); the core's state is restored.
    assert_eq!(derived(&resumed, "steps"), 1.0);
    assert!(!resumed.tick_state().protocol.plugin.health.faulted);
    assert_eq!(resumed.phase(), run.phase());

    // A current plugin declares 1.4.
    assert_eq!(build(spec, false).plugin.abi, (1, 4));
}

#[test]
fn a_real_time_run_goes_on_from_its_restored_tick() {
    // Saved after 10 min in lockstep, resumed against the wall clock for 2 s more.
    let mut saved = build(Spec::new("kidney-hmp.ron"), false);
    run_for(&mut saved, 600.0);
    let state = save_through_json(&mut saved);

    let file = protocol("kidney-hmp.ron");
    let loaded = config::load(&file).unwrap();
    let policy = plugin_policy(&loaded.plan);
    let w = Wiring {
        duration_s: Some(602.0),
        realtime: true,
        ..Wiring::lockstep(&policy, SEED)
    };
    let mut run = wired(loaded, &file, w);
    run.restore_state(&state, 0.0).unwrap();
    let started = std::time::Instant::now();
    let (run, _) = realtime::run(run, &perfuse_core::run::StopRequest::default(), None);
    let wall = started.elapsed().as_secs_f64();
    // Deadlines count from the restored tick: 2 s of ticks, not 602 s.
    assert!((1.9..10.0).contains(&wall), "{wall} s of wall time");
    assert!(run.tick() >= ticks(&run, 602.0));
    assert_eq!(run.phase(), "perfusion");
    assert_eq!(
        derived(&run, "ri_at_2min"),
        saved_derived(&state, &run, "ri_at_2min")
    );
    // (The pump itself is not checked: this fresh simulated kidney has the high resistance of a
    // kidney at 0 min, so the last command may well trip the 40-mmHg stop, as it should.)
}

fn saved_derived(state: &RunState, run: &Run, name: &str) -> f64 {
    let i = run
        .plugin
        .derived_names
        .iter()
        .position(|n| n == name)
        .unwrap();
    state.plugin.derived[i].expect("defined when saved")
}

#[test]
fn a_plugin_whose_save_fails_resumes_faulted() {
    // The faulty test plugin in mode 7: its state restores, until its `save` panics (at 300 s).
    let dir = tempfile::tempdir().unwrap();
    let edited = edited_protocol(
        "kidney-hmp.ron",
        &faulty_kidney(r#""mode": 7.0, "at_s": 300.0,"#),
    );
    let file = dir.path().join("faulty-7.ron");
    std::fs::write(&file, edited).unwrap();
    let spec = Spec::new("kidney-hmp.ron");

    let mut run = build_from(&file, spec, false);
    run_for(&mut run, 200.0);
    let state = save_through_json(&mut run);
    assert!(state.plugin.state.is_some() && state.plugin.fault.is_none());
    let mut resumed = build_from(&file, spec, false);
    resumed.restore_state(&state, 0.0).unwrap();
    step(&mut resumed, 1);
    assert_eq!(derived(&resumed, "steps"), 20_001.0, "its count went on");

    run_for(&mut run, 200.0);
    let state = save_through_json(&mut run);
    assert_eq!(state.plugin.state, None);
    let fault = state.plugin.fault.expect("saved as faulted");
    assert_eq!(fault.code, perfuse_plugin_sdk::status::PANICKED);
    let mut resumed = build_from(&file, spec, false);
    resumed.restore_state(&state, 0.0).unwrap();
    step(&mut resumed, 1);
    assert!(resumed.tick_state().protocol.plugin.health.faulted);
    let alarm = alarm_state(&resumed, "plugin_fault");
    assert!(alarm.active && !alarm.acknowledged);
    assert_eq!(alarm.priority, perfuse_core::config::Priority::High);
    assert!(command(&resumed, "pump") > 0.0, "control goes on");
}

#[test]
fn ecmo_keeps_its_blender_settings() {
    let mut r = resume_at(Spec::new("ecmo-va.ron"), 7200.0);
    assert_eq!(r.resumed.phase(), "support");
    let fio2 = derived(&r.resumed, "fio2_pct");
    assert!(fio2 < 100.0, "titrated down by 2 h: {fio2}");
    continue_both(&mut r, 60.0);
    for name in ["fio2_pct", "sweep_l_min"] {
        let (a, b) = (derived(&r.original, name), derived(&r.resumed, name));
        assert_eq!(a, b, "`{name}`: {b}, uninterrupted {a}");
    }
}
