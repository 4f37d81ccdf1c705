//! A reader for the plain shape most `flowgate.toml` files have, straight into the raw
//! rules: `[flags.NAME]` tables of known keys with strings, whole numbers, booleans,
//! lists and one-line inline tables.
//!
//! Written by hand because the `toml` crate is most of a reload's cost: it builds a
//! spanned document and then deserializes it, 56–71 ms for 10 000 flags, where reading
//! this shape directly takes a few. It only reads: on anything else (another TOML
//! form, an unknown key, a wrong type, a mistake) it returns `None` and the `toml`
//! crate reads the file, with its full grammar and its error messages. Debug builds
//! check that both agree on every file this reader accepts.

use std::collections::BTreeMap;

use toml::Spanned;

use super::config::{
    RawConcurrency, RawConstraint, RawFile, RawFlag, RawOverride, RawRateLimit, RawVariant,
};

/// The raw rules of `text`, when it has the plain shape; `None` otherwise.
pub(super) fn read(text: &str) -> Option<RawFile> {
    let mut reader = Reader {
        text: text.as_bytes(),
        at: 0,
    };
    let mut flags = BTreeMap::new();
    loop {
        reader.skip_blank_lines();
        reader.skip_spaces();
        if reader.at == reader.text.len() {
            return Some(RawFile { flags });
        }
        let name = reader.header()?;
        let flag = reader.flag_body()?;
        if flags.insert(name, flag).is_some() {
            return None;
        }
    }
}

/// A scalar or a list or inline table, as written; keys borrowed from the text.
enum Value<'t> {
    String(String),
    Integer(i64),
    Boolean(bool),
    Array(Vec<Spanned<Value<'t>>>),
    Table(Vec<(&'t str, Spanned<Value<'t>>)>),
}

struct Reader<'t> {
    text: &'t [u8],
    at: usize,
}

impl<'t> Reader<'t> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// Spaces, then a comment if there is one, then the end of the line (or text).
    fn end_of_line(&mut self) -> Option<()> {
        self.skip_spaces();
        if self.peek() == Some(b'#') {
            self.skip_comment()?;
        }
        match self.peek() {
            None => Some(()),
            Some(b'\n') => {
                self.at += 1;
                Some(())
            }
            Some(b'\r') if self.text.get(self.at + 1) == Some(&b'\n') => {
                self.at += 2;
                Some(())
            }
            Some(_) => None,
        }
    }

    fn skip_comment(&mut self) -> Option<()> {
        while let Some(byte) = self.peek() {
            match byte {
                b'\n' | b'\r' => break,
                // Control characters are not allowed in comments; let `toml` say so.
                b'\t' | 0x20..=0x7e | 0x80.. => self.at += 1,
                _ => return None,
            }
        }
        Some(())
    }

    fn skip_blank_lines(&mut self) {
        loop {
            let start = self.at;
            if self.end_of_line().is_none() || self.at == start {
                self.at = start;
                return;
            }
        }
    }

    /// Spaces, newlines and comments, as allowed between the items of a list.
    fn skip_list_space(&mut self) -> Option<()> {
        loop {
            self.skip_spaces();
            match self.peek() {
                Some(b'#') => self.skip_comment()?,
                Some(b'\n') => self.at += 1,
                Some(b'\r') => self.eat(b'\r').and_then(|()| self.eat(b'\n'))?,
                _ => return Some(()),
            }
        }
    }

    /// `[flags.NAME]`, the name bare or in plain double quotes.
    fn header(&mut self) -> Option<String> {
        self.eat(b'[')?;
        self.skip_spaces();
        if self.key()? != "flags" {
            return None;
        }
        self.skip_spaces();
        self.eat(b'.')?;
        self.skip_spaces();
        let name = match self.peek()? {
            b'"' => {
                let (name, _) = self.basic_string()?;
                name
            }
            _ => self.key()?.to_owned(),
        };
        self.skip_spaces();
        self.eat(b']')?;
        self.end_of_line()?;
        Some(name)
    }

    fn key(&mut self) -> Option<&'t str> {
        let text: &'t [u8] = self.text;
        let start = self.at;
        while matches!(
            self.peek(),
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-')
        ) {
            self.at += 1;
        }
        (self.at > start)
            .then(|| std::str::from_utf8(&text[start..self.at]).ok())
            .flatten()
    }

    /// The `key = value` lines of one flag, up to the next header or the end.
    fn flag_body(&mut self) -> Option<RawFlag> {
        let mut entries = Vec::new();
        loop {
            self.skip_blank_lines();
            self.skip_spaces();
            if matches!(self.peek(), None | Some(b'[')) {
                return flag(entries).ok();
            }
            let key = self.key()?;
            self.skip_spaces();
            self.eat(b'=')?;
            self.skip_spaces();
            let value = self.value()?;
            self.end_of_line()?;
            entries.push((key, value));
        }
    }

    fn value(&mut self) -> Option<Spanned<Value<'t>>> {
        let start = self.at;
        let value = match self.peek()? {
            b'"' => Value::String(self.basic_string()?.0),
            b'\'' => Value::String(self.literal_string()?),
            b'[' => Value::Array(self.array()?),
            b'{' => Value::Table(self.inline_table()?),
            b't' | b'f' => {
                let word = self.key()?;
                let value = match word {
                    "true" => true,
                    "false" => false,
                    _ => return None,
                };
                Value::Boolean(value)
            }
            b'-' | b'+' | b'0'..=b'9' => Value::Integer(self.integer()?),
            _ => return None,
        };
        Some(Spanned::new(start..self.at, value))
    }

    /// A one-line `"..."` without escapes (anything else is left to `toml`).
    fn basic_string(&mut self) -> Option<(String, usize)> {
        self.eat(b'"')?;
        if self.text.get(self.at..self.at + 2) == Some(b"\"\"") {
            return None;
        }
        let start = self.at;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' | b'\n' | b'\r' | 0x7f => return None,
                b'\t' | 0x20.. => self.at += 1,
                _ => return None,
            }
        }
        let text = std::str::from_utf8(&self.text[start..self.at])
            .ok()?
            .to_owned();
        self.at += 1;
        Some((text, start))
    }

    /// A one-line `'...'`.
    fn literal_string(&mut self) -> Option<String> {
        self.eat(b'\'')?;
        if self.text.get(self.at..self.at + 2) == Some(b"''") {
            return None;
        }
        let start = self.at;
        loop {
            match self.peek()? {
                b'\'' => break,
                b'\n' | b'\r' | 0x7f => return None,
                b'\t' | 0x20.. => self.at += 1,
                _ => return None,
            }
        }
        let text = std::str::from_utf8(&self.text[start..self.at])
            .ok()?
            .to_owned();
        self.at += 1;
        Some(text)
    }

    /// A decimal whole number: an optional sign, no leading zero, no underscores.
    fn integer(&mut self) -> Option<i64> {
        let start = self.at;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.at += 1;
        }
        let digits = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        let digits = &self.text[digits..self.at];
        if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
            return None;
        }
        // A number must end here: `1.5`, `1e3`, `1_000` and dates are left to `toml`.
        if !matches!(
            self.peek(),
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}' | b'#')
        ) {
            return None;
        }
        std::str::from_utf8(&self.text[start..self.at])
            .ok()?
            .parse()
            .ok()
    }

    /// `[a, b, c]`, over several lines if need be, with comments and a trailing comma.
    fn array(&mut self) -> Option<Vec<Spanned<Value<'t>>>> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        loop {
            self.skip_list_space()?;
            if self.eat(b']').is_some() {
                return Some(items);
            }
            items.push(self.value()?);
            self.skip_list_space()?;
            if self.eat(b',').is_none() {
                self.skip_list_space()?;
                self.eat(b']')?;
                return Some(items);
            }
        }
    }

    /// `{ k = v, k = v }` on one line, without a trailing comma.
    fn inline_table(&mut self) -> Option<Vec<(&'t str, Spanned<Value<'t>>)>> {
        self.eat(b'{')?;
        let mut entries: Vec<(&'t str, Spanned<Value<'t>>)> = Vec::new();
        self.skip_spaces();
        if self.eat(b'}').is_some() {
            return Some(entries);
        }
        loop {
            self.skip_spaces();
            let key = self.key()?;
            if entries.iter().any(|(k, _)| *k == key) {
                return None;
            }
            self.skip_spaces();
            self.eat(b'=')?;
            self.skip_spaces();
            let value = self.value()?;
            entries.push((key, value));
            self.skip_spaces();
            if self.eat(b',').is_none() {
                self.eat(b'}')?;
                return Some(entries);
            }
        }
    }
}

/// Takes the entries of a table, each known key at most once; anything left over is
/// an unknown key.
struct Entries<'t>(Vec<(&'t str, Spanned<Value<'t>>)>);

/// The file is not of the plain shape (or has a mistake): `toml` reads it.
struct Declined;

type Read<T> = Result<T, Declined>;

impl<'t> Entries<'t> {
    fn take(&mut self, key: &str) -> Read<Option<Spanned<Value<'t>>>> {
        let mut found = self.0.iter().filter(|(k, _)| *k == key);
        if found.next().is_some() && found.next().is_some() {
            return Err(Declined);
        }
        Ok(self
            .0
            .iter()
            .position(|(k, _)| *k == key)
            .map(|at| self.0.swap_remove(at).1))
    }

    /// `value`, when every key was known.
    fn finish<T>(self, value: T) -> Read<T> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(Declined)
        }
    }
}

fn flag(entries: Vec<(&str, Spanned<Value<'_>>)>) -> Read<RawFlag> {
    let mut entries = Entries(entries);
    let flag = RawFlag {
        description: optional(entries.take("description")?, plain_string)?,
        fallback: optional(entries.take("fallback")?, string)?,
        enabled: optional(entries.take("enabled")?, boolean)?,
        rollout: optional(entries.take("rollout")?, integer)?,
        stickiness: optional(entries.take("stickiness")?, string)?,
        constraints: optional(entries.take("constraints")?, |v| list(v, constraint))?,
        variants: optional(entries.take("variants")?, |v| list(v, variant))?,
        rate_limit: optional(entries.take("rate_limit")?, |v| table(v, rate_limit))?,
        concurrency: optional(entries.take("concurrency")?, |v| table(v, concurrency))?,
    };
    entries.finish(flag)
}

fn rate_limit(mut entries: Entries<'_>) -> Read<RawRateLimit> {
    let limit = RawRateLimit {
        limit: integer(required(entries.take("limit")?)?)?,
        per: string(required(entries.take("per")?)?)?,
        burst: optional(entries.take("burst")?, integer)?,
        by: optional(entries.take("by")?, plain_string)?,
        max_keys: optional(entries.take("max_keys")?, integer)?,
    };
    entries.finish(limit)
}

fn concurrency(mut entries: Entries<'_>) -> Read<RawConcurrency> {
    let limit = RawConcurrency {
        max: integer(required(entries.take("max")?)?)?,
        queue: optional(entries.take("queue")?, integer)?,
        by: optional(entries.take("by")?, plain_string)?,
        max_keys: optional(entries.take("max_keys")?, integer)?,
    };
    entries.finish(limit)
}

fn constraint(mut entries: Entries<'_>) -> Read<RawConstraint> {
    let constraint = RawConstraint {
        label: string(required(entries.take("label")?)?)?,
        operator: string(required(entries.take("operator")?)?)?,
        values: optional(entries.take("values")?, |values| {
            let span = values.span();
            match values.into_inner() {
                Value::Array(items) => Ok(Spanned::new(
                    span,
                    items.into_iter().map(|v| owned(v.into_inner())).collect(),
                )),
                _ => Err(Declined),
            }
        })?,
        value: entries
            .take("value")?
            .map(|v| Spanned::new(v.span(), owned(v.into_inner()))),
        inverted: optional(entries.take("inverted")?, boolean)?.unwrap_or(false),
        case_insensitive: optional(entries.take("case_insensitive")?, boolean)?.unwrap_or(false),
    };
    entries.finish(constraint)
}

fn variant(mut entries: Entries<'_>) -> Read<RawVariant> {
    let variant = RawVariant {
        name: string(required(entries.take("name")?)?)?,
        weight: optional(entries.take("weight")?, integer)?,
        payload: entries
            .take("payload")?
            .map(|v| Spanned::new(v.span(), owned(v.into_inner()))),
        stickiness: optional(entries.take("stickiness")?, plain_string)?,
        overrides: optional(entries.take("overrides")?, |v| {
            list(v, |mut entries| {
                let label = plain_string(required(entries.take("label")?)?)?;
                let values = match required(entries.take("values")?)?.into_inner() {
                    Value::Array(items) => items
                        .into_iter()
                        .map(plain_string)
                        .collect::<Read<Vec<_>>>()?,
                    _ => return Err(Declined),
                };
                entries.finish(RawOverride { label, values })
            })
        })?
        .map(|overrides| overrides.into_iter().map(Spanned::into_inner).collect()),
    };
    entries.finish(variant)
}

/// `read` of a value that may be missing.
fn optional<T>(
    value: Option<Spanned<Value<'_>>>,
    read: impl FnOnce(Spanned<Value<'_>>) -> Read<T>,
) -> Read<Option<T>> {
    value.map(read).transpose()
}

fn required(value: Option<Spanned<Value<'_>>>) -> Read<Spanned<Value<'_>>> {
    value.ok_or(Declined)
}

fn list<T>(
    value: Spanned<Value<'_>>,
    read: impl Fn(Entries<'_>) -> Read<T>,
) -> Read<Vec<Spanned<T>>> {
    match value.into_inner() {
        Value::Array(items) => items.into_iter().map(|item| table(item, &read)).collect(),
        _ => Err(Declined),
    }
}

fn table<T>(value: Spanned<Value<'_>>, read: impl Fn(Entries<'_>) -> Read<T>) -> Read<Spanned<T>> {
    let span = value.span();
    match value.into_inner() {
        Value::Table(entries) => Ok(Spanned::new(span, read(Entries(entries))?)),
        _ => Err(Declined),
    }
}

fn string(value: Spanned<Value<'_>>) -> Read<Spanned<String>> {
    let span = value.span();
    match value.into_inner() {
        Value::String(s) => Ok(Spanned::new(span, s)),
        _ => Err(Declined),
    }
}

fn plain_string(value: Spanned<Value<'_>>) -> Read<String> {
    string(value).map(Spanned::into_inner)
}

fn integer(value: Spanned<Value<'_>>) -> Read<Spanned<i64>> {
    let span = value.span();
    match value.into_inner() {
        Value::Integer(n) => Ok(Spanned::new(span, n)),
        _ => Err(Declined),
    }
}

fn boolean(value: Spanned<Value<'_>>) -> Read<bool> {
    match value.into_inner() {
        Value::Boolean(b) => Ok(b),
        _ => Err(Declined),
    }
}

fn owned(value: Value<'_>) -> toml::Value {
    match value {
        Value::String(s) => toml::Value::String(s),
        Value::Integer(n) => toml::Value::Integer(n),
        Value::Boolean(b) => toml::Value::Boolean(b),
        Value::Array(items) => {
            toml::Value::Array(items.into_iter().map(|v| owned(v.into_inner())).collect())
        }
        Value::Table(entries) => toml::Value::Table(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), owned(v.into_inner())))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::read;

    /// Both readers' view of `text`, spans included.
    fn both(text: &str) -> (Option<String>, Result<String, String>) {
        let plain = read(text).map(|raw| format!("{raw:?}"));
        let full = toml::from_str::<super::RawFile>(text)
            .map(|raw| format!("{raw:?}"))
            .map_err(|e| e.to_string());
        (plain, full)
    }

    #[test]
    fn the_plain_shape_is_read_as_toml_reads_it() {
        let text = "# Flags of the shop\r\n\
            \r\n\
            [flags.NewCheckout]   # a comment\r\n\
            description = \"The new checkout, é\"\r\n\
            enabled = true\r\n\
              rollout = 50\r\n\
            stickiness = 'userId'\r\n\
            fallback = \"accept\"\n\
            constraints = [\n\
              { label = \"region\", operator = \"IN\", values = [\"eu\", \"us\", 3, true] },  # eu\n\
              { label = \"n\", operator = \"NUM_GT\", value = -5, inverted = false, case_insensitive = true },\n\
            ]\n\
            variants = [{ name = \"a\", weight = 0 }, { name = \"b\", payload = { type = \"json\", value = '{}' }, stickiness = \"default\", overrides = [{ label = \"userId\", values = [\"1\", \"2\"] }] }]\n\
            rate_limit = { limit = 10, per = \"1s\", burst = 20, by = \"tenant\", max_keys = 100 }\n\
            concurrency = { max = 4, queue = +0, by = \"tenant\", max_keys = 7 }\n\
            \n\
            [ flags . \"quoted name\" ]\n\
            [flags.Empty]\n\
            constraints = []\n\
            variants = [\n\
            ]\n";
        // The README's full example.
        let readme = r##"[flags.AwesomeFeature]
description = "The awesome feature"
fallback = "reject"
enabled = true                     # master switch
rollout = 25                       # percent of calls, 0..=100, sticky (below)
stickiness = "userId"              # the label whose value buckets a call
constraints = [
  { label = "region", operator = "IN", values = ["eu", "us"] },
  { label = "appVersion", operator = "SEMVER_GT", value = "2.1.0" },
]
variants = [
  { name = "blue", weight = 50, payload = "#0000ff" },
  { name = "green", weight = 50, payload = { type = "json", value = '{"hex": "#00ff00"}' } },
]
rate_limit  = { limit = 100, per = "1s", burst = 20, by = "userId" }
"##;
        for text in [text, readme] {
            let (plain, full) = both(text);
            assert!(plain.is_some(), "the plain reader declined {text:?}");
            assert_eq!(plain, full.ok());
        }
    }

    #[test]
    fn other_forms_are_left_to_toml() {
        for text in [
            "title = \"top-level key\"\n",
            "[flags]\nA = { enabled = true }\n",
            "[flags.A.sub]\n",
            "[[flags.A.variants]]\nname = \"a\"\n",
            "[flags.A]\nenabled.x = true\n",
            "[flags.A]\nrollout = 5_0\n",
            "[flags.A]\nrollout = 0x10\n",
            "[flags.A]\nrollout = 050\n",
            "[flags.A]\nrollout = 5.0\n",
            "[flags.A]\nrollout = 1979-05-27\n",
            "[flags.A]\ndescription = \"tab\\t\"\n",
            "[flags.A]\ndescription = \"\"\"long\"\"\"\n",
            "[flags.A]\nrate_limit = {\n limit = 1, per = \"1s\" }\n",
            "[flags.A]\nrate_limit = { limit = 1, per = \"1s\", }\n",
            "[flags.A]\nrolout = 5\n",
            "[flags.A]\nrollout = \"5\"\n",
            "[flags.A]\nenabled = true\nenabled = false\n",
            "[flags.A]\n[flags.A]\n",
            "[flags.A]\nconstraints = [{ operator = \"IN\", values = [] }]\n",
            "[flags.A]\nenabled = true false\n",
            "[flags.A]\nenabled = tru\n",
            "\u{feff}[flags.A]\n",
            "[flags.A]\nenabled = true\r",
        ] {
            let (plain, full) = both(text);
            assert!(plain.is_none(), "read by the plain reader: {text:?}");
            // Whatever `toml` makes of it stands: read, or an error.
            let _ = full;
        }
    }
}
