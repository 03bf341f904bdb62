//! One device's link: its own thread polls the device's registers, writes the newest commands
//! (which also feeds the device's watchdog) and reports what it read through a bounded queue.
//! A lost connection is retried with back-off; timeouts, exceptions and garbled answers are
//! counted. Nothing here is ever waited for by the control thread.

use crate::profile::Device;
use crate::wire::{Exchange, WireError};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use perfuse_hal::rt::{self, Priority};
use perfuse_hal::{MAX_ACTUATORS, MAX_SENSORS};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// First wait before reconnecting; doubled after every failed attempt up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Cycles in a row without any answer before a link that stays connected counts as down.
const DOWN_AFTER_CYCLES: u32 = 2;
/// Failed requests (timeouts, exceptions to writes, garbled answers) within one second that make
/// the link degraded \[P\].
const DEGRADED_FAILURES_PER_S: u32 = 3;
/// Round trips are counted in buckets of this many microseconds, up to [`RTT_BUCKETS`].
pub const RTT_BUCKET_US: u64 = 10;
pub const RTT_BUCKETS: usize = 1000;

/// What a link tells the HAL after every cycle.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub up: bool,
    pub degraded: bool,
    /// The device's sensors (by protocol index; others untouched), NaN where the device said
    /// it has no reading (an exception response).
    pub values: [f64; MAX_SENSORS],
    /// When each sensor was last answered for.
    pub read_at: [Option<Instant>; MAX_SENSORS],
    pub delivered: [f64; MAX_ACTUATORS],
    pub delivered_at: [Option<Instant>; MAX_ACTUATORS],
    /// When the device last took each actuator's command (a write it answered without an
    /// exception): its watchdog counts from there.
    pub written_at: [Option<Instant>; MAX_ACTUATORS],
}

impl Default for Report {
    fn default() -> Self {
        Report {
            up: false,
            degraded: false,
            values: [f64::NAN; MAX_SENSORS],
            read_at: [None; MAX_SENSORS],
            delivered: [f64::NAN; MAX_ACTUATORS],
            delivered_at: [None; MAX_ACTUATORS],
            written_at: [None; MAX_ACTUATORS],
        }
    }
}

/// Counters of one link, readable from any thread (benchmarks, the summary line).
#[derive(Debug)]
pub struct LinkStats {
    pub requests: AtomicU64,
    pub timeouts: AtomicU64,
    pub exceptions: AtomicU64,
    pub corrupt: AtomicU64,
    pub reconnects: AtomicU64,
    /// Round trips of answered requests, in buckets of [`RTT_BUCKET_US`] (the last: beyond).
    pub rtt: Vec<AtomicU64>,
}

impl Default for LinkStats {
    fn default() -> Self {
        LinkStats {
            requests: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            exceptions: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            rtt: (0..RTT_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl LinkStats {
    /// The round trip below which `q` (0..1) of the answered requests came, in microseconds.
    pub fn rtt_quantile_us(&self, q: f64) -> Option<u64> {
        let counts: Vec<u64> = self.rtt.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let want = (q * total as f64).ceil() as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Some((i as u64 + 1) * RTT_BUCKET_US);
            }
        }
        None
    }

    fn record_rtt(&self, d: Duration) {
        let i = ((d.as_micros() as u64) / RTT_BUCKET_US).min(RTT_BUCKETS as u64 - 1);
        self.rtt[i as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// Opens a connection to `endpoint` within `connect`, ready for requests answered within
/// `answer`.
pub fn connect(endpoint: &str, connect: Duration, answer: Duration) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in endpoint.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, connect) {
            Ok(s) => {
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(answer))?;
                s.set_write_timeout(Some(answer))?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("the endpoint names no address")))
}

/// The link's side of its queues and its device.
pub struct Link {
    pub device: Device,
    pub endpoint: String,
    pub stream: Option<TcpStream>,
    pub commands: Receiver<[f64; MAX_ACTUATORS]>,
    pub reports: Sender<Report>,
    pub stats: Arc<LinkStats>,
    /// Real-time scheduling of the link's thread (`--rt-priority`), the control thread's.
    pub priority: Option<Priority>,
}

impl Link {
    /// Runs until the HAL hangs up its command queue.
    pub fn run(mut self) {
        if let Some(p) = self.priority
            && let Err(e) = rt::enter(p)
        {
            log::error!(
                "the link to {} stays at normal priority: {p} refused ({e})",
                self.device.id
            );
        }
        let dev = self.device.clone();
        let mut x = Exchange::new(dev.unit, dev.framing);
        let mut report = Report {
            up: self.stream.is_some(),
            ..Report::default()
        };
        let mut command: Option<[f64; MAX_ACTUATORS]> = None;
        // Each channel is polled every so many of the device's cycles.
        let every = |poll: Duration| (poll.as_nanos() / dev.cycle.as_nanos().max(1)).max(1) as u32;
        let every_s: Vec<u32> = dev.sensors.iter().map(|c| every(c.poll)).collect();
        let every_a: Vec<u32> = dev.actuators.iter().map(|a| every(a.poll)).collect();
        let mut backoff = BACKOFF_FIRST;
        let mut retry_at = Instant::now();
        let mut silent_cycles = 0;
        let (mut window_start, mut window_failures, mut last_window_failures) =
            (Instant::now(), 0u32, 0u32);
        let start = Instant::now();
        let mut n: u32 = 0;
        loop {
            loop {
                match self.commands.try_recv() {
                    Ok(c) => command = Some(c),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            let now = Instant::now();
            if self.stream.is_none() && now >= retry_at {
                // A connection takes longer than an answer: a few round trips.
                let within = dev.timeout.max(Duration::from_millis(50));
                match connect(&self.endpoint, within, dev.timeout) {
                    Ok(s) => {
                        self.stream = Some(s);
                        self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                        log::info!(target: "perfuse", "device `{}` reconnected", dev.id);
                        backoff = BACKOFF_FIRST;
                        silent_cycles = 0;
                    }
                    Err(_) => {
                        retry_at = now + backoff;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                    }
                }
            }
            if let Some(s) = &mut self.stream {
                let stats = &*self.stats;
                let mut answered = false;
                let mut failure: Option<WireError> = None;
                // Commands first: they feed the device's watchdog every cycle.
                if let Some(c) = &command {
                    for a in &dev.actuators {
                        let mut w = [0u16; 2];
                        let Some(words) = a.enc.encode(c[a.index], &mut w) else {
                            continue;
                        };
                        let reg = a.command_register;
                        match ask(
                            stats,
                            |st| x.write_holdings(st, reg, &w[..words as usize]),
                            s,
                        ) {
                            Outcome::Answer => {
                                answered = true;
                                report.written_at[a.index] = Some(Instant::now());
                            }
                            Outcome::Exception => {
                                answered = true;
                                window_failures += 1;
                            }
                            Outcome::Failed(e) => {
                                failure = Some(e);
                                break;
                            }
                        }
                    }
                }
                for (k, ch) in dev.sensors.iter().enumerate() {
                    if failure.is_some() || !n.is_multiple_of(every_s[k]) {
                        continue;
                    }
                    let words = ch.enc.ty.words();
                    let value = match ask(stats, |st| x.read_holdings(st, ch.register, words), s) {
                        Outcome::Answer => ch.enc.decode(&x.words),
                        // The device says it has no reading.
                        Outcome::Exception => f64::NAN,
                        Outcome::Failed(e) => {
                            failure = Some(e);
                            continue;
                        }
                    };
                    answered = true;
                    report.values[ch.index] = value;
                    report.read_at[ch.index] = Some(Instant::now());
                }
                for (k, a) in dev.actuators.iter().enumerate() {
                    if failure.is_some() || !n.is_multiple_of(every_a[k]) {
                        continue;
                    }
                    let words = a.enc.ty.words();
                    let reg = a.delivered_register;
                    let value = match ask(stats, |st| x.read_holdings(st, reg, words), s) {
                        Outcome::Answer => a.enc.decode(&x.words),
                        Outcome::Exception => f64::NAN,
                        Outcome::Failed(e) => {
                            failure = Some(e);
                            continue;
                        }
                    };
                    answered = true;
                    report.delivered[a.index] = value;
                    report.delivered_at[a.index] = Some(Instant::now());
                }
                match failure {
                    None => silent_cycles = 0,
                    Some(e) => {
                        window_failures += 1;
                        if !answered {
                            silent_cycles += 1;
                        }
                        // A late or garbled answer leaves the stream out of step: start afresh.
                        log::warn!(target: "perfuse", "device `{}`: {e}", dev.id);
                        self.stream = None;
                        retry_at = Instant::now();
                        if matches!(e, WireError::Io(_)) {
                            // The connection itself failed: down at once, retried after a pause.
                            silent_cycles = DOWN_AFTER_CYCLES;
                            retry_at += BACKOFF_FIRST;
                        }
                    }
                }
            } else {
                silent_cycles = silent_cycles.max(DOWN_AFTER_CYCLES);
            }
            report.up = silent_cycles < DOWN_AFTER_CYCLES;
            if now.duration_since(window_start) >= Duration::from_secs(1) {
                last_window_failures = window_failures;
                window_failures = 0;
                window_start = now;
            }
            report.degraded =
                report.up && window_failures.max(last_window_failures) >= DEGRADED_FAILURES_PER_S;
            // A full queue: the HAL has not taken the last reports; it wants the newest.
            let _ = self.reports.try_send(report);
            n += 1;
            let due = start + dev.cycle * n;
            match due.checked_duration_since(Instant::now()) {
                Some(wait) => std::thread::sleep(wait),
                // Behind: skip the missed cycles rather than bunch them up.
                None => n = (start.elapsed().as_nanos() / dev.cycle.as_nanos().max(1)) as u32,
            }
        }
    }
}

/// How one request went.
enum Outcome {
    Answer,
    /// The device answered with an exception.
    Exception,
    /// No usable answer: the stream is out of step or gone.
    Failed(WireError),
}

/// Sends one request, counting it and its round trip.
fn ask(
    stats: &LinkStats,
    f: impl FnOnce(&mut TcpStream) -> Result<(), WireError>,
    s: &mut TcpStream,
) -> Outcome {
    let t0 = Instant::now();
    stats.requests.fetch_add(1, Ordering::Relaxed);
    match f(s) {
        Ok(()) => {
            stats.record_rtt(t0.elapsed());
            Outcome::Answer
        }
        Err(WireError::Exception(_)) => {
            stats.exceptions.fetch_add(1, Ordering::Relaxed);
            Outcome::Exception
        }
        Err(e) => {
            match e {
                WireError::Timeout => stats.timeouts.fetch_add(1, Ordering::Relaxed),
                WireError::Corrupt(_) => stats.corrupt.fetch_add(1, Ordering::Relaxed),
                _ => 0,
            };
            Outcome::Failed(e)
        }
    }
}
