//! A stalled control thread: the control thread itself stops for 1 s in real time (here in a
//! device write that blocks; a plugin can no longer stall it). The device, on its own thread,
//! keeps its clock; when the commands' time to live runs out it puts each actuator in its safe
//! state by itself, and the independent watchdog raises "controller not responding" within half
//! a second. A recording wrapper around the simulator (test code, on the device thread) logs
//! what the actuators actually do.

mod common;
use common::*;
use perfuse_core::config;
use perfuse_core::hal::{CommandFrame, Hal, SensorFrame};
use perfuse_core::plugin::worker;
use perfuse_core::run::realtime::HalChannels;
use perfuse_core::run::watchdog::{self, WatchdogEvent};
use perfuse_core::run::{Run, RunOptions, realtime};
use perfuse_core::tick::HalPort;
use perfuse_hal_sim::SimHal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// The control thread's end of the device channels, which blocks for a second in the write of
/// tick `stall_at`: the control thread stands still there, as a stuck system call would.
struct Stalling {
    channels: HalChannels,
    writes: u64,
    stall_at: u64,
    stalled_at: Arc<Mutex<Option<Instant>>>,
}

impl Hal for Stalling {
    fn read(&mut self, out: &mut SensorFrame) {
        self.channels.take_newest(out);
    }
    fn write(&mut self, cmd: &CommandFrame) {
        self.channels.send(cmd);
        if self.writes == self.stall_at {
            *self.stalled_at.lock().unwrap() = Some(Instant::now());
            std::thread::sleep(Duration::from_secs(1));
        }
        self.writes += 1;
    }
    fn advance(&mut self, _dt_s: f64) {}
}

#[test]
fn a_stalled_control_thread_leaves_every_actuator_in_its_fallback_within_its_ttl() {
    let file = protocol("kidney-hmp.ron");
    let loaded = config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let plugin =
        worker::start(&loaded.plan, &plugin_policy(&loaded.plan)).unwrap_or_else(|e| panic!("{e}"));
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
    let stalled_at = Arc::new(Mutex::new(None));
    let stalling = Stalling {
        channels,
        writes: 0,
        stall_at: 200,
        stalled_at: stalled_at.clone(),
    };
    let mut run = Run::new(plan, HalPort::Direct(Box::new(stalling)), plugin, &opts);
    let alarms: Arc<Mutex<Vec<(Instant, WatchdogEvent)>>> = Arc::default();
    let sink = alarms.clone();
    run.watchdog_outputs
        .push(Box::new(move |e: &WatchdogEvent| {
            sink.lock().unwrap().push((Instant::now(), *e));
        }));
    run.initialize().unwrap();
    let overruns = realtime::run(&mut run, &perfuse_core::run::StopRequest::default());
    let stalled_at = stalled_at.lock().unwrap().expect("the run reached 2 s");

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
    // The watchdog raised its alarm within half a second, once, and cleared it when ticks
    // resumed.
    let alarms = alarms.lock().unwrap().clone();
    assert_eq!(alarms.len(), 2, "{alarms:?}");
    let (raised_at, WatchdogEvent::NotResponding { tick, .. }) = alarms[0] else {
        panic!("{alarms:?}")
    };
    assert_eq!(tick, 200, "the tick the control thread stalled in");
    let delay = raised_at.duration_since(stalled_at);
    assert!(
        delay >= watchdog::STALL && delay <= Duration::from_millis(500),
        "raised {delay:?} after the stall"
    );
    assert!(
        matches!(alarms[1].1, WatchdogEvent::Responding { silent, .. } if silent >= Duration::from_millis(900)),
        "{alarms:?}"
    );
    // The plugin did nothing wrong.
    let s = run.summary(0.0, overruns);
    assert_eq!(s.plugin.fault, None);
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
