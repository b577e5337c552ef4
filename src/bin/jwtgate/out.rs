//! Output that never panics: `println!` panics when stdout is a closed pipe
//! (`jwtgate check … | head -1`), and with `panic = "abort"` that is a SIGABRT.

use crate::UsageError;
use std::io::{ErrorKind, Write};

/// Writes `text` to stdout. A closed pipe is not an error (the reader has seen enough);
/// any other write failure is.
pub fn print(text: &str) -> Result<(), UsageError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(UsageError(format!("writing standard output: {e}"))),
    }
}

/// Writes one line to stderr, ignoring failures (stderr may be the same closed pipe).
pub fn warn(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// `v[key] = value` for a JSON object (indexing would panic on any other value).
pub fn set(v: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_owned(), value);
    }
}
