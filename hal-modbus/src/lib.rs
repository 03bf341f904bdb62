//! Real devices over Modbus: the HAL that drives a rig's pumps, heaters, clamps and sensors
//! through the registers a device profile names, and the other side of the same wire: a
//! simulator served as those devices (`perfuse devsim`), to rehearse a rig on one machine.
//!
//! Every device has its own link thread ([`link`]): the HAL's `read` and `write` only touch
//! bounded queues with `try_send`/`try_recv`, so neither the HAL thread nor the tick ever waits
//! on the wire. What a link cannot deliver shows in the sensor frame: readings that did not come
//! fresh (they go stale under the protocol's sensor rules), links down or degraded (the core's
//! `<device>_link_lost` and `<device>_link_degraded` alarms), missing feedback (NaN).
//!
//! Not a certified medical device: see the README.

pub mod codec;
pub mod devsim;
pub mod link;
pub mod profile;
pub mod wire;

use crossbeam_channel::{Receiver, Sender, bounded};
use link::{Link, LinkStats, Report};
use perfuse_hal::{CommandFrame, Hal, MAX_ACTUATORS, SensorFrame};
use profile::{Device, Profile};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reports a link may queue before the HAL takes them (it keeps the newest).
const REPORT_QUEUE: usize = 4;
/// Command frames a link may queue (it writes the newest).
const COMMAND_QUEUE: usize = 2;
/// A reading counts as fresh for this many of its poll periods: one late answer is forgiven.
const FRESH_POLLS: u32 = 2;

/// Why the devices cannot be used at start.
#[derive(Debug)]
pub struct Unreachable {
    pub device: String,
    pub endpoint: String,
    pub reason: String,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "device `{}` at {} is unreachable: {}",
            self.device, self.endpoint, self.reason
        )
    }
}

/// The Modbus HAL: one link thread per device.
pub struct ModbusHal {
    devices: Vec<DeviceEnd>,
    started: Instant,
    seq: u64,
    /// When the core sent its first command frame: a device that has taken none since is
    /// judged from then.
    first_command: Option<Instant>,
}

struct DeviceEnd {
    device: Device,
    commands: Sender<[f64; MAX_ACTUATORS]>,
    reports: Receiver<Report>,
    last: Report,
    stats: Arc<LinkStats>,
}

impl ModbusHal {
    /// Connects to every device of `profile` and reads each mapped register once, so that a rig
    /// that is not there (or not as the profile says) is refused before anything is commanded;
    /// then starts the link threads. `endpoint` replaces every device's endpoint (a devsim
    /// rehearsal on one port); `priority` puts the link threads under `SCHED_FIFO`.
    pub fn connect(
        profile: &Profile,
        endpoint: Option<&str>,
        priority: Option<perfuse_hal::rt::Priority>,
    ) -> Result<ModbusHal, Unreachable> {
        let mut streams = Vec::new();
        for d in &profile.devices {
            let ep = endpoint.unwrap_or(&d.endpoint).to_string();
            let fail = |reason: String| Unreachable {
                device: d.id.clone(),
                endpoint: ep.clone(),
                reason,
            };
            // The first answers may be slow (a device waking up): generous timeouts here only.
            let mut s = link::connect(&ep, Duration::from_millis(500), Duration::from_secs(1))
                .map_err(|e| fail(e.to_string()))?;
            let mut x = wire::Exchange::new(d.unit, d.framing);
            let regs = d
                .sensors
                .iter()
                .map(|c| (c.register, c.enc.ty.words()))
                .chain(
                    d.actuators
                        .iter()
                        .map(|a| (a.delivered_register, a.enc.ty.words())),
                );
            for (reg, words) in regs {
                match x.read_holdings(&mut s, reg, words) {
                    // A device without a reading right now is there all the same.
                    Ok(())
                    | Err(wire::WireError::Exception(rmodbus::ErrorKind::SlaveDeviceFailure)) => {}
                    Err(e) => return Err(fail(format!("register {reg} of unit {}: {e}", d.unit))),
                }
            }
            s.set_read_timeout(Some(d.timeout))
                .map_err(|e| fail(e.to_string()))?;
            streams.push((s, ep));
        }
        let mut devices = Vec::new();
        for (d, (s, ep)) in profile.devices.iter().zip(streams) {
            let (cmd_tx, cmd_rx) = bounded(COMMAND_QUEUE);
            let (rep_tx, rep_rx) = bounded(REPORT_QUEUE);
            let stats = Arc::new(LinkStats::default());
            let link = Link {
                device: d.clone(),
                endpoint: ep.clone(),
                stream: Some(s),
                commands: cmd_rx,
                reports: rep_tx,
                stats: stats.clone(),
                priority,
            };
            std::thread::Builder::new()
                .name(format!("modbus-{}", d.id))
                .spawn(move || link.run())
                .map_err(|e| Unreachable {
                    device: d.id.clone(),
                    endpoint: ep,
                    reason: format!("cannot start its link thread: {e}"),
                })?;
            devices.push(DeviceEnd {
                device: d.clone(),
                commands: cmd_tx,
                reports: rep_rx,
                last: Report {
                    up: true,
                    ..Report::default()
                },
                stats,
            });
        }
        Ok(ModbusHal {
            devices,
            started: Instant::now(),
            seq: 0,
            first_command: None,
        })
    }

    /// Each device's id and counters.
    pub fn stats(&self) -> Vec<(String, Arc<LinkStats>)> {
        self.devices
            .iter()
            .map(|d| (d.device.id.clone(), d.stats.clone()))
            .collect()
    }
}

impl Hal for ModbusHal {
    fn read(&mut self, out: &mut SensorFrame) {
        let now = Instant::now();
        self.seq += 1;
        out.seq = self.seq;
        out.t_s = now.duration_since(self.started).as_secs_f64();
        out.not_fresh = 0;
        out.links_down = 0;
        out.links_degraded = 0;
        out.expired = 0;
        for (i, d) in self.devices.iter_mut().enumerate() {
            while let Ok(r) = d.reports.try_recv() {
                d.last = r;
            }
            let r = &d.last;
            if !r.up {
                out.links_down |= 1 << i;
            }
            if r.degraded {
                out.links_degraded |= 1 << i;
            }
            let fresh = |at: Option<Instant>, poll: Duration| {
                r.up && at.is_some_and(|t| now.duration_since(t) <= poll * FRESH_POLLS)
            };
            for s in &d.device.sensors {
                out.values[s.index] = r.values[s.index];
                if !fresh(r.read_at[s.index], s.poll) {
                    out.not_fresh |= 1 << s.index;
                }
            }
            for a in &d.device.actuators {
                // No command taken within the device's watchdog time, since the last one it
                // took or since the core began to command: its watchdog has put the actuator in
                // its safe state.
                if r.written_at[a.index]
                    .or(self.first_command)
                    .is_some_and(|t| now.duration_since(t).as_secs_f64() > a.watchdog_s)
                {
                    out.expired |= 1 << a.index;
                }
                out.delivered[a.index] = if fresh(r.delivered_at[a.index], a.poll) {
                    r.delivered[a.index]
                } else {
                    // Nobody can tell what it delivers.
                    f64::NAN
                };
            }
        }
    }

    fn write(&mut self, cmd: &CommandFrame) {
        self.first_command.get_or_insert_with(Instant::now);
        for d in &self.devices {
            // Full: the link has not written the last ones yet; the next frame comes soon.
            let _ = d.commands.try_send(cmd.values);
        }
    }

    /// Real devices' time passes by itself.
    fn advance(&mut self, _dt_s: f64) {}
}
