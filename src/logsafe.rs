//! Text that came from a client or an IdP, made fit for one log line.

/// A client-supplied string (a `kid`) made safe for one log line: printable ASCII, at most 64.
pub fn log_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .take(64)
        .collect()
}
