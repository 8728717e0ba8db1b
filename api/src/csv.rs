//! CSV documents that officers open in spreadsheets (the audit export, the register of
//! processing). Their cells hold text that callers chose — an actor, a client id, a stated
//! purpose — so every cell is written so that no spreadsheet runs it as a formula (CSV
//! injection) and no delimiter splits it: every field is quoted, whether the reader splits on
//! `,` or, as French and German spreadsheets do, on `;`.

/// Characters that make a spreadsheet read a cell as a formula when they come first — also
/// after leading spaces or quotes, which some spreadsheets skip — and their full-width forms.
const FORMULA_STARTS: [char; 10] = ['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠'];

/// One quoted cell. A value that a spreadsheet could read as a formula gets a leading `'`,
/// which makes it text.
pub fn cell(value: &str) -> String {
    let first = value.trim_start_matches([' ', '"', '\'']).chars().next();
    let neutral = if value.starts_with(['\t', '\r', '\n'])
        || first.is_some_and(|c| FORMULA_STARTS.contains(&c))
    {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", neutral.replace('"', "\"\""))
}

/// One line of cells, ended by CRLF (RFC 4180).
pub fn row<S: AsRef<str>>(cells: impl IntoIterator<Item = S>) -> String {
    let mut line = cells
        .into_iter()
        .map(|c| cell(c.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text_wherever_they_hide() {
        for value in [
            "=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx", " =1", "\"=1", "'=1", "＝1",
        ] {
            let written = cell(value);
            let inner = &written[1..written.len() - 1];
            assert!(inner.starts_with('\''), "{value:?} was written {written:?}");
        }
    }

    #[test]
    fn every_cell_is_quoted_and_quotes_are_doubled() {
        assert_eq!(cell("plain"), "\"plain\"");
        assert_eq!(cell("a;b,c"), "\"a;b,c\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(row(["a", "b"]), "\"a\",\"b\"\r\n");
    }
}
