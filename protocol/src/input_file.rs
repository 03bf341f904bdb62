//! Reading an input file (protocol, labs, commands) without trusting what the name points at.
//!
//! A FIFO would block the read forever, `/dev/zero` would be read until memory runs out and a
//! directory cannot be read at all: only a regular file under [`MAX_INPUT_BYTES`] is read, and
//! anything else is refused at once with a message that says what the name pointed at.

use super::ron_doc::{Diagnostic, Span};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;

/// Largest input file read: 1 MiB, over 50 times the largest shipped protocol (19 kB).
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

/// Reads `path` as UTF-8 text if it is a regular file of at most [`MAX_INPUT_BYTES`]; `what`
/// names the kind of file in the error ("protocol", "labs", "commands").
pub fn read_text(path: &Path, what: &str) -> Result<String, Diagnostic> {
    let fail = |found: String| Diagnostic {
        span: Span { line: 1, col: 1 },
        path: String::new(),
        expected: format!(
            "a readable UTF-8 {what} file (a regular file of at most {} kB)",
            MAX_INPUT_BYTES / 1024
        ),
        found,
    };
    let bytes = read_regular(path, MAX_INPUT_BYTES).map_err(fail)?;
    String::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "bytes that are not UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Reads `path` whole if it is a regular file of at most `max` bytes, from one open file;
/// otherwise says what it found ("a FIFO (named pipe)", "a file of 3000000000 bytes").
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let file = open_nonblocking(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(describe_kind(&kind));
    }
    if meta.len() > max {
        return Err(format!("a file of {} bytes", meta.len()));
    }
    // The file may grow after the check: never read more than the limit and one byte.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max {
        return Err(format!("a file growing beyond {max} bytes"));
    }
    Ok(bytes)
}

/// Opens for reading without blocking on a FIFO that has no writer.
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

fn describe_kind(kind: &std::fs::FileType) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)".into();
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device".into();
        }
        if kind.is_socket() {
            return "a socket".into();
        }
    }
    if kind.is_dir() {
        "a directory".into()
    } else {
        "not a regular file".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(path: &Path) -> String {
        read_text(path, "protocol").unwrap_err().found
    }

    #[test]
    fn only_regular_files_under_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(found(dir.path()), "a directory");
        assert_eq!(found(Path::new("/dev/zero")), "a device");
        let big = dir.path().join("big.ron");
        std::fs::write(&big, vec![b' '; MAX_INPUT_BYTES as usize + 1]).unwrap();
        assert_eq!(
            found(&big),
            format!("a file of {} bytes", MAX_INPUT_BYTES + 1)
        );
        let ok = dir.path().join("ok.ron");
        std::fs::write(&ok, "[]").unwrap();
        assert_eq!(read_text(&ok, "labs").unwrap(), "[]");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.ron");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(found(&fifo), "a FIFO (named pipe)");
    }
}
