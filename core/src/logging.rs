//! A `log` backend that never blocks its caller: messages go through a bounded queue to a
//! writer thread; when the queue is full the message is dropped and counted.

use crossbeam_channel::{Sender, bounded};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

struct QueueLogger {
    tx: Sender<String>,
    level: log::LevelFilter,
    dropped: AtomicU64,
}

impl log::Log for QueueLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level
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

    fn flush(&self) {}
}

/// Installs the logger (once per process; later calls do nothing).
pub fn init(level: log::LevelFilter) {
    let (tx, rx) = bounded::<String>(1024);
    let logger = Box::new(QueueLogger {
        tx,
        level,
        dropped: AtomicU64::new(0),
    });
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(level);
        let _ = std::thread::Builder::new()
            .name("perfuse-log".into())
            .spawn(move || {
                for line in rx {
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
            });
    }
}
