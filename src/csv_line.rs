//! The file line a `csv` crate record starts on, for error messages. The crate's
//! [`csv::Position`] of a record that follows blank lines (or a `\r\n` line end) still points at
//! those line ends, so a reader that named `position().line()` named a line too early after
//! every blank line. Owns nothing else.

/// 1-based line on which the record (or the record of an error) at `pos` in `bytes` starts:
/// the crate's line plus the line ends at `pos` that it had not yet skipped.
pub fn record_line(bytes: &[u8], pos: &csv::Position) -> u64 {
    let rest = usize::try_from(pos.byte())
        .ok()
        .and_then(|b| bytes.get(b..))
        .unwrap_or(&[]);
    let skipped = rest
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .filter(|&&b| b == b'\n')
        .count();
    pos.line() + skipped as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_after_blank_lines_and_multi_line_fields() {
        let text = "a,b\nx,1\n\ny,2\n\n\n\"z\nq\",3\nw,\"4\n\"\nv,5\r\n\r\nu,6\n";
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        let lines: Vec<u64> = rdr
            .records()
            .map(|r| record_line(text.as_bytes(), r.unwrap().position().unwrap()))
            .collect();
        assert_eq!(lines, [2, 4, 7, 9, 11, 13]);
    }
}
