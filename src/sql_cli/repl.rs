//! The interactive prompt of `millstream sql`: a statement runs once a line ends it with
//! `;`.
//!
//! ```text
//!  Flink SQL> SELECT name,            ◀─ line buffered: no ';' at its end
//!       > COUNT(*) FROM t GROUP BY name;  ◀─ complete: run, print, prompt again
//! ```
//!
//! A `;` inside a string, a quoted name or a comment does not end a statement, and a
//! `BEGIN STATEMENT SET; ... END;` block runs as one. Ctrl-D (or `QUIT;` / `EXIT;`) leaves.
//!
//! With the `line-editing` feature (on by default) the prompt uses rustyline on a terminal:
//! line editing, Ctrl-C drops the statement being typed, and a history kept in
//! `$HOME/.millstream_sql_history`. Piped input, or a build with `--no-default-features`,
//! reads lines from stdin as they come (no editing, no history).

use std::path::PathBuf;

use anyhow::Result;

/// The prompt of a new statement, as Flink's SQL client.
pub(crate) const PROMPT: &str = "Flink SQL> ";
/// The prompt of a continuation line.
pub(crate) const CONTINUATION: &str = "     > ";

/// The history file: `$HOME/.millstream_sql_history` (none without `HOME`).
#[cfg_attr(not(feature = "line-editing"), allow(dead_code))]
fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".millstream_sql_history"))
}

/// What reading a line gave.
enum Line {
    /// A line, without its line break.
    Text(String),
    /// Ctrl-C: drop the statement being typed.
    #[cfg_attr(not(feature = "line-editing"), allow(dead_code))]
    Interrupted,
    /// Ctrl-D or the end of the input.
    End,
}

/// Where the prompt's lines come from.
trait LineReader {
    /// Shows `prompt` and reads one line.
    fn read(&mut self, prompt: &str) -> Result<Line>;
    /// Remembers a statement that ran.
    fn remember(&mut self, statement: &str);
    /// Saves what it remembered (at exit).
    fn save(&mut self);
}

#[cfg(feature = "line-editing")]
mod editor {
    use std::path::PathBuf;

    use anyhow::{Context, Result};
    use rustyline::error::ReadlineError;
    use rustyline::history::DefaultHistory;
    use rustyline::Editor;

    use super::{history_path, Line, LineReader};

    /// rustyline, with the history file.
    pub(super) struct Rustyline {
        editor: Editor<(), DefaultHistory>,
        history: Option<PathBuf>,
    }

    impl Rustyline {
        pub(super) fn new() -> Result<Self> {
            let mut editor: Editor<(), DefaultHistory> =
                Editor::new().context("cannot open the terminal for the SQL prompt")?;
            let history = history_path();
            if let Some(h) = &history {
                // A first session has no history file yet.
                let _ = editor.load_history(h);
            }
            Ok(Rustyline { editor, history })
        }
    }

    impl LineReader for Rustyline {
        fn read(&mut self, prompt: &str) -> Result<Line> {
            match self.editor.readline(prompt) {
                Ok(line) => Ok(Line::Text(line)),
                Err(ReadlineError::Interrupted) => Ok(Line::Interrupted),
                Err(ReadlineError::Eof) => Ok(Line::End),
                Err(e) => Err(e).context("reading the SQL prompt"),
            }
        }

        fn remember(&mut self, statement: &str) {
            let _ = self.editor.add_history_entry(statement);
        }

        fn save(&mut self) {
            if let Some(h) = &self.history {
                if let Err(e) = self.editor.save_history(h) {
                    eprintln!("[WARNING] cannot save the history to {}: {e}", h.display());
                }
            }
        }
    }
}

/// Lines of stdin, the prompt shown only on a terminal.
struct Plain {
    terminal: bool,
}

impl LineReader for Plain {
    fn read(&mut self, prompt: &str) -> Result<Line> {
        use std::io::{BufRead, Write};
        if self.terminal {
            let mut out = std::io::stdout().lock();
            out.write_all(prompt.as_bytes())?;
            out.flush()?;
        }
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            if self.terminal {
                // Ctrl-D leaves the cursor after the prompt.
                println!();
            }
            return Ok(Line::End);
        }
        let trimmed = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(trimmed);
        Ok(Line::Text(line))
    }

    fn remember(&mut self, _statement: &str) {}

    fn save(&mut self) {}
}

/// The line reader: rustyline on a terminal with the `line-editing` feature, else stdin.
fn reader() -> Result<Box<dyn LineReader>> {
    use std::io::IsTerminal;
    let terminal = std::io::stdin().is_terminal();
    #[cfg(feature = "line-editing")]
    {
        if terminal {
            return Ok(Box::new(editor::Rustyline::new()?));
        }
    }
    Ok(Box::new(Plain { terminal }))
}

/// Reads statements and hands each complete one to `run` until Ctrl-D or `QUIT;`. `run`'s
/// errors are its own to print; the prompt goes on after them.
pub(crate) fn interactive(mut run: impl FnMut(&str)) -> Result<()> {
    let mut reader = reader()?;
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            PROMPT
        } else {
            CONTINUATION
        };
        let line = match reader.read(prompt) {
            Ok(Line::Text(line)) => line,
            Ok(Line::Interrupted) => {
                buffer.clear();
                continue;
            }
            Ok(Line::End) => break,
            Err(e) => {
                reader.save();
                return Err(e);
            }
        };
        if buffer.is_empty() && line.trim().is_empty() {
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if !is_complete(&buffer) {
            continue;
        }
        let statement = std::mem::take(&mut buffer);
        let statement = statement.trim();
        reader.remember(statement);
        if is_quit(statement) {
            break;
        }
        run(statement);
    }
    reader.save();
    println!("Shutting down the session...\ndone.");
    Ok(())
}

/// `QUIT;` or `EXIT;` (Flink's client commands).
fn is_quit(statement: &str) -> bool {
    let s = statement.trim_end_matches(';').trim();
    s.eq_ignore_ascii_case("quit") || s.eq_ignore_ascii_case("exit")
}

/// Whether `text` ends a statement: its last significant character (outside strings, quoted
/// names and comments) is `;`, and a statement-set block is closed by `END;`.
pub(crate) fn is_complete(text: &str) -> bool {
    let tokens = words(text);
    let Some(last) = tokens.last() else {
        return false;
    };
    if last != ";" {
        return false;
    }
    let upper: Vec<String> = tokens.iter().map(|w| w.to_ascii_uppercase()).collect();
    let is = |i: usize, w: &str| upper.get(i).is_some_and(|x| x == w);
    let opens_set = (is(0, "BEGIN") && is(1, "STATEMENT") && is(2, "SET"))
        || (is(0, "EXECUTE") && is(1, "STATEMENT") && is(2, "SET") && is(3, "BEGIN"));
    if opens_set {
        return upper.len() >= 2 && upper[upper.len() - 2] == "END";
    }
    true
}

/// The significant words and `;`s of `text`, each string or quoted name as one placeholder,
/// comments removed; empty while a string or comment is still open (the statement goes on).
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            out.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                flush(&mut word, &mut out);
                // A doubled quote inside is an escaped quote: the loop sees it as a string
                // closed and reopened, which keeps the parity right.
                let mut closed = false;
                for d in chars.by_ref() {
                    if d == c {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Vec::new();
                }
                out.push("<quoted>".into());
            }
            '-' if chars.peek() == Some(&'-') => {
                flush(&mut word, &mut out);
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                flush(&mut word, &mut out);
                chars.next();
                let mut closed = false;
                let mut prev = ' ';
                for d in chars.by_ref() {
                    if prev == '*' && d == '/' {
                        closed = true;
                        break;
                    }
                    prev = d;
                }
                if !closed {
                    return Vec::new();
                }
            }
            ';' => {
                flush(&mut word, &mut out);
                out.push(";".into());
            }
            c if c.is_alphanumeric() || c == '_' => word.push(c),
            c if c.is_whitespace() => flush(&mut word, &mut out),
            other => {
                flush(&mut word, &mut out);
                out.push(other.to_string());
            }
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_a_significant_semicolon() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1;  -- done\n"));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT ';"));
        assert!(is_complete("SELECT ';' ;"));
        assert!(is_complete("SELECT 'it''s';"));
        assert!(!is_complete("SELECT 1 -- not yet;\n"));
        assert!(!is_complete("SELECT 1 /* ; */"));
        assert!(!is_complete("SELECT 1 /* ;"));
        assert!(is_complete("SELECT `a;b` FROM t;"));
        assert!(!is_complete(""));
        assert!(!is_complete("  \n"));
    }

    #[test]
    fn statement_sets_run_whole() {
        assert!(!is_complete("BEGIN STATEMENT SET;"));
        assert!(!is_complete(
            "BEGIN STATEMENT SET;\nINSERT INTO a SELECT 1;"
        ));
        assert!(is_complete(
            "BEGIN STATEMENT SET;\nINSERT INTO a SELECT 1;\nEND;"
        ));
        assert!(!is_complete(
            "EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT 1;"
        ));
        assert!(is_complete(
            "execute statement set begin insert into a select 1; end;"
        ));
    }

    #[test]
    fn quit_and_exit_leave() {
        assert!(is_quit("QUIT;"));
        assert!(is_quit("exit ;"));
        assert!(!is_quit("SELECT 1;"));
    }
}
