//! `perfuse pin FILE`: writes the sha256 of the plugin library a protocol file would load into
//! the file's `plugin` section, so that the library is trusted wherever it lies and any other
//! build of it is refused.
//!
//! The file is edited as text: only the `sha256` value changes (or the field is added to the
//! `plugin` tuple), every comment and the layout stay. The library is read and hashed, never
//! run. The edited text is checked to read back with the new pin before it replaces the file.

use crate::exit::Failure;
use crate::wiring::write_atomically;
use perfuse_core::config::{self, Span};
use perfuse_core::plugin::loader;
use std::path::{Path, PathBuf};

/// Pins the plugin `file` names to the library found in `plugin_dirs` (then the usual search
/// path); the message says what was pinned.
pub fn pin(file: &Path, plugin_dirs: &[PathBuf]) -> Result<String, Failure> {
    let src = config::input_file::read_text(file, "protocol")
        .map_err(|d| Failure::input(config::format_diagnostic(file, &d)))?;
    let checked = config::check_str(&src);
    let Some(protocol) = checked.file() else {
        let lines: Vec<String> = checked
            .diagnostics
            .iter()
            .map(|d| config::format_diagnostic(file, d))
            .collect();
        return Err(Failure::input(format!(
            "{}\n{}: cannot pin a file that cannot be read (fix the problems above first)",
            lines.join("\n"),
            file.display()
        )));
    };
    let id = protocol.plugin.id.clone();
    let dirs = loader::search_dirs(plugin_dirs);
    let path = loader::find(&id, &dirs).map_err(|e| Failure::plugin(e.to_string()))?;
    let lib = loader::inspect(&path).map_err(|e| Failure::plugin(e.to_string()))?;
    let metadata = lib
        .metadata()
        .map_err(|e| Failure::plugin(format!("refusing {}: {e}", path.display())))?;
    let version = match &metadata {
        Some(m) if m.id != id => {
            return Err(Failure::plugin(format!(
                "refusing {}: it declares plugin id `{}`, expected `{id}`",
                path.display(),
                m.id
            )));
        }
        Some(m) => m.version.to_string(),
        None => "(version unknown: no metadata record)".to_string(),
    };
    let already = protocol
        .plugin
        .sha256
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case(&lib.sha256));
    if already {
        return Ok(format!(
            "{}: plugin `{id}` is already pinned to {} ({})\n",
            file.display(),
            lib.sha256,
            path.display()
        ));
    }
    let sha_span = field_span(&checked, "plugin.sha256");
    let edited = pin_text(&src, checked.span_of("plugin"), sha_span, &lib.sha256)
        .map_err(|e| Failure::input(format!("{}: cannot pin: {e}", file.display())))?;
    let reread = config::check_str(&edited);
    let pinned = reread.file().and_then(|f| f.plugin.sha256.as_deref());
    if pinned != Some(lib.sha256.as_str()) {
        return Err(Failure::internal(format!(
            "{}: the edited text does not read back with the pin; the file is unchanged",
            file.display()
        )));
    }
    write_atomically(file, &edited)
        .map_err(|e| Failure::internal(format!("cannot write {}: {e}", file.display())))?;
    Ok(format!(
        "{}: pinned plugin `{id}` {version} to sha256 {} ({})\n",
        file.display(),
        lib.sha256,
        path.display()
    ))
}

/// The span of the field at `path` when the file has it (whatever its value).
fn field_span(checked: &config::Checked, path: &str) -> Option<Span> {
    let at = checked.span_of(path);
    (at != checked.span_of("plugin")).then_some(at)
}

/// `src` with the `plugin` tuple starting at `plugin` pinned to `sha256`: the value at `sha`
/// (`None` or `Some("…")`) replaced, or, without one, a `sha256` field appended to the tuple in
/// its layout (one line, or one field per line).
pub fn pin_text(
    src: &str,
    plugin: Span,
    sha: Option<Span>,
    sha256: &str,
) -> Result<String, String> {
    let value = format!("Some(\"{sha256}\")");
    if let Some(sha) = sha {
        let start = offset(src, sha).ok_or("the `sha256` field is not where it was parsed")?;
        let rest = &src[start..];
        let len = if rest.starts_with("None") {
            4
        } else if rest.starts_with("Some(") {
            rest.find(')').ok_or("`sha256: Some(` is not closed")? + 1
        } else {
            return Err("the `sha256` value is neither `None` nor `Some(\"…\")`".into());
        };
        return Ok(format!("{}{value}{}", &src[..start], &src[start + len..]));
    }
    let start = offset(src, plugin).ok_or("the `plugin` section is not where it was parsed")?;
    let tokens = significant(&src[start..]);
    let open = tokens
        .iter()
        .position(|&(_, c)| c == '(')
        .ok_or("the `plugin` section is not a tuple `( … )`")?;
    let mut depth = 0;
    let mut close = None;
    for (i, &(_, c)) in tokens.iter().enumerate().skip(open) {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            _ => {}
        }
    }
    let close = close.ok_or("the `plugin` tuple is not closed")?;
    let (last_at, last) = tokens[close - 1];
    let last_end = start + last_at + last.len_utf8();
    let close_at = start + tokens[close].0;
    let between = &src[last_end..close_at];
    let comma = if last == ',' || last == '(' { "" } else { "," };
    if let Some(newline) = between.find('\n') {
        // One field per line: a line of its own after the last field's (and its comment),
        // indented like it.
        let line_start = src[..last_end].rfind('\n').map_or(0, |i| i + 1);
        let indent: String = src[line_start..]
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        let eol = last_end + newline;
        return Ok(format!(
            "{}{comma}{}\n{indent}sha256: {value},{}",
            &src[..last_end],
            &src[last_end..eol],
            &src[eol..]
        ));
    }
    let inserted = if last == '(' {
        format!("sha256: {value}")
    } else {
        format!("{comma} sha256: {value}")
    };
    Ok(format!(
        "{}{inserted}{}",
        &src[..last_end],
        &src[last_end..]
    ))
}

/// Byte offset of a 1-based line and column (columns count chars; a byte-order mark has none).
fn offset(src: &str, at: Span) -> Option<usize> {
    let body = src.strip_prefix('\u{feff}').unwrap_or(src);
    let skipped = src.len() - body.len();
    let mut line_start = 0;
    for _ in 1..at.line {
        line_start += body[line_start..].find('\n')? + 1;
    }
    let col = usize::try_from(at.col).ok()?.checked_sub(1)?;
    let in_line = body[line_start..].char_indices().nth(col).map(|(i, _)| i)?;
    Some(skipped + line_start + in_line)
}

/// The characters of `src` outside strings and comments, with their byte offsets; a string
/// counts as one `"` at its end.
fn significant(src: &str) -> Vec<(usize, char)> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let mut end = i;
                while let Some((j, s)) = chars.next() {
                    match s {
                        '\\' => {
                            chars.next();
                        }
                        '"' => {
                            end = j;
                            break;
                        }
                        _ => {}
                    }
                }
                out.push((end, c));
            }
            '/' if chars.peek().map(|&(_, n)| n) == Some('/') => {
                for (_, s) in chars.by_ref() {
                    if s == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek().map(|&(_, n)| n) == Some('*') => {
                chars.next();
                let mut prev = ' ';
                for (_, s) in chars.by_ref() {
                    if prev == '*' && s == '/' {
                        break;
                    }
                    prev = s;
                }
            }
            c if c.is_whitespace() => {}
            c => out.push((i, c)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "ab12";

    fn pinned(src: &str) -> String {
        let checked = config::check_str(src);
        let sha = field_span(&checked, "plugin.sha256");
        pin_text(src, checked.span_of("plugin"), sha, SHA).unwrap()
    }

    #[test]
    fn a_one_line_plugin_tuple_gets_the_field_and_keeps_its_comment() {
        let src = "P(\n    plugin: (id: \"kidney\", version: \"^0.1\"), // the kidney plugin\n)";
        assert_eq!(
            pinned(src),
            "P(\n    plugin: (id: \"kidney\", version: \"^0.1\", sha256: Some(\"ab12\")), // the kidney plugin\n)"
        );
    }

    #[test]
    fn a_tuple_of_one_field_per_line_gets_a_line() {
        let src = "P(\n    plugin: (\n        id: \"x\",\n        version: \"^0.1\" // any 0.1\n    ),\n)";
        assert_eq!(
            pinned(src),
            "P(\n    plugin: (\n        id: \"x\",\n        version: \"^0.1\", // any 0.1\n        sha256: Some(\"ab12\"),\n    ),\n)"
        );
    }

    #[test]
    fn an_existing_pin_or_none_is_replaced_in_place() {
        let old = "P(plugin: (id: \"x\", sha256: Some(\"00ff\") /* old */, version: \"1\"))";
        assert_eq!(
            pinned(old),
            "P(plugin: (id: \"x\", sha256: Some(\"ab12\") /* old */, version: \"1\"))"
        );
        let none = "P(plugin: (id: \"x\", sha256: None, version: \"1\"))";
        assert_eq!(
            pinned(none),
            "P(plugin: (id: \"x\", sha256: Some(\"ab12\"), version: \"1\"))"
        );
    }

    #[test]
    fn a_paren_inside_a_string_or_comment_is_not_the_end() {
        let src = "P(plugin: (id: \"x)\", /* ) */ version: \"1\"))";
        assert_eq!(
            pinned(src),
            "P(plugin: (id: \"x)\", /* ) */ version: \"1\", sha256: Some(\"ab12\")))"
        );
    }
}
