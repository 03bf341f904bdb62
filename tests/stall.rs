//! A stalled control thread: the faulty plugin hangs one step for 1 s in real time. The device,
//! on its own thread, keeps its clock; when the commands' time to live runs out it puts each
//! actuator in its safe state by itself. A recording wrapper around the simulator (test code,
//! on the device thread) logs what the actuators actually do.

mod common;
use common::*;
use perfuse_core::config;
use perfuse_core::hal::{CommandFrame, Hal, SensorFrame};
use perfuse_core::plugin;
use perfuse_core::run::{Run, RunOptions, realtime};
use perfuse_core::tick::HalPort;
use perfuse_hal_sim::SimHal;
use std::sync::{Arc, Mutex};

/// Device time and each actuator's applied command, after every step.
type ActuatorLog = Arc<Mutex<Vec<(f64, Vec<f64>)>>>;

/// The simulator, logging what its actuators do.
struct Recording {
    sim: SimHal,
    log: ActuatorLog,
}

impl Hal for Recording {
    fn read(&mut self, out: &mut SensorFrame) {
        self.sim.read(out);
    }
    fn write(&mut self, cmd: &CommandFrame) {
        self.sim.write(cmd);
    }
    fn advance(&mut self, dt_s: f64) {
        self.sim.advance(dt_s);
        let applied = self.sim.applied_commands().to_vec();
        self.log.lock().unwrap().push((self.sim.time_s(), applied));
    }
}

#[test]
fn a_stalled_control_thread_leaves_every_actuator_in_its_fallback_within_its_ttl() {
    let text = std::fs::read_to_string(protocol("kidney-hmp.ron"))
        .unwrap()
        .replace(
            r#"plugin: (id: "kidney", version: "^0.1"),"#,
            r#"plugin: (id: "faulty", version: "^0.1"),"#,
        )
        .replace(
            r#""kidney_mass_g": 150.0, // §10.2 [T]"#,
            r#""mode": 4.0, "at_s": 2.0, "sleep_s": 1.0,"#,
        );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stall.ron");
    std::fs::write(&file, text).unwrap();

    let loaded = config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let plugin =
        plugin::load(&loaded.plan, &plugin_policy(&loaded.plan)).unwrap_or_else(|e| panic!("{e}"));
    let log: ActuatorLog = Arc::new(Mutex::new(Vec::new()));
    let device = Recording {
        sim: SimHal::new(&loaded.file, 1, &[]).unwrap(),
        log: log.clone(),
    };
    let plan = Arc::new(loaded.plan);
    let (pump, clamp) = (
        plan.actuator("pump").unwrap(),
        plan.actuator("arterial_clamp").unwrap(),
    );
    let ttl = plan.actuators[pump].ttl_s;
    let (channels, _thread) = realtime::spawn_hal(Box::new(device), plan.period_s).unwrap();
    let opts = RunOptions {
        organ: None,
        seed: 1,
        scenario: None,
        duration_s: Some(4.0),
    };
    let mut run = Run::new(plan, HalPort::Threaded(channels), plugin, &opts);
    run.initialize().unwrap();
    let overruns = realtime::run(&mut run, &perfuse_core::run::StopRequest::default());

    // The stall begins in the step at 2 s; the device stops receiving commands then.
    // A copy: the device thread keeps logging until the run is dropped.
    let log = log.lock().unwrap().clone();
    let running = |t: f64| {
        log.iter()
            .rev()
            .find(|(at, _)| *at <= t)
            .map(|(_, a)| a.clone())
            .unwrap()
    };
    assert!(running(1.9)[pump] > 0.0, "the pump ran before the stall");
    let stopped = log
        .iter()
        .find(|(t, a)| *t > 2.0 && a[pump] == 0.0 && a[clamp] == 1.0)
        .map(|(t, _)| *t)
        .expect("the device fell back to its safe state during the stall");
    // The last command was written at most one tick before the stall; it expires `ttl` later.
    assert!(
        stopped <= 2.0 + ttl + 0.02 + 0.01,
        "safe state at {stopped} s, ttl {ttl} s"
    );
    // While the control thread is stalled the device stays there.
    assert_eq!(running(2.9)[pump], 0.0);
    assert_eq!(running(2.9)[clamp], 1.0);
    // The plugin is marked faulted for its overrun, and control resumes afterwards.
    let s = run.summary(0.0, overruns);
    assert_eq!(s.plugin.fault.as_deref(), Some("overran its time budget"));
    // The missed deadlines are counted and raise the technical overrun alarm.
    assert!(s.overruns >= 90, "{} overruns for a 1-s stall", s.overruns);
    let late = s
        .alarms
        .iter()
        .find(|a| a.id == "tick_overrun")
        .expect("overrun alarm");
    assert_eq!(late.priority, "medium");
    assert!(late.technical);
    // A loaded machine may miss deadlines at other times too; one activation covers the stall.
    let covers = |e: &perfuse_core::run::summary::AlarmLogSummary| {
        e.id == "tick_overrun" && e.start_s <= 3.2 && e.end_s.is_none_or(|end| end >= 3.0)
    };
    assert!(s.alarm_log.iter().any(covers), "{:?}", s.alarm_log);
    assert!(running(3.9)[pump] > 0.0, "control resumed after the stall");
}
