//! What a run shows: progress while it works (a bar on a terminal, one plain line per step
//! otherwise, so that logs of a scheduled run stay readable), and a summary table at the end.
//! Progress goes to stderr, the table to stdout.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    total: Option<u64>,
    done: u64,
}

impl Progress {
    /// `total` is the number of steps when known.
    pub fn new(total: Option<u64>) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| match total {
            Some(n) => {
                let bar = ProgressBar::new(n);
                if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}") {
                    bar.set_style(style);
                }
                bar
            }
            None => ProgressBar::new_spinner(),
        });
        Progress {
            bar,
            total,
            done: 0,
        }
    }

    /// A progress that shows nothing (tests, and callers that print their own lines).
    pub fn hidden() -> Progress {
        Progress {
            bar: Some(ProgressBar::hidden()),
            total: None,
            done: 0,
        }
    }

    /// One step done; `line` says which and how it went.
    pub fn step(&mut self, line: &str) {
        self.done += 1;
        match &self.bar {
            Some(bar) => {
                bar.set_message(line.to_owned());
                bar.inc(1);
            }
            None => match self.total {
                Some(total) => eprintln!("[{}/{total}] {line}", self.done),
                None => eprintln!("[{}] {line}", self.done),
            },
        }
    }

    /// Says something without counting a step.
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A plain-text table: a header, a rule, one line per row, columns padded to fit.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
            let padded: Vec<String> = cells
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            padded.join("  ").trim_end().to_owned() + "\n"
        };
        let mut out = line(&mut self.headers.iter().copied());
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&line(&mut rule.iter().map(String::as_str)));
        for row in &self.rows {
            out.push_str(&line(&mut row.iter().map(String::as_str)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_to_the_widest_cell() {
        let mut table = Table::new(&["window", "result"]);
        table.row(vec!["2026-11-01 .. 2026-11-03".into(), "accepted".into()]);
        table.row(vec!["x".into(), "failed: HTTP 503".into()]);
        assert_eq!(
            table.render(),
            "window                    result\n\
             ------------------------  ----------------\n\
             2026-11-01 .. 2026-11-03  accepted\n\
             x                         failed: HTTP 503\n"
        );
    }
}
