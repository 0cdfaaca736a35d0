//! `jeton shell`: the command language, interactively.
//!
//! On a terminal it is a line editor (rustyline) with the prompt `jeton> `, `   ...> ` on the
//! lines that continue a statement until [`jeton_sql::is_complete`] says it is whole, keyword
//! completion on Tab, and a history file in the configuration directory ([`HistoryFile`]).
//! With standard input from a pipe or a file it reads statements from it and runs each as soon
//! as it is complete, so `printf 'SHOW USERS;\n\\q\n' | jeton shell` works like a session.

use std::fs;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use jeton_client::Client;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::MemHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Editor, Helper};

use super::sql;
use crate::cli::context::Context;
use crate::cli::error::CliError;
use crate::output::{self, Out};
use crate::profile;

/// The prompt of a new statement.
pub const PROMPT: &str = "jeton> ";
/// The prompt of a line that continues a statement.
pub const CONTINUATION_PROMPT: &str = "   ...> ";

/// Name of the history file inside the configuration directory.
pub const HISTORY_FILE: &str = "history";
/// Entries kept in the history (older ones are dropped when the file is read).
const HISTORY_SIZE: usize = 1_000;

/// The shell's own commands, for completion.
const SHELL_COMMANDS: &[&str] = &["\\help", "\\q", "\\quit"];

/// What `\help` prints.
const HELP: &str = "\
Statements (end each with ';'; [optional]; names bare or \"quoted\"; strings 'single quoted'):
  CREATE API TOKEN [name] [FOR USER u] [MAX DURATION '30d'] [COMMENT 'c'] [SCOPES ('a', ...)]
  SHOW API TOKENS [FOR USER u] [ALL]                  ALL adds expired and revoked tokens
  ALTER API TOKEN name [FOR USER u] SET COMMENT 'c'
  DROP API TOKEN name [FOR USER u]                    revokes it
  DROP ALL API TOKENS FOR USER u
  ALTER USER u SET API TOKEN MAX DURATION '24h'       ALTER USER u UNSET API TOKEN MAX DURATION
  ALTER ROLE r SET API TOKEN MAX DURATION '30d'       ALTER ROLE r UNSET API TOKEN MAX DURATION
  CREATE USER u [PASSWORD 'p'] [ACCESS LEVEL level] [IN TENANT t]
  ALTER USER u SET PASSWORD 'p'                       ALTER USER u SET ACCESS LEVEL level
  ALTER USER u SET ACTIVE = TRUE|FALSE                DROP USER u
  SHOW USERS                                          SHOW ROLES
  CREATE ROLE r                                       DROP ROLE r
  GRANT ROLE r TO USER u                              REVOKE ROLE r FROM USER u
  CREATE SERVICE USER s [ACCESS LEVEL level] [DESCRIPTION 'd'] [EXPIRES IN '90d'] [SCOPES (...)]
  SHOW SERVICE USERS                                  DROP SERVICE USER s
  ALTER SERVICE USER s ROTATE KEY [GRACE '1h']        ALTER SERVICE USER s SET DESCRIPTION 'd'
  ALTER SERVICE USER s SET ACTIVE = TRUE|FALSE
  SHOW AUDIT [FOR USER u] [ACTION 'a'] [LIMIT n]
Durations: '90m', '24h', '30d', '1y'. Keywords in any case; Tab completes them.

Shell commands:
  \\help  this list          \\q  quit (or Ctrl-D)     Ctrl-C  clear the current input
Statements containing PASSWORD are not kept in the history.";

/// `jeton shell`.
pub async fn run(ctx: &Context) -> Result<(), CliError> {
    let client = ctx.client()?;
    if io::stdin().is_terminal() {
        interactive(ctx, &client).await
    } else {
        piped(ctx, &client, io::stdin().lock()).await
    }
}

/// A line that is one of the shell's own commands.
#[derive(Debug, PartialEq, Eq)]
enum ShellCommand {
    Quit,
    Help,
    Unknown(String),
}

/// The shell command on `line`, if it is one: a line starting with `\`, typed where no string,
/// quoted name or block comment is open.
fn shell_command(buffer: &str, line: &str) -> Option<ShellCommand> {
    let word = line.trim();
    if !word.starts_with('\\') || !outside_literals(buffer) {
        return None;
    }
    let name = word.split_whitespace().next().unwrap_or(word);
    Some(match name {
        "\\q" | "\\quit" | "\\exit" => ShellCommand::Quit,
        "\\help" | "\\h" | "\\?" => ShellCommand::Help,
        other => ShellCommand::Unknown(other.to_string()),
    })
}

/// True when `buffer` leaves no string, quoted name or block comment open (a `;` on a new line
/// after it would complete it).
fn outside_literals(buffer: &str) -> bool {
    buffer.trim().is_empty() || jeton_sql::is_complete(&format!("{buffer}\n;"))
}

/// True when `script` holds something to run (not only blanks and comments). Text that does not
/// parse is sent all the same, for the server's error message.
fn has_statements(script: &str) -> bool {
    jeton_sql::parse(script).map_or(true, |statements| !statements.is_empty())
}

/// Standard input is not a terminal: run each statement as soon as it is complete; stop at the
/// first failure, with `jeton sql`'s exit code.
async fn piped(ctx: &Context, client: &Client, input: impl BufRead) -> Result<(), CliError> {
    let mut buffer = String::new();
    for line in input.lines() {
        let line = line.map_err(|e| CliError::Usage(format!("cannot read standard input: {e}")))?;
        match shell_command(&buffer, &line) {
            Some(ShellCommand::Quit) => return Ok(()),
            Some(ShellCommand::Help) => {
                Out::line(HELP)?;
                continue;
            }
            Some(ShellCommand::Unknown(name)) => {
                return Err(CliError::Usage(format!(
                    "unknown shell command {name}: \\help lists them"
                )));
            }
            None => {}
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if jeton_sql::is_complete(&buffer) {
            let script = std::mem::take(&mut buffer);
            if has_statements(&script) {
                sql::execute(ctx, client, &script).await?;
            }
        }
    }
    // The last statement's `;` is optional.
    if !buffer.trim().is_empty() && has_statements(&buffer) {
        sql::execute(ctx, client, &buffer).await?;
    }
    Ok(())
}

/// A terminal: a line editor until `\q` or Ctrl-D.
async fn interactive(ctx: &Context, client: &Client) -> Result<(), CliError> {
    let history = profile::config_dir().ok().map(|dir| HistoryFile::new(&dir));
    let config = Config::builder()
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .max_history_size(HISTORY_SIZE)
        .and_then(|b| b.history_ignore_dups(true))
        .map_err(|e| CliError::Local(format!("cannot set up the line editor: {e}")))?
        .build();
    let mut editor: Editor<ShellHelper, MemHistory> =
        Editor::with_history(config.clone(), MemHistory::with_config(&config))
            .map_err(|e| CliError::Local(format!("cannot set up the terminal: {e}")))?;
    editor.set_helper(Some(ShellHelper));
    let mut history_warned = false;
    if let Some(history) = &history {
        match history.load() {
            Ok(entries) => {
                for entry in entries {
                    let _ = editor.add_history_entry(entry);
                }
            }
            Err(e) => {
                eprintln!("warning: cannot read {}: {e}", history.path().display());
                history_warned = true;
            }
        }
    }

    Out::line(format!(
        "jeton shell on {}. End statements with ';'. \\help lists them, \\q quits.",
        ctx.url
    ))?;
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            PROMPT
        } else {
            CONTINUATION_PROMPT
        };
        let line = match tokio::task::block_in_place(|| editor.readline(prompt)) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(CliError::Local(format!("cannot read the terminal: {e}"))),
        };
        match shell_command(&buffer, &line) {
            Some(ShellCommand::Quit) => break,
            Some(ShellCommand::Help) => {
                Out::line(HELP)?;
                continue;
            }
            Some(ShellCommand::Unknown(name)) => {
                output::report_error(format!("unknown shell command {name}: \\help lists them"));
                continue;
            }
            None => {}
        }
        if buffer.is_empty() && line.trim().is_empty() {
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if !jeton_sql::is_complete(&buffer) {
            continue;
        }
        let script = std::mem::take(&mut buffer);
        let entry = script.trim_end();
        if may_remember(entry) {
            let _ = editor.add_history_entry(entry);
            if let Some(history) = &history
                && let Err(e) = history.append(entry)
                && !history_warned
            {
                eprintln!("warning: cannot write {}: {e}", history.path().display());
                history_warned = true;
            }
        }
        if !has_statements(&script) {
            continue;
        }
        tokio::select! {
            outcome = sql::execute(ctx, client, &script) => match outcome {
                Ok(()) => {}
                Err(CliError::StdoutClosed) => return Err(CliError::StdoutClosed),
                Err(error) => output::report_error(&error),
            },
            _ = tokio::signal::ctrl_c() => {
                eprintln!("cancelled: stopped waiting for the answer (the server may still run the statement)");
            }
        }
    }
    Ok(())
}

/// Whether a statement may go into the history: not when it may hold a password.
pub fn may_remember(entry: &str) -> bool {
    !entry.to_uppercase().contains("PASSWORD")
}

/// The shell's history: one entry per line in `history` in the configuration directory, with
/// `\` written `\\` and a line break `\n`, so a statement of several lines is one entry. The
/// file holds what the user typed, so it is private: created with mode 0600 in a directory
/// created with 0700, and tightened to 0600 if it is looser.
#[derive(Debug, Clone)]
pub struct HistoryFile {
    path: PathBuf,
}

impl HistoryFile {
    /// The history file of the configuration directory `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(HISTORY_FILE),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last [`HISTORY_SIZE`] entries, oldest first; none when there is no file. A file grown
    /// to twice that is rewritten with only those.
    pub fn load(&self) -> io::Result<Vec<String>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        profile::restrict_permissions(&self.path).map_err(io::Error::other)?;
        let mut entries: Vec<String> = text
            .lines()
            .filter(|line| !line.is_empty())
            .map(decode)
            .filter(|entry| may_remember(entry))
            .collect();
        if entries.len() > HISTORY_SIZE {
            let compact = entries.len() > 2 * HISTORY_SIZE;
            entries.drain(..entries.len() - HISTORY_SIZE);
            if compact {
                self.rewrite(&entries)?;
            }
        }
        Ok(entries)
    }

    /// Appends one entry, unless [`may_remember`] refuses it; returns whether it was written.
    pub fn append(&self, entry: &str) -> io::Result<bool> {
        if !may_remember(entry) || entry.trim().is_empty() {
            return Ok(false);
        }
        let mut file = self.open(false)?;
        file.write_all(format!("{}\n", encode(entry)).as_bytes())?;
        Ok(true)
    }

    fn rewrite(&self, entries: &[String]) -> io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut text = String::new();
        for entry in entries {
            text.push_str(&encode(entry));
            text.push('\n');
        }
        let mut file = Self { path: tmp.clone() }.open(true)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &self.path)
    }

    /// Opens the file for appending (or truncated), creating it and its directory privately.
    fn open(&self, truncate: bool) -> io::Result<fs::File> {
        if let Some(dir) = self.path.parent() {
            profile::create_private_dir(dir).map_err(io::Error::other)?;
        }
        let mut options = fs::OpenOptions::new();
        options.create(true);
        if truncate {
            options.write(true).truncate(true);
        } else {
            options.append(true);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            options.mode(0o600);
            let file = options.open(&self.path)?;
            // An older file may have been created with other permissions.
            if file.metadata()?.permissions().mode() & 0o077 != 0 {
                file.set_permissions(fs::Permissions::from_mode(0o600))?;
            }
            Ok(file)
        }
        #[cfg(not(unix))]
        options.open(&self.path)
    }
}

fn encode(entry: &str) -> String {
    let mut out = String::with_capacity(entry.len());
    for c in entry.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

fn decode(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Tab completion of keywords and shell commands.
struct ShellHelper;

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, words) = complete_word(line, pos);
        let candidates = words
            .into_iter()
            .map(|word| Pair {
                replacement: format!("{word} "),
                display: word,
            })
            .collect();
        Ok((start, candidates))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

/// The completions of the word that ends at byte `pos` of `line`, and where that word starts:
/// keywords (from [`jeton_sql::KEYWORDS`]) in upper case, or in lower case when the typed
/// prefix is lower case; shell commands for a word starting with `\`. Nothing inside a string
/// or quoted name.
pub fn complete_word(line: &str, pos: usize) -> (usize, Vec<String>) {
    let Some(before) = line.get(..pos) else {
        return (pos, Vec::new());
    };
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map_or(pos, |(i, _)| i);
    let prefix = &before[start..];
    let head = &before[..start];
    if head.ends_with('\\') && head[..head.len() - 1].trim().is_empty() {
        let typed = format!("\\{prefix}");
        let words = SHELL_COMMANDS
            .iter()
            .filter(|c| c.starts_with(&typed))
            .map(|c| c.to_string())
            .collect();
        return (start - 1, words);
    }
    let quotes = |q: char| head.chars().filter(|c| *c == q).count();
    if quotes('\'') % 2 == 1 || quotes('"') % 2 == 1 || head.ends_with(['\\', '"', '\'']) {
        return (start, Vec::new());
    }
    let lower = prefix.chars().any(char::is_alphabetic)
        && !prefix
            .chars()
            .any(|c| c.is_alphabetic() && !c.is_lowercase());
    let upper_prefix = prefix.to_uppercase();
    let words = jeton_sql::KEYWORDS
        .iter()
        .filter(|k| k.starts_with(&upper_prefix))
        .map(|k| {
            if lower {
                k.to_lowercase()
            } else {
                k.to_string()
            }
        })
        .collect();
    (start, words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_keywords_in_the_case_typed() {
        assert_eq!(complete_word("CRE", 3), (0, vec!["CREATE".to_string()]));
        assert_eq!(complete_word("cre", 3), (0, vec!["create".to_string()]));
        assert_eq!(complete_word("Cre", 3), (0, vec!["CREATE".to_string()]));
        assert_eq!(
            complete_word("create api tok", 14),
            (11, vec!["token".to_string(), "tokens".to_string()])
        );
        assert_eq!(
            complete_word("SHOW API TOKENS FOR U", 21),
            (20, vec!["UNSET".into(), "USER".into(), "USERS".into()])
        );
        // In the middle of a line: the word before the cursor.
        assert_eq!(
            complete_word("DROP US x", 7),
            (5, vec!["USER".into(), "USERS".into()])
        );
        // Nothing matches, and nothing inside strings or quoted names.
        assert_eq!(complete_word("SHOW xyz", 8).1, Vec::<String>::new());
        assert_eq!(complete_word("COMMENT 'cre", 12).1, Vec::<String>::new());
        assert_eq!(complete_word("DROP USER \"us", 13).1, Vec::<String>::new());
        // Every keyword on an empty word.
        assert_eq!(complete_word("", 0).1.len(), jeton_sql::KEYWORDS.len());
        // A position inside a character is not a word boundary.
        assert_eq!(complete_word("é", 1), (1, Vec::new()));
    }

    #[test]
    fn completes_shell_commands() {
        assert_eq!(complete_word("\\h", 2), (0, vec!["\\help".to_string()]));
        assert_eq!(
            complete_word("\\q", 2),
            (0, vec!["\\q".to_string(), "\\quit".to_string()])
        );
        assert_eq!(complete_word("\\", 1).1.len(), SHELL_COMMANDS.len());
    }

    #[test]
    fn shell_commands_are_recognised_outside_literals_only() {
        assert_eq!(shell_command("", "\\q"), Some(ShellCommand::Quit));
        assert_eq!(shell_command("", "  \\help  "), Some(ShellCommand::Help));
        assert_eq!(
            shell_command("", "\\x"),
            Some(ShellCommand::Unknown("\\x".into()))
        );
        assert_eq!(
            shell_command("SHOW USERS\n", "\\q"),
            Some(ShellCommand::Quit)
        );
        assert_eq!(
            shell_command("SHOW USERS -- note\n", "\\q"),
            Some(ShellCommand::Quit)
        );
        assert_eq!(
            shell_command("ALTER API TOKEN a SET COMMENT 'x\n", "\\q"),
            None
        );
        assert_eq!(shell_command("/* open\n", "\\q"), None);
        assert_eq!(shell_command("", "SHOW USERS;"), None);
    }

    #[test]
    fn blank_and_comment_only_input_runs_nothing() {
        assert!(!has_statements("  \n-- only a comment\n;"));
        assert!(has_statements("SHOW USERS;"));
        assert!(
            has_statements("SHO USERS;"),
            "sent for the server's message"
        );
    }

    #[test]
    fn passwords_are_never_remembered() {
        assert!(!may_remember("CREATE USER bob PASSWORD 's3cret';"));
        assert!(!may_remember("alter user bob set password 's3cret';"));
        assert!(!may_remember("ALTER USER bob\nSET Password\n'x';"));
        assert!(may_remember("SHOW USERS;"));
    }

    #[test]
    fn history_entries_survive_line_breaks_and_backslashes() {
        for entry in [
            "SHOW USERS;",
            "CREATE API TOKEN a\nCOMMENT 'x\\ny';",
            "\\",
            "a\\nb",
        ] {
            assert_eq!(decode(&encode(entry)), entry);
            assert!(!encode(entry).contains('\n'));
        }
    }

    #[test]
    fn the_history_file_keeps_entries_but_never_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let history = HistoryFile::new(&dir.path().join("jeton"));
        assert_eq!(history.load().unwrap(), Vec::<String>::new());
        assert!(history.append("SHOW USERS;").unwrap());
        assert!(
            history
                .append("CREATE API TOKEN ci\nMAX DURATION '30d';")
                .unwrap()
        );
        assert!(
            !history
                .append("ALTER USER bob SET PASSWORD 'hunter2';")
                .unwrap()
        );
        assert!(!history.append("  ").unwrap());
        assert_eq!(
            history.load().unwrap(),
            vec!["SHOW USERS;", "CREATE API TOKEN ci\nMAX DURATION '30d';"]
        );
        let text = fs::read_to_string(history.path()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(text.lines().count(), 2, "{text}");
    }

    #[test]
    fn the_history_file_is_cut_to_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let history = HistoryFile::new(dir.path());
        let mut text = String::new();
        for i in 0..2 * HISTORY_SIZE + 5 {
            text.push_str(&format!("SHOW AUDIT LIMIT {i};\n"));
        }
        fs::write(history.path(), text).unwrap();
        let entries = history.load().unwrap();
        assert_eq!(entries.len(), HISTORY_SIZE);
        assert_eq!(
            entries.last().unwrap(),
            &format!("SHOW AUDIT LIMIT {};", 2 * HISTORY_SIZE + 4)
        );
        let kept = fs::read_to_string(history.path()).unwrap();
        assert_eq!(kept.lines().count(), HISTORY_SIZE);
    }

    #[cfg(unix)]
    #[test]
    fn the_history_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("jeton");
        let history = HistoryFile::new(&config);
        history.append("SHOW USERS;").unwrap();
        assert_eq!(history.path(), config.join("history"));
        assert_eq!(mode(history.path()), 0o600);
        assert_eq!(mode(&config), 0o700);

        // A file made readable by others is tightened on the next read and write.
        fs::set_permissions(history.path(), fs::Permissions::from_mode(0o644)).unwrap();
        history.load().unwrap();
        assert_eq!(mode(history.path()), 0o600);
        fs::set_permissions(history.path(), fs::Permissions::from_mode(0o666)).unwrap();
        history.append("SHOW ROLES;").unwrap();
        assert_eq!(mode(history.path()), 0o600);
    }
}
