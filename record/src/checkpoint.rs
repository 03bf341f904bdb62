//! Checkpoints of a lockstep run: every simulated minute the record keeps a digest of the
//! published state. Resume re-runs the recorded inputs deterministically up to the last
//! checkpoint and compares its digest before going on, so a resumed record is known to continue
//! the same run.

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
