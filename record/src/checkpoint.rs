//! Checkpoints. A lockstep run's: every simulated minute the record keeps a digest of the
//! published state; resume re-runs the recorded inputs deterministically up to the last
//! checkpoint and compares its digest before going on, so a resumed record is known to continue
//! the same run. A real-time run's (real devices cannot be re-run): the core's saved run state
//! (`perfuse_core::run::state`) every few seconds, with the sha256 of its text as its digest,
//! which resume restores.

use perfuse_core::output::Frame;
use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// Ticks between checkpoints: one simulated minute.
pub fn every_ticks(period_s: f64) -> u64 {
    ((60.0 / period_s).round() as u64).max(1)
}

/// The sha256 of everything a frame publishes about the state: tick, phase, every value,
/// validity, setpoint, command, derived value and alarm state (bit for bit).
pub fn digest(f: &Frame) -> String {
    let mut h = Sha256::new();
    h.update(f.tick.to_le_bytes());
    h.update((f.phase as u64).to_le_bytes());
    for v in f
        .values
        .iter()
        .chain(&f.setpoints)
        .chain(&f.commands)
        .chain(&f.derived)
    {
        h.update(v.to_bits().to_le_bytes());
    }
    h.update(f.validity);
    h.update(f.alarms);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The last checkpoint of a record: tick and digest.
pub fn last(conn: &Connection) -> Result<Option<(u64, String)>, String> {
    conn.query_row(
        "SELECT tick, digest FROM checkpoints ORDER BY tick DESC LIMIT 1",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
    )
    .optional()
    .map_err(|e| format!("the record's checkpoints cannot be read: {e}"))
}

/// The last saved run state of a real-time record: tick and state text, checked against its
/// digest.
pub fn last_state(conn: &Connection) -> Result<Option<(u64, String)>, String> {
    let row: Option<(i64, String, Vec<u8>)> = conn
        .query_row(
            "SELECT tick, digest, state FROM checkpoints WHERE state IS NOT NULL
             ORDER BY tick DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(|e| format!("the record's saved states cannot be read: {e}"))?;
    let Some((tick, digest, bytes)) = row else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("the saved state at tick {tick} is not text"))?;
    if crate::schema::text_sha256(&text) != digest {
        return Err(format!(
            "the saved state at tick {tick} does not match its digest"
        ));
    }
    Ok(Some((tick as u64, text)))
}

/// The run's end of the state writer: (tick, state text).
pub type StateSender = crossbeam_channel::Sender<(u64, String)>;

/// Starts the thread that keeps a real-time run's saved states in its record, through its own
/// connection (WAL lets it write beside the recorder). It ends when the run drops its sender.
pub fn spawn_state_writer(
    path: &std::path::Path,
) -> Result<(StateSender, std::thread::JoinHandle<()>), String> {
    let conn = crate::schema::open_existing(path, true)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let (tx, rx) = crossbeam_channel::bounded::<(u64, String)>(2);
    let handle = std::thread::Builder::new()
        .name("perfuse-state".into())
        .spawn(move || {
            for (tick, text) in rx.iter() {
                let digest = crate::schema::text_sha256(&text);
                // A state that cannot be written is only a later resume point lost.
                let _ = conn.execute(
                    "INSERT OR REPLACE INTO checkpoints(tick, digest, state) VALUES (?1, ?2, ?3)",
                    rusqlite::params![tick as i64, digest, text.as_bytes()],
                );
            }
        })
        .map_err(|e| format!("cannot start the state writer: {e}"))?;
    Ok((tx, handle))
}

/// Drops what the record holds after `tick` (samples, events, checkpoints), in one
/// transaction: the resumed run writes them again.
pub fn truncate_after(conn: &Connection, tick: u64) -> Result<(), String> {
    let t = tick as i64;
    conn.execute_batch(&format!(
        "BEGIN; DELETE FROM samples WHERE tick > {t}; DELETE FROM events WHERE tick > {t};
         DELETE FROM checkpoints WHERE tick > {t}; COMMIT;"
    ))
    .map_err(|e| format!("cannot cut the record back to its checkpoint: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_changes_with_any_value_and_only_then() {
        let a = Frame::new();
        let mut b = a;
        assert_eq!(digest(&a), digest(&b));
        b.values[3] = 1.0;
        assert_ne!(digest(&a), digest(&b));
        let mut c = a;
        c.alarms[0] = 3;
        assert_ne!(digest(&a), digest(&c));
    }
}
