//! Export of a record: one table per kind (samples wide by signal with units in the headers,
//! alarms, events, operator actions, assessments), as CSV or Parquet.

use parquet::basic::{LogicalType, Repetition, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use rusqlite::{Connection, types::Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            _ => Err(format!(
                "unknown export format `{s}`: expected csv or parquet"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Real,
    Integer,
    Text,
}

/// One table to export.
struct Table {
    name: &'static str,
    headers: Vec<String>,
    kinds: Vec<Kind>,
    rows: Vec<Vec<Value>>,
}

fn query(
    conn: &Connection,
    name: &'static str,
    sql: &str,
    headers: Vec<String>,
    kinds: Vec<Kind>,
) -> Result<Table, String> {
    let mut stmt = conn.prepare(sql).map_err(|e| format!("{name}: {e}"))?;
    let n = kinds.len();
    let rows = stmt
        .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .and_then(|it| it.collect::<Result<Vec<Vec<Value>>, _>>())
        .map_err(|e| format!("{name}: {e}"))?;
    Ok(Table {
        name,
        headers,
        kinds,
        rows,
    })
}

fn tables(conn: &Connection) -> Result<Vec<Table>, String> {
    // Samples: every column of the table, named with its unit from `channels`.
    let mut stmt = conn
        .prepare("SELECT name, kind, unit FROM channels ORDER BY col")
        .map_err(|e| e.to_string())?;
    let channels: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .and_then(|it| it.collect())
        .map_err(|e| e.to_string())?;
    let mut headers = vec!["tick".to_string(), "t [s]".into(), "phase".into()];
    let mut kinds = vec![Kind::Integer, Kind::Real, Kind::Text];
    for (name, kind, unit) in &channels {
        headers.push(if unit.is_empty() {
            name.clone()
        } else {
            format!("{name} [{unit}]")
        });
        kinds.push(if kind == "validity" {
            Kind::Integer
        } else {
            Kind::Real
        });
    }
    let cols: Vec<String> = channels.iter().map(|c| crate::names::quote(&c.0)).collect();
    let samples_sql = format!(
        "SELECT tick, t_s, phase, {} FROM samples ORDER BY tick",
        cols.join(", ")
    );
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    use Kind::*;
    let mut out = vec![query(conn, "samples", &samples_sql, headers, kinds)?];
    out.push(query(
        conn,
        "alarms",
        "SELECT tick, t_s, subject, change, priority, limit_value, value, json_extract(detail, '$.text'), json_extract(detail, '$.action')
         FROM events WHERE kind = 'alarm' ORDER BY seq",
        s(&["tick", "t [s]", "alarm", "change", "priority", "limit", "value", "text", "action"]),
        vec![Integer, Real, Text, Text, Text, Real, Real, Text, Text],
    )?);
    out.push(query(
        conn,
        "events",
        "SELECT tick, t_s, kind, subject, change, priority, limit_value, value, accepted, detail FROM events ORDER BY seq",
        s(&["tick", "t [s]", "kind", "subject", "change", "priority", "limit", "value", "accepted", "detail"]),
        vec![Integer, Real, Text, Text, Text, Text, Real, Real, Integer, Text],
    )?);
    out.push(query(
        conn,
        "operator",
        "SELECT tick, t_s, subject, accepted, detail FROM events WHERE kind = 'operator' ORDER BY seq",
        s(&["tick", "t [s]", "command", "accepted", "reason refused"]),
        vec![Integer, Real, Text, Integer, Text],
    )?);
    out.push(query(
        conn,
        "assessments",
        "SELECT e.tick, e.t_s, e.subject, j.key, j.value FROM events e, json_each(e.detail) j
         WHERE e.kind = 'assessment' ORDER BY e.seq, j.key",
        s(&["tick", "t [s]", "phase", "value name", "value"]),
        vec![Integer, Real, Text, Text, Real],
    )?);
    Ok(out)
}

/// Writes every table of the record to `dir` (created if needed); returns the files written.
pub fn export(conn: &Connection, format: Format, dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for t in tables(conn)? {
        let ext = match format {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        };
        let path = dir.join(format!("{}.{ext}", t.name));
        let result = match format {
            Format::Csv => write_csv(&t, &path),
            Format::Parquet => write_parquet(&t, &path).map_err(|e| e.to_string()),
        };
        result.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        files.push(path);
    }
    Ok(files)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_csv(t: &Table, path: &Path) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut w = std::io::BufWriter::new(file);
    let header: Vec<String> = t.headers.iter().map(|h| csv_field(h)).collect();
    let mut text = header.join(",") + "\n";
    for row in &t.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|v| match v {
                Value::Null => String::new(),
                Value::Integer(i) => i.to_string(),
                Value::Real(r) => format!("{r}"),
                Value::Text(s) => csv_field(s),
                Value::Blob(_) => String::new(),
            })
            .collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    w.write_all(text.as_bytes())
        .and_then(|()| w.flush())
        .map_err(|e| e.to_string())
}

fn write_parquet(t: &Table, path: &Path) -> parquet::errors::Result<()> {
    let fields = t
        .headers
        .iter()
        .zip(&t.kinds)
        .map(|(h, k)| {
            let (physical, logical) = match k {
                Kind::Real => (Physical::DOUBLE, None),
                Kind::Integer => (Physical::INT64, None),
                Kind::Text => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
            };
            Type::primitive_type_builder(h, physical)
                .with_repetition(Repetition::OPTIONAL)
                .with_logical_type(logical)
                .build()
                .map(Arc::new)
        })
        .collect::<parquet::errors::Result<Vec<_>>>()?;
    let schema = Arc::new(
        Type::group_type_builder(t.name)
            .with_fields(fields)
            .build()?,
    );
    let file = std::fs::File::create(path)?;
    let mut writer =
        SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::builder().build()))?;
    let mut group = writer.next_row_group()?;
    let mut i = 0;
    while let Some(mut col) = group.next_column()? {
        let cells = t.rows.iter().map(|r| &r[i]);
        let defs: Vec<i16> = cells
            .clone()
            .map(|v| i16::from(*v != Value::Null))
            .collect();
        match t.kinds[i] {
            Kind::Real => {
                let vals: Vec<f64> = cells
                    .filter_map(|v| match v {
                        Value::Real(r) => Some(*r),
                        Value::Integer(n) => Some(*n as f64),
                        _ => None,
                    })
                    .collect();
                col.typed::<DoubleType>()
                    .write_batch(&vals, Some(&defs), None)?;
            }
            Kind::Integer => {
                let vals: Vec<i64> = cells
                    .filter_map(|v| match v {
                        Value::Integer(n) => Some(*n),
                        _ => None,
                    })
                    .collect();
                col.typed::<Int64Type>()
                    .write_batch(&vals, Some(&defs), None)?;
            }
            Kind::Text => {
                let vals: Vec<ByteArray> = cells
                    .filter_map(|v| match v {
                        Value::Text(s) => Some(ByteArray::from(s.as_str())),
                        _ => None,
                    })
                    .collect();
                col.typed::<ByteArrayType>()
                    .write_batch(&vals, Some(&defs), None)?;
            }
        }
        col.close()?;
        i += 1;
    }
    group.close()?;
    writer.close()?;
    Ok(())
}
