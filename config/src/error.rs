//! A mistake in a rules file, and how it is placed: file, line, column, flag and key.
//!
//! Placement is worked out from the text, so that every mistake (a TOML syntax error
//! the `toml` crate reports with only a byte span, or a value this crate rejects) reads
//! the same way:
//!
//! ```text
//! flowgate.toml:7:11: flag `NewCheckout`, key `rollout`: a rollout is a percentage ...
//! ```

use std::fmt;
use std::ops::Range;

/// A mistake in a rules file or document, with where it is.
///
/// ```
/// let error = flowgate_config::parse("[flags.A]\nrollout = 140\n", "flowgate.toml").unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "flowgate.toml:2:11: flag `A`, key `rollout`: a rollout is a percentage from 0 to 100, got 140"
/// );
/// assert_eq!((error.line(), error.column()), (2, 11));
/// assert_eq!((error.flag(), error.key()), (Some("A"), Some("rollout")));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    origin: String,
    line: usize,
    column: usize,
    pub(crate) flag: Option<String>,
    key: Option<String>,
    message: String,
}

impl ConfigError {
    /// A mistake in `origin` (a file's path, a URL, `<string>`) with no position.
    pub fn new(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            line: 0,
            column: 0,
            flag: None,
            key: None,
            message: message.into(),
        }
    }

    /// The same mistake at 1-based `line` and `column`.
    #[must_use]
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = line;
        self.column = column;
        self
    }

    /// The same mistake, said to be in `flag`.
    #[must_use]
    pub fn in_flag(mut self, flag: impl Into<String>) -> Self {
        self.flag = Some(flag.into());
        self
    }

    /// The same mistake, said to be at `key`.
    #[must_use]
    pub fn at_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// A mistake at the byte `span` of `text`, placed by line, column and the flag whose
    /// table holds it.
    pub(crate) fn in_text(
        text: &str,
        origin: &str,
        span: &Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_column(text, span.start);
        let mut error = Self::new(origin, message).at(line, column);
        error.flag = enclosing_flag(text, span.start);
        error
    }

    /// The file (or `<string>`) the error is in.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// 1-based line of the mistake (0 when it has no place, e.g. the file cannot be read).
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column of the mistake (0 when it has no place).
    pub fn column(&self) -> usize {
        self.column
    }

    /// The flag the mistake is in, when it is in one.
    pub fn flag(&self) -> Option<&str> {
        self.flag.as_deref()
    }

    /// The key the mistake is at, when known.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        match (&self.flag, &self.key) {
            (Some(flag), Some(key)) => write!(f, "flag `{flag}`, key `{key}`: ")?,
            (Some(flag), None) => write!(f, "flag `{flag}`: ")?,
            (None, Some(key)) => write!(f, "key `{key}`: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// 1-based line and column (in characters) of the byte `offset` of `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The largest char boundary of `text` at or below `offset`.
fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The `[flags.NAME]` table that the byte `offset` falls in, read from the headers above
/// it (the header line itself counts: a duplicate table is reported on its header).
pub(crate) fn enclosing_flag(text: &str, offset: usize) -> Option<String> {
    let offset = floor_char_boundary(text, offset);
    let upto = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    text[..upto].lines().rev().find_map(|line| {
        let keys = table_header(line)?;
        // `[flags.NAME]` or `[flags.NAME.more]`; any other table ends the search.
        match keys.as_slice() {
            [flags, name, ..] if flags == "flags" => Some(Some(name.clone())),
            _ => Some(None),
        }
    })?
}

/// The keys of a `[table]` header line, quotes resolved; `None` for any other line. A
/// comment after the header is allowed (`[flags.A]  # the A flag`).
pub(crate) fn table_header(line: &str) -> Option<Vec<String>> {
    let rest = line.trim_start().strip_prefix('[')?;
    if rest.starts_with('[') {
        return None; // an array of tables: not a flag's header
    }
    let mut keys = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let mut key = String::new();
        if let quote @ ('"' | '\'') = *chars.peek()? {
            chars.next();
            loop {
                match chars.next()? {
                    c if c == quote => break,
                    '\\' if quote == '"' => key.push(unescape(&mut chars)?),
                    c => key.push(c),
                }
            }
        } else {
            while let Some(c) =
                chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            {
                key.push(c);
            }
            if key.is_empty() {
                return None;
            }
        }
        keys.push(key);
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        match chars.next()? {
            '.' => {}
            ']' => break,
            _ => return None,
        }
    }
    let after: String = chars.collect();
    let after = after.trim_start();
    (after.is_empty() || after.starts_with('#')).then_some(keys)
}

/// The character an escape of a basic string stands for, its backslash read already.
fn unescape(chars: &mut impl Iterator<Item = char>) -> Option<char> {
    let hex = |chars: &mut dyn Iterator<Item = char>, digits: usize| {
        let code: String = chars.take(digits).collect();
        u32::from_str_radix(&code, 16).ok().and_then(char::from_u32)
    };
    Some(match chars.next()? {
        'b' => '\u{8}',
        't' => '\t',
        'n' => '\n',
        'f' => '\u{c}',
        'r' => '\r',
        'e' => '\u{1b}',
        'u' => hex(chars, 4)?,
        'U' => hex(chars, 8)?,
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_with_quotes_spaces_and_comments() {
        assert_eq!(
            table_header("[flags.A]"),
            Some(vec!["flags".into(), "A".into()])
        );
        assert_eq!(
            table_header("  [ flags . \"new.checkout\" ]  # the new one"),
            Some(vec!["flags".into(), "new.checkout".into()])
        );
        assert_eq!(
            table_header("[flags.'a b']"),
            Some(vec!["flags".into(), "a b".into()])
        );
        assert_eq!(
            table_header("[flags.\"caf\\u00e9 \\\"x\\\"\"]"),
            Some(vec!["flags".into(), "café \"x\"".into()])
        );
        assert_eq!(table_header("[[flags]]"), None);
        assert_eq!(table_header("rollout = 5 # [flags.X]"), None);
        assert_eq!(table_header("[flags.A] rollout = 1"), None);
    }

    #[test]
    fn the_enclosing_flag_ignores_trailing_comments_and_other_tables() {
        let text = "[flags.A]\nrollout = 1\n[flags.B] # comment\nrollout = 2\n[store]\nx = 1\n";
        let at = |needle: &str| enclosing_flag(text, text.find(needle).unwrap());
        assert_eq!(at("rollout = 1").as_deref(), Some("A"));
        assert_eq!(at("rollout = 2").as_deref(), Some("B"));
        assert_eq!(at("x = 1"), None, "a table that is not a flag's");
        assert_eq!(enclosing_flag("x = 1\n", 0), None);
    }

    #[test]
    fn positions_count_characters_and_survive_offsets_inside_a_character() {
        let text = "[flags.\"é\"]\nrollout = 1\n";
        assert_eq!(line_column(text, text.find("rollout").unwrap()), (2, 1));
        assert_eq!(
            line_column(text, 9),
            (1, 9),
            "inside `é`: placed at its start"
        );
        assert_eq!(line_column(text, 10_000), (3, 1));
    }
}
