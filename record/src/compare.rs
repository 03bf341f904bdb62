//! Comparing two records of the same run, sample for sample and event for event: how replay
//! checks a change to the core against yesterday's runs.

use rusqlite::{Connection, types::Value};

/// The first difference between two records.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub t_s: f64,
    /// The column (signal, `*.validity`, `cmd.*`, `phase`) or event that differs.
    pub what: String,
    pub stored: String,
    pub replayed: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "first difference at t = {} s: {}: recorded {}, replayed {}",
            self.t_s, self.what, self.stored, self.replayed
        )
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => format!("{r}"),
        Value::Text(t) => t.clone(),
        Value::Blob(b) => format!("{} bytes", b.len()),
    }
}

/// Rows of a query as columns of values, in order.
fn rows(conn: &Connection, sql: &str) -> Result<(Vec<String>, Vec<Vec<Value>>), String> {
    let mut stmt = conn.prepare(sql).map_err(|e| e.to_string())?;
    let cols: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
    let n = cols.len();
    let list = stmt
        .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<Vec<Value>>, _>>()
        .map_err(|e| e.to_string())?;
    Ok((cols, list))
}

/// Compares the samples, then the events (ignoring rows a run adds about itself, such as
/// `resumed`), up to `until_tick` when given. `None`: identical.
pub fn first_difference(
    stored: &Connection,
    replayed: &Connection,
    until_tick: Option<u64>,
) -> Result<Option<Difference>, String> {
    let limit = until_tick.map_or(String::new(), |t| format!(" WHERE tick <= {t}"));
    let (cols, a) = rows(
        stored,
        &format!("SELECT * FROM samples{limit} ORDER BY tick"),
    )?;
    let (cols_b, b) = rows(
        replayed,
        &format!("SELECT * FROM samples{limit} ORDER BY tick"),
    )?;
    if cols != cols_b {
        return Ok(Some(Difference {
            t_s: 0.0,
            what: "sample columns".into(),
            stored: cols.join(","),
            replayed: cols_b.join(","),
        }));
    }
    if let Some(d) = first_in(&cols, &a, &b, 1, "sample") {
        return Ok(Some(d));
    }
    let ev_limit = until_tick.map_or(String::new(), |t| format!(" AND tick <= {t}"));
    let sql = format!(
        "SELECT tick, t_s, kind, subject, change, priority, limit_value, value, accepted, detail
         FROM events WHERE kind <> 'resumed'{ev_limit} ORDER BY seq"
    );
    let (ev_cols, ea) = rows(stored, &sql)?;
    let (_, eb) = rows(replayed, &sql)?;
    Ok(first_in(&ev_cols, &ea, &eb, 1, "event"))
}

/// The first differing cell of two row lists whose column `t_col` is the time.
fn first_in(
    cols: &[String],
    a: &[Vec<Value>],
    b: &[Vec<Value>],
    t_col: usize,
    what: &str,
) -> Option<Difference> {
    for (ra, rb) in a.iter().zip(b) {
        for (i, (va, vb)) in ra.iter().zip(rb).enumerate() {
            if va != vb {
                let t_s = match (&ra[t_col], &rb[t_col]) {
                    (Value::Real(x), Value::Real(y)) => x.min(*y),
                    (Value::Real(x), _) | (_, Value::Real(x)) => *x,
                    _ => 0.0,
                };
                return Some(Difference {
                    t_s,
                    what: format!("{what} {}", cols[i]),
                    stored: text(va),
                    replayed: text(vb),
                });
            }
        }
    }
    if a.len() != b.len() {
        let t = |r: Option<&Vec<Value>>| match r.map(|r| &r[t_col]) {
            Some(Value::Real(x)) => *x,
            _ => 0.0,
        };
        let t_s = if a.len() > b.len() {
            t(a.get(b.len()))
        } else {
            t(b.get(a.len()))
        };
        return Some(Difference {
            t_s,
            what: format!("number of {what}s"),
            stored: a.len().to_string(),
            replayed: b.len().to_string(),
        });
    }
    None
}
