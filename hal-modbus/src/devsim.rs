//! The simulator served as the devices of a profile (`perfuse devsim`): another process on the
//! same machine answers the registers a rig's devices would, so the Modbus HAL, its link faults
//! and the devices' own watchdogs are rehearsed across a real process and wire boundary.
//!
//! Each device's watchdog is the device's, not the controller's: an actuator whose command
//! register was not written for its `watchdog.timeout_s` goes to its safe value by itself, and
//! takes commands again when they return. A reading the simulator cannot give (a lost channel)
//! is answered with the exception "slave device failure" where the register type cannot carry
//! NaN.

use crate::profile::{Device, Framing, Profile, SafeValue};
use crate::wire::{WireError, proto};
use perfuse_hal::{CommandFrame, Hal, MAX_ACTUATORS, SensorFrame};
use rmodbus::server::ModbusFrame;
use rmodbus::server::storage::ModbusStorage;
use rmodbus::{ErrorKind, ModbusProto, guess_request_frame_len};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The whole 16-bit holding register space of one unit (no coils, discretes or inputs).
type Registers = ModbusStorage<1, 1, 1, 65536>;

/// What the devices hold between the simulator's steps and the clients' requests.
struct Shared {
    /// Per device: its unit id and registers.
    units: Vec<(u8, Box<Registers>)>,
    /// Per device: register spans `[start, end)` that have no valid reading now.
    invalid: Vec<Vec<(u16, u16)>>,
    /// Per actuator (protocol index): when its command register was last written.
    written: [Option<Instant>; MAX_ACTUATORS],
}

/// A watchdog change, for the devsim's log.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchdogEvent {
    /// Commands stopped: the actuator went to its safe value by itself.
    Tripped { actuator: usize, safe_value: f64 },
    /// Commands came again.
    Resumed { actuator: usize },
}

/// The simulated devices of one profile.
pub struct DevSim {
    profile: Profile,
    hal: Box<dyn Hal>,
    period_s: f64,
    shared: Arc<Mutex<Shared>>,
    faulty: Faulty,
}

/// Devices (by unit id) that misbehave on the wire, to rehearse what a real line does; each
/// kind may name several devices.
#[derive(Debug, Clone, Default)]
struct Faulty {
    /// Devices that answer one request in [`SLOW_EVERY`] late (overloaded), and by how much.
    slow: Vec<(u8, Duration)>,
    /// Devices one of whose answers in [`CORRUPT_EVERY`] has a bit flipped (a noisy line).
    corrupt: Vec<u8>,
    /// Devices that answer every write with an exception from this instant on (switched to
    /// local control, or a firmware that stopped taking commands), while they still answer
    /// reads.
    refuse_writes: Vec<(u8, Instant)>,
}

impl Faulty {
    fn slow_by(&self, unit: u8) -> Option<Duration> {
        self.slow.iter().find(|s| s.0 == unit).map(|s| s.1)
    }

    fn corrupts(&self, unit: u8) -> bool {
        self.corrupt.contains(&unit)
    }

    fn refuses_writes(&self, unit: u8, now: Instant) -> bool {
        self.refuse_writes
            .iter()
            .any(|&(u, from)| u == unit && now >= from)
    }
}

/// One request in this many of a slow device is answered late.
pub const SLOW_EVERY: u64 = 4;
/// One answer in this many of a corrupting device is garbled.
pub const CORRUPT_EVERY: u64 = 10;

impl DevSim {
    /// Serves `hal` (the simulator) as `profile`'s devices, stepping it every `period_s`. All
    /// devices answer on one port, told apart by unit id; they must share a framing.
    pub fn new(profile: Profile, hal: Box<dyn Hal>, period_s: f64) -> Result<DevSim, String> {
        let devices = &profile.devices;
        for (i, d) in devices.iter().enumerate() {
            if let Some(o) = devices[..i].iter().find(|o| o.unit == d.unit) {
                return Err(format!(
                    "devices `{}` and `{}` share unit {}: devsim serves every device on one \
                     port and tells them apart by unit",
                    o.id, d.id, d.unit
                ));
            }
            if d.framing != devices[0].framing {
                return Err(format!(
                    "device `{}` uses {:?} framing, `{}` {:?}: devsim serves one framing",
                    d.id, d.framing, devices[0].id, devices[0].framing
                ));
            }
        }
        let shared = Shared {
            units: devices
                .iter()
                .map(|d| (d.unit, Box::<Registers>::default()))
                .collect(),
            invalid: vec![Vec::new(); devices.len()],
            written: [None; MAX_ACTUATORS],
        };
        Ok(DevSim {
            profile,
            hal,
            period_s,
            shared: Arc::new(Mutex::new(shared)),
            faulty: Faulty::default(),
        })
    }

    fn unit_of(&self, id: &str) -> Result<&Device, String> {
        self.profile
            .devices
            .iter()
            .find(|d| d.id == id)
            .ok_or_else(|| format!("no device `{id}` in the profile"))
    }

    /// Makes device `id` answer one request in [`SLOW_EVERY`] three times its timeout late.
    pub fn slow_device(&mut self, id: &str) -> Result<(), String> {
        let d = self.unit_of(id)?;
        self.faulty.slow.push((d.unit, d.timeout * 3));
        Ok(())
    }

    /// Makes device `id` garble one answer in [`CORRUPT_EVERY`] (one bit flipped): only RTU
    /// frames carry a checksum that tells.
    pub fn corrupt_device(&mut self, id: &str) -> Result<(), String> {
        let d = self.unit_of(id)?;
        if d.framing != Framing::Rtu {
            return Err(format!(
                "device `{id}` uses {:?} framing, whose frames carry no checksum: a garbled \
                 answer would go unnoticed (TCP itself checks the bytes)",
                d.framing
            ));
        }
        self.faulty.corrupt.push(d.unit);
        Ok(())
    }

    /// Makes device `id` answer every write with the exception "slave device failure" from
    /// `from` on; its readings still come. Its watchdog then puts its actuators in their safe
    /// state.
    pub fn refuse_writes(&mut self, id: &str, from: Instant) -> Result<(), String> {
        let d = self.unit_of(id)?;
        self.faulty.refuse_writes.push((d.unit, from));
        Ok(())
    }

    /// Accepts clients on `listener` on threads of their own, until the process ends.
    pub fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        let framing = self
            .profile
            .devices
            .first()
            .map_or(Framing::Tcp, |d| d.framing);
        let actuators: Vec<(usize, u16, usize)> = self
            .profile
            .devices
            .iter()
            .enumerate()
            .flat_map(|(i, d)| {
                d.actuators
                    .iter()
                    .map(move |a| (i, a.command_register, a.index))
            })
            .collect();
        let shared = self.shared.clone();
        let faulty = Arc::new(self.faulty.clone());
        std::thread::Builder::new()
            .name("devsim-accept".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let shared = shared.clone();
                    let actuators = actuators.clone();
                    let faulty = faulty.clone();
                    let _ = std::thread::Builder::new()
                        .name("devsim-client".into())
                        .spawn(move || client(stream, framing, &shared, &actuators, &faulty));
                }
            })?;
        Ok(())
    }

    /// Steps the simulator in real time until `stop` says so: commands (or the watchdogs' safe
    /// values) in, one period of plant time, readings out.
    pub fn run(&mut self, stop: &dyn Fn() -> bool, mut on_event: impl FnMut(WatchdogEvent)) {
        let period = Duration::from_secs_f64(self.period_s);
        let start = Instant::now();
        let mut frame = SensorFrame::default();
        let mut cmd = CommandFrame::default();
        let mut applied = [0.0; MAX_ACTUATORS];
        let mut tripped = [true; MAX_ACTUATORS];
        // Before any command, each actuator is at its safe value (a held one at 0).
        for d in &self.profile.devices {
            for a in &d.actuators {
                applied[a.index] = match a.safe {
                    SafeValue::Value(v) => v,
                    SafeValue::Hold => 0.0,
                };
            }
        }
        let mut n: u32 = 0;
        while !stop() {
            let now = Instant::now();
            {
                let sh = self.shared.lock().unwrap_or_else(|p| p.into_inner());
                for (di, d) in self.profile.devices.iter().enumerate() {
                    for a in &d.actuators {
                        let alive = sh.written[a.index]
                            .is_some_and(|t| now.duration_since(t).as_secs_f64() <= a.watchdog_s);
                        if alive {
                            let regs = &sh.units[di].1.holdings;
                            let r = a.command_register as usize;
                            applied[a.index] =
                                a.enc.decode(&regs[r..r + a.enc.ty.words() as usize]);
                            if tripped[a.index] {
                                tripped[a.index] = false;
                                on_event(WatchdogEvent::Resumed { actuator: a.index });
                            }
                        } else if !tripped[a.index] {
                            tripped[a.index] = true;
                            if let SafeValue::Value(v) = a.safe {
                                applied[a.index] = v;
                            }
                            on_event(WatchdogEvent::Tripped {
                                actuator: a.index,
                                safe_value: applied[a.index],
                            });
                        }
                        cmd.values[a.index] = applied[a.index];
                        // The device's own watchdog decides; the plant's time to live only
                        // backs it up should this loop stall.
                        cmd.ttl_s[a.index] = 4.0 * self.period_s;
                    }
                }
            }
            cmd.t_s = now.duration_since(start).as_secs_f64();
            self.hal.write(&cmd);
            self.hal.advance(self.period_s);
            self.hal.read(&mut frame);
            {
                let mut sh = self.shared.lock().unwrap_or_else(|p| p.into_inner());
                for (di, d) in self.profile.devices.iter().enumerate() {
                    publish(&mut sh, di, d, &frame);
                }
            }
            n += 1;
            match (start + period * n).checked_duration_since(Instant::now()) {
                Some(wait) => std::thread::sleep(wait),
                None => n = (start.elapsed().as_nanos() / period.as_nanos().max(1)) as u32,
            }
        }
    }
}

/// Writes the newest readings and deliveries of device `di` into its registers.
fn publish(sh: &mut Shared, di: usize, d: &Device, frame: &SensorFrame) {
    let Shared { units, invalid, .. } = sh;
    let regs = &mut units[di].1.holdings;
    let invalid = &mut invalid[di];
    invalid.clear();
    let channels = d
        .sensors
        .iter()
        .map(|s| (s.register, s.enc, frame.values[s.index]))
        .chain(
            d.actuators
                .iter()
                .map(|a| (a.delivered_register, a.enc, frame.delivered[a.index])),
        );
    for (reg, enc, value) in channels {
        let mut w = [0u16; 2];
        match enc.encode(value, &mut w) {
            Some(n) => {
                let r = reg as usize;
                regs[r..r + n as usize].copy_from_slice(&w[..n as usize]);
            }
            None => invalid.push((reg, reg + enc.ty.words())),
        }
    }
}

/// Serves one client connection until it closes or sends garbage.
fn client(
    mut s: TcpStream,
    framing: Framing,
    shared: &Mutex<Shared>,
    actuators: &[(usize, u16, usize)],
    faulty: &Faulty,
) {
    let mut asked: u64 = 0;
    let _ = s.set_nodelay(true);
    let p = proto(framing);
    let mut buf = Vec::with_capacity(256);
    let mut response = Vec::with_capacity(256);
    loop {
        if read_request(&mut s, p, &mut buf).is_err() {
            return;
        }
        let unit_at = if p == ModbusProto::TcpUdp { 6 } else { 0 };
        let unit = buf[unit_at];
        let slow_by = faulty.slow_by(unit);
        let corrupts = faulty.corrupts(unit);
        if slow_by.is_some() || corrupts {
            asked += 1;
        }
        if let Some(late_by) = slow_by
            && asked.is_multiple_of(SLOW_EVERY)
        {
            std::thread::sleep(late_by);
        }
        let garble = corrupts && asked.is_multiple_of(CORRUPT_EVERY);
        let mut sh = shared.lock().unwrap_or_else(|e| e.into_inner());
        let Some(di) = sh.units.iter().position(|(u, _)| *u == unit) else {
            // No such device on this line: nobody answers.
            continue;
        };
        let mut frame = ModbusFrame::new(unit, &buf, p, &mut response);
        if frame.parse().is_err() {
            return;
        }
        if frame.processing_required {
            let (reg, count) = (frame.reg, frame.count);
            let result = if frame.readonly {
                let end = reg as u32 + count as u32;
                let missing = sh.invalid[di]
                    .iter()
                    .any(|&(a, b)| (a as u32) < end && reg < b);
                if missing {
                    frame.set_modbus_error_if_unset(&ErrorKind::SlaveDeviceFailure)
                } else {
                    frame.process_read(&*sh.units[di].1)
                }
            } else if faulty.refuses_writes(unit, Instant::now()) {
                frame.set_modbus_error_if_unset(&ErrorKind::SlaveDeviceFailure)
            } else {
                let r = frame.process_write(&mut *sh.units[di].1);
                if r.is_ok() && frame.error.is_none() {
                    let now = Instant::now();
                    for &(d, creg, index) in actuators {
                        if d == di && creg >= reg && (creg as u32) < reg as u32 + count as u32 {
                            sh.written[index] = Some(now);
                        }
                    }
                }
                r
            };
            if result.is_err() {
                return;
            }
        }
        if frame.response_required {
            if frame.finalize_response().is_err() {
                return;
            }
            drop(sh);
            if garble && let Some(b) = response.get_mut(3) {
                *b ^= 0x10;
            }
            if s.write_all(&response).is_err() {
                return;
            }
        }
    }
}

/// Reads one request frame: its head, then the length the head announces.
fn read_request(s: &mut TcpStream, p: ModbusProto, buf: &mut Vec<u8>) -> Result<(), WireError> {
    // A TCP request's MBAP header; an RTU request is at least 8 bytes, and its seventh tells
    // the length of a write of several registers.
    let head = if p == ModbusProto::TcpUdp { 6 } else { 7 };
    buf.clear();
    buf.resize(head, 0);
    s.read_exact(buf)?;
    let len = guess_request_frame_len(buf, p).map_err(WireError::Corrupt)? as usize;
    if len < head {
        return Err(WireError::Corrupt(ErrorKind::FrameBroken));
    }
    buf.resize(len, 0);
    s.read_exact(&mut buf[head..])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_misbehaviour_keeps_every_device_it_is_given() {
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        let f = Faulty {
            slow: vec![
                (1, Duration::from_millis(30)),
                (2, Duration::from_millis(60)),
            ],
            corrupt: vec![3, 4],
            refuse_writes: vec![(4, now), (5, later)],
        };
        assert_eq!(f.slow_by(1), Some(Duration::from_millis(30)));
        assert_eq!(f.slow_by(2), Some(Duration::from_millis(60)));
        assert_eq!(f.slow_by(3), None);
        assert!(f.corrupts(3) && f.corrupts(4) && !f.corrupts(1));
        assert!(f.refuses_writes(4, now) && !f.refuses_writes(1, now));
        // From its own time on.
        assert!(!f.refuses_writes(5, now) && f.refuses_writes(5, later));
    }
}
