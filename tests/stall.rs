//! A stalled control thread in real time, and a hung plugin in real time.
//!
//! The stall: a device driver's read blocks the control thread for 1 s. The simulator runs on
//! its own thread behind the driver's channels, so device time goes on; when the commands' time
//! to live runs out it puts each actuator in its safe state by itself, and the watchdog raises
//! `controller_not_responding` on the outputs within half a second. A recording wrapper around
//! the simulator (test code, on the device thread) logs what the actuators actually do.
//!
//! The hung plugin: its step never returns; control goes on without it within a tick of its
//! budget, and the devices never notice.

#[allow(dead_code)] // this binary uses a few of the shared helpers
mod common;
use common::*;
use perfuse_core::config;
use perfuse_core::hal::{CommandFrame, Hal, SensorFrame};
use perfuse_core::output::Delivery;
use perfuse_core::run::{StopRequest, realtime};
use perfuse_core::tick::HalPort;
use perfuse_hal_sim::SimHal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Device time and each actuator's applied command, after every step.
type ActuatorLog = Arc<Mutex<Vec<(f64, Vec<f64>)>>>;

/// The simulator, logging what its actuators do.
struct Recording {
    sim: SimHal,
    log: ActuatorLog,
    /// The device time of every command frame received.
    writes: Arc<Mutex<Vec<f64>>>,
}

impl Hal for Recording {
    fn read(&mut self, out: &mut SensorFrame) {
        self.sim.read(out);
    }
    fn write(&mut self, cmd: &CommandFrame) {
        self.sim.write(cmd);
        self.writes.lock().unwrap().push(self.sim.time_s());
    }
    fn advance(&mut self, dt_s: f64) {
        self.sim.advance(dt_s);
        let applied = self.sim.applied_commands().to_vec();
        self.log.lock().unwrap().push((self.sim.time_s(), applied));
    }
}

/// A device driver on the control thread whose read blocks once, at read number `stall_at`,
/// for `stall`; it reaches the device (on its own thread) through the real-time channels.
struct StallingDriver {
    channels: perfuse_core::hal::HalChannels,
    reads: u64,
    stall_at: u64,
    stall: Duration,
    stalled_at: Arc<Mutex<Option<Instant>>>,
}

impl Hal for StallingDriver {
    fn read(&mut self, out: &mut SensorFrame) {
        self.reads += 1;
        if self.reads == self.stall_at {
            *self.stalled_at.lock().unwrap() = Some(Instant::now());
            std::thread::sleep(self.stall);
        }
        self.channels.take_newest(out);
    }
    fn write(&mut self, cmd: &CommandFrame) {
        self.channels.send(cmd);
    }
    fn advance(&mut self, _dt_s: f64) {}
}

/// Kidney HMP in real time on a logged simulator; with `faulty`, the faulty test plugin with
/// these parameters in place of the kidney plugin.
fn kidney(
    dir: &tempfile::TempDir,
    faulty: Option<&str>,
) -> (config::Loaded, PathBuf, ActuatorLog, SimHal) {
    let text = match faulty {
        None => std::fs::read_to_string(protocol("kidney-hmp.ron")).unwrap(),
        Some(params) => edited_protocol("kidney-hmp.ron", &faulty_kidney(params)),
    };
    let file = dir.path().join("kidney.ron");
    std::fs::write(&file, text).unwrap();
    let loaded = config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let sim = SimHal::new(&loaded.file, 1, &[]).unwrap();
    (loaded, file, Arc::new(Mutex::new(Vec::new())), sim)
}

/// What the actuators did at device time `t` (the newest log entry at or before it).
fn applied_at(log: &[(f64, Vec<f64>)], t: f64) -> Vec<f64> {
    log.iter()
        .rev()
        .find(|(at, _)| *at <= t)
        .map(|(_, a)| a.clone())
        .unwrap()
}

#[test]
fn a_stalled_control_thread_raises_the_watchdog_alarm_while_the_devices_fall_back() {
    let dir = tempfile::tempdir().unwrap();
    let (loaded, file, log, sim) = kidney(&dir, None);
    let writes = Arc::new(Mutex::new(Vec::new()));
    let device = Recording {
        sim,
        log: log.clone(),
        writes: writes.clone(),
    };
    let plan = &loaded.plan;
    let (pump, clamp) = (
        plan.actuator("pump").unwrap(),
        plan.actuator("arterial_clamp").unwrap(),
    );
    let ttl = plan.actuators[pump].ttl_s;
    let policy = plugin_policy(plan);
    let stalled_at = Arc::new(Mutex::new(None));
    let period_s = plan.period_s;
    let stall = stalled_at.clone();
    // The driver on the control thread, reaching the devices on theirs. The device's clock
    // starts when the port is built: control starts right after it.
    let port = move || {
        let (channels, _thread) = realtime::spawn_hal(Box::new(device), period_s, None).unwrap();
        HalPort::direct(Box::new(StallingDriver {
            channels,
            reads: 0,
            // The read of the tick at 2 s.
            stall_at: 201,
            stall: Duration::from_secs(1),
            stalled_at: stall,
        }))
    };
    let w = Wiring {
        duration_s: Some(4.0),
        devices: Devices::Port(Box::new(port)),
        ..Wiring::lockstep(&policy, 1)
    };
    let mut run = wired(loaded, &file, w);
    let frames = run.attach_output(100, 4096, Delivery::Drop);
    let watched = std::thread::spawn(move || {
        frames
            .iter()
            .filter_map(|f| {
                f.watchdog_event()
                    .map(|(ok, _)| (ok, Instant::now(), f.tick))
            })
            .collect::<Vec<_>>()
    });
    let (mut run, _overruns) = realtime::run(run, &StopRequest::default(), None);
    run.close_outputs();
    let alarms = watched.join().unwrap();
    let stalled_at = stalled_at.lock().unwrap().expect("the driver stalled");

    // The watchdog: raised once within half a second of the stall, ended once when it was over.
    let [(false, raised, tick), (true, ended, _)] = alarms[..] else {
        panic!("watchdog frames: {alarms:?}");
    };
    let after = raised - stalled_at;
    assert!(
        after <= Duration::from_millis(500),
        "raised {after:?} after the stall began"
    );
    assert!(
        after >= Duration::from_millis(300),
        "raised early: {after:?}"
    );
    assert!(
        ended - stalled_at >= Duration::from_secs(1),
        "ended while stalled"
    );
    assert_eq!(tick, 200, "the last tick done before the stall");

    // The device fell back by itself once the last command expired, and stayed there.
    let log = log.lock().unwrap().clone();
    assert!(
        applied_at(&log, 1.9)[pump] > 0.0,
        "the pump ran before the stall"
    );
    let fallback = log
        .iter()
        .find(|(t, a)| *t > 2.0 && a[pump] == 0.0 && a[clamp] == 1.0)
        .map(|(t, _)| *t)
        .expect("the device fell back to its safe state during the stall");
    // A command lives for its time to live from when the device received it (on the device's
    // clock, which starts a little before control's): the fallback came within one device
    // period of the last command before it expiring, the one sent before the 1-s stall.
    let last_command = writes
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|&t| t < fallback)
        .fold(f64::NAN, f64::max);
    assert!(
        last_command < 2.5 && fallback <= last_command + ttl + period_s + 1e-9,
        "safe state at {fallback} s, the last command before it at {last_command} s, ttl {ttl} s"
    );
    assert_eq!(applied_at(&log, 2.9)[pump], 0.0);
    assert_eq!(applied_at(&log, 2.9)[clamp], 1.0);
    // The missed deadlines are counted and raise the technical overrun alarm.
    let s = run.summary(0.0, 0);
    // Control resumed and ran to the end. Its first tick found every reading a second old:
    // the air detector had been blind for longer than it may be, so its failure alarm stops the
    // pump (latched) rather than trust the air line.
    assert!(
        s.completed && run.tick() >= 400,
        "ended at tick {}",
        run.tick()
    );
    let blind = s.alarm_log.iter().find(|a| a.id == "bubble_sensor_failed");
    assert!(
        blind.is_some_and(|a| (3.0..3.05).contains(&a.start_s)),
        "{:?}",
        s.alarm_log
    );
    assert!(
        s.alarms.iter().any(|a| a.id == "tick_overrun"),
        "{:?}",
        s.alarms
    );
}

#[test]
fn a_hung_plugin_in_real_time_is_given_up_and_control_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // Mode 9 blocks in the step at 2 s for ever.
    let (loaded, file, log, sim) = kidney(&dir, Some(r#""mode": 9.0, "at_s": 2.0,"#));
    let writes = Arc::new(Mutex::new(Vec::new()));
    let device = Recording {
        sim,
        log: log.clone(),
        writes: writes.clone(),
    };
    let pump = loaded.plan.actuator("pump").unwrap();
    let policy = plugin_policy(&loaded.plan);
    let w = Wiring {
        duration_s: Some(4.0),
        realtime: true,
        devices: Devices::Hal(Box::new(device)),
        ..Wiring::lockstep(&policy, 1)
    };
    let mut run = wired(loaded, &file, w);
    let frames = run.attach_output(100, 4096, Delivery::Drop);
    let watchdog = std::thread::spawn(move || frames.iter().any(|f| f.watchdog_event().is_some()));
    let started = Instant::now();
    let (mut run, overruns) = realtime::run(run, &StopRequest::default(), None);
    let wall = started.elapsed();
    run.close_outputs();

    let s = run.summary(wall.as_secs_f64(), overruns);
    assert!(s.completed, "the run went on to its end");
    assert!(wall < Duration::from_secs(6), "{wall:?}");
    assert_eq!(
        s.plugin.fault.as_deref(),
        Some("hung: its call did not return within its time budget")
    );
    let at = s.plugin.fault_s.unwrap();
    assert!((2.0..2.05).contains(&at), "faulted at {at} s");
    let fault = s.alarms.iter().find(|a| a.id == "plugin_fault").unwrap();
    assert_eq!(fault.priority, "high");
    assert!(
        !watchdog.join().unwrap(),
        "the ticks never stopped for long"
    );
    // The device never lost its commands: the pump ran throughout.
    let log = log.lock().unwrap().clone();
    let started = log.iter().position(|(_, a)| a[pump] > 0.0).unwrap();
    let stopped: Vec<f64> = log[started..]
        .iter()
        .filter(|(_, a)| a[pump] == 0.0)
        .map(|(t, _)| *t)
        .collect();
    assert!(stopped.is_empty(), "pump stopped at {stopped:?}");
}
