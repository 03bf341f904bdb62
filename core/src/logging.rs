//! A `log` backend that never blocks its caller: messages go through a bounded queue to a
//! writer thread; when the queue is full the message is dropped and counted.
//!
//! What is logged is set like `env_logger` does, from `RUST_LOG` ([`Filter::parse`]): a level
//! (`RUST_LOG=debug`), levels per target (`RUST_LOG=plugin=debug,perfuse=info`), or both.

use crossbeam_channel::{Receiver, Sender, bounded};
use log::LevelFilter;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Which messages are written: a level for targets no directive names, and levels for targets
/// that start with a directive's name (the longest such name decides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub default: LevelFilter,
    pub targets: Vec<(String, LevelFilter)>,
}

impl Filter {
    pub fn level(default: LevelFilter) -> Self {
        Filter {
            default,
            targets: Vec::new(),
        }
    }

    /// Reads a `RUST_LOG` value: comma-separated directives, each a level (`off`, `error`,
    /// `warn`, `info`, `debug`, `trace`, any case) or `target=level`. Unset or empty: `default`.
    /// A directive that is neither is an error that names it.
    pub fn parse(value: Option<&str>, default: LevelFilter) -> Result<Self, String> {
        let mut filter = Filter::level(default);
        for d in value.unwrap_or("").split(',').map(str::trim) {
            if d.is_empty() {
                continue;
            }
            let level = |s: &str| {
                s.parse::<LevelFilter>().map_err(|_| {
                    format!(
                        "RUST_LOG: expected a level (off, error, warn, info, debug, trace) or \
                         target=level, found `{d}`"
                    )
                })
            };
            match d.split_once('=') {
                Some((target, l)) if !target.is_empty() => {
                    filter.targets.push((target.to_string(), level(l)?));
                }
                Some(_) => return Err(level("").unwrap_err()),
                None => filter.default = level(d)?,
            }
        }
        Ok(filter)
    }

    /// The level in force for a target.
    pub fn for_target(&self, target: &str) -> LevelFilter {
        self.targets
            .iter()
            .filter(|(t, _)| target.starts_with(t.as_str()))
            .max_by_key(|(t, _)| t.len())
            .map_or(self.default, |(_, l)| *l)
    }

    /// The most verbose level any target gets.
    fn max(&self) -> LevelFilter {
        self.targets
            .iter()
            .map(|(_, l)| *l)
            .fold(self.default, Ord::max)
    }
}

struct QueueLogger {
    tx: Sender<String>,
    /// The writer's end, only to see when it has taken everything ([`log::Log::flush`]).
    rx: Receiver<String>,
    filter: Filter,
    dropped: AtomicU64,
}

impl log::Log for QueueLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.filter.for_target(metadata.target())
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!("[{} {}] {}", record.level(), record.target(), record.args());
        if self.tx.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits a little for the writer to take what is queued (at the program's end).
    fn flush(&self) {
        let until = Instant::now() + Duration::from_millis(200);
        while !self.rx.is_empty() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Installs the logger (once per process; later calls do nothing).
pub fn init(filter: Filter) {
    let (tx, rx) = bounded::<String>(1024);
    let max = filter.max();
    let logger = Box::new(QueueLogger {
        tx,
        rx: rx.clone(),
        filter,
        dropped: AtomicU64::new(0),
    });
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(max);
        let _ = std::thread::Builder::new()
            .name("perfuse-log".into())
            .spawn(move || {
                for line in rx {
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_sets_the_level_overall_and_per_target() {
        let f = |v| Filter::parse(Some(v), LevelFilter::Info);
        assert_eq!(f("").unwrap(), Filter::level(LevelFilter::Info));
        assert_eq!(f("DEBUG").unwrap(), Filter::level(LevelFilter::Debug));
        let mixed = f("warn, plugin=trace,perfuse=debug,perfuse::x=off").unwrap();
        assert_eq!(mixed.for_target("plugin"), LevelFilter::Trace);
        assert_eq!(mixed.for_target("perfuse"), LevelFilter::Debug);
        assert_eq!(mixed.for_target("perfuse::x::y"), LevelFilter::Off);
        assert_eq!(mixed.for_target("other"), LevelFilter::Warn);
        assert_eq!(mixed.max(), LevelFilter::Trace);
        let e = f("plugin=loud").unwrap_err();
        assert!(e.contains("found `plugin=loud`"), "{e}");
        assert!(f("verbose").is_err());
        assert!(f("=debug").is_err());
        assert_eq!(
            Filter::parse(None, LevelFilter::Warn).unwrap(),
            Filter::level(LevelFilter::Warn)
        );
    }
}
