//! Pieces of the HTML page shared by the single-run report and the comparison: escaping, times,
//! tables, the style sheet.

use std::fmt::Write;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Run time as h:mm:ss.
pub fn hms(t_s: f64) -> String {
    let s = t_s.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// A Unix time as `YYYY-MM-DD hh:mm:ss UTC`.
pub fn utc(unix_s: f64) -> String {
    let (y, m, d, h, min, sec) = perfuse_record::schema::utc_civil(unix_s);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{sec:02} UTC")
}

/// A number with up to `digits` decimals, trailing zeros dropped; NaN and none as "–".
pub fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => {
            let s = format!("{v:.digits$}");
            if s.contains('.') {
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                s
            }
        }
        _ => "–".into(),
    }
}

/// A table from a header row (none when empty) and rows of cells that are already HTML.
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table>");
    if !head.is_empty() {
        out.push_str("<thead><tr>");
        for h in head {
            let _ = write!(out, "<th>{}</th>", esc(h));
        }
        out.push_str("</tr></thead>");
    }
    out.push_str("<tbody>");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{c}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// The page around a body: no script, no external resource, the browser's own fonts.
pub fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        esc(title)
    )
}

const STYLE: &str = "\
body{font-family:sans-serif;margin:1.5em auto;max-width:960px;color:#1d2329;font-size:14px;line-height:1.4}\
h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.2em;border-bottom:1px solid #ccd;padding-bottom:.2em;margin-top:1.6em}\
h3{font-size:1em;margin:1em 0 .2em}table{border-collapse:collapse;margin:.4em 0}\
td,th{border:1px solid #d5d9de;padding:2px 6px;text-align:left;vertical-align:top}th{background:#f0f2f5}\
td.n{text-align:right}.score{font-size:3em;font-weight:bold;margin:.1em 0}\
.muted{color:#667}pre{white-space:pre-wrap;background:#f6f7f9;padding:.6em;border:1px solid #dde}\
.chart{margin:.1em 0 .6em}.chart svg{display:block}.key span{margin-right:1em}\
.high{color:#c0392b}.medium{color:#c77c02}.low{color:#8a7d00}";
