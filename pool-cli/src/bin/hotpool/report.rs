//! Printing reports: one JSON object per line with `--json`, aligned text otherwise.

use std::io::Write;

use serde::Serialize;

use crate::Error;

/// Prints `value` as one line of JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> Result<(), Error> {
    let line = serde_json::to_string(value).map_err(|e| Error::new(format!("JSON output: {e}")))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").map_err(|e| Error::new(format!("stdout: {e}")))
}

/// A text table: a header row and rows of cells, columns padded to their widest cell.
/// The first column is left-aligned, the others right-aligned.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    table_aligned(header, rows, header.len())
}

/// Like [`table`], with the columns from `left_from` on left-aligned as well (for a
/// trailing free-text column).
pub fn table_aligned(header: &[&str], rows: &[Vec<String>], left_from: usize) -> String {
    let cols = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut parts = Vec::with_capacity(cols);
        for (i, cell) in cells.enumerate() {
            let pad = width[i].saturating_sub(cell.chars().count());
            if i == 0 || i >= left_from {
                parts.push(format!("{cell}{}", " ".repeat(pad)));
            } else {
                parts.push(format!("{}{cell}", " ".repeat(pad)));
            }
        }
        out.push_str("  ");
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// Bytes as text with a binary unit ("812 B", "41.3 KiB", "2.0 MiB").
pub fn fmt_bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["address", "requests"],
            &[
                vec!["127.0.0.2".into(), "7".into()],
                vec!["127.0.0.10".into(), "1250".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "  address     requests");
        assert_eq!(lines[1], "  127.0.0.2          7");
        assert_eq!(lines[2], "  127.0.0.10      1250");
    }

    #[test]
    fn bytes() {
        assert_eq!(fmt_bytes(812), "812 B");
        assert_eq!(fmt_bytes(42_291), "41.3 KiB");
        assert_eq!(fmt_bytes(2 << 20), "2.0 MiB");
    }
}
