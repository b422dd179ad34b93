//! Markdown tables whose columns line up in a terminal as well as on a PR page.

use std::io::{self, Write};

/// Writes a table: a header row, a separator and the rows, padded to column widths.
/// Pipes in cells are escaped; rows shorter than the header are padded with blanks.
pub fn table<W: Write>(out: &mut W, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let escape = |s: &str| s.replace('|', "\\|");
    let columns = header.len();
    let cell = |row: &Vec<String>, i: usize| row.get(i).map(|s| escape(s)).unwrap_or_default();
    let mut widths: Vec<usize> = header
        .iter()
        .map(|h| escape(h).chars().count().max(3))
        .collect();
    for row in rows {
        for (i, width) in widths.iter_mut().enumerate() {
            *width = (*width).max(cell(row, i).chars().count());
        }
    }
    let line = |out: &mut W, cells: Vec<String>| -> io::Result<()> {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "| {} |", padded.join(" | "))
    };
    line(out, header.iter().map(|h| escape(h)).collect())?;
    line(out, widths.iter().map(|w| "-".repeat(*w)).collect())?;
    for row in rows {
        line(out, (0..columns).map(|i| cell(row, i)).collect())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_escapes_and_pads() {
        let mut out = Vec::new();
        let rows = vec![
            vec!["lost".to_string(), "0".into()],
            vec!["a|b".to_string()],
        ];
        table(&mut out, &["metric", "value"], &rows).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(
            text,
            "| metric | value |\n| ------ | ----- |\n| lost   | 0     |\n| a\\|b   |       |\n"
        );
    }
}
