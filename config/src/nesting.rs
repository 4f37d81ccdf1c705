//! A bound on how deeply a rules file nests arrays and inline tables, checked before
//! the `toml` crate reads it.
//!
//! The `toml` crate refuses nesting past 80 levels itself, but reads each level with a
//! recursive call: in a debug build, 80 levels of arrays take more than 256 KiB of stack,
//! so a hostile file could overflow the stack of a thread with a small one. This scan is a
//! loop over the bytes (strings and comments skipped, so a `[` inside `"..."` does not
//! count): flowgate's keys nest three levels deep, so anything past
//! [`MAX_DEPTH`](crate::limits::MAX_DEPTH) is refused with its place before any recursion.

use crate::error::ConfigError;
use crate::limits::MAX_DEPTH;

/// Refuses `text` if its arrays and inline tables nest deeper than [`MAX_DEPTH`].
pub(crate) fn check(text: &str, origin: &str) -> Result<(), ConfigError> {
    let bytes = text.as_bytes();
    let mut depth = 0_usize;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'#' => at = skip_line(bytes, at),
            b'"' => at = skip_string(bytes, at, b'"', true),
            b'\'' => at = skip_string(bytes, at, b'\'', false),
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    let (line, column) = crate::error::line_column(text, at);
                    return Err(ConfigError::new(
                        origin,
                        format!(
                            "arrays and inline tables nested more than {MAX_DEPTH} levels deep \
                             (flowgate's keys nest three)"
                        ),
                    )
                    .at(line, column));
                }
                at += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                at += 1;
            }
            _ => at += 1,
        }
    }
    Ok(())
}

/// The index after the end of the line `at` is on.
fn skip_line(bytes: &[u8], at: usize) -> usize {
    bytes[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |end| at + end + 1)
}

/// The index after the string that starts at `at` with `quote`: one-line or, when the
/// quote is tripled, multi-line; `escapes` for basic strings (`"`), not literal ones.
fn skip_string(bytes: &[u8], at: usize, quote: u8, escapes: bool) -> usize {
    let triple = bytes[at..].starts_with(&[quote; 3]);
    let mut at = at + if triple { 3 } else { 1 };
    while at < bytes.len() {
        match bytes[at] {
            b'\\' if escapes => at += 2,
            b'\n' if !triple => return at + 1,
            b if b == quote => {
                if !triple {
                    return at + 1;
                }
                if bytes[at..].starts_with(&[quote; 3]) {
                    // Up to two more quotes belong to the string's content.
                    let mut end = at + 3;
                    while end < bytes.len() && end < at + 5 && bytes[end] == quote {
                        end += 1;
                    }
                    return end;
                }
                at += 1;
            }
            _ => at += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let deep = "[".repeat(100);
        for text in [
            format!("a = \"{deep}\"\n"),
            format!("a = '{deep}'\n"),
            format!("a = \"\"\"\n{deep}\n\"\"\"\n"),
            format!("a = '''{deep}'''\n"),
            format!("# {deep}\na = 1\n"),
            format!("a = \"\\\"{deep}\"\n"),
            "a = \"\"\"x\"\"\"\"\nb = [[1]]\n".to_owned(),
        ] {
            assert!(check(&text, "x").is_ok(), "{text:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_where_it_goes_too_deep() {
        let text = format!("a = {}{}\n", "[".repeat(17), "]".repeat(17));
        let error = check(&text, "x").unwrap_err();
        assert_eq!((error.line(), error.column()), (1, 21), "{error}");
        let ok = format!("a = {}{}\n", "{ b = ".repeat(16), "1 }".repeat(16));
        assert!(check(&ok, "x").is_ok());
    }
}
