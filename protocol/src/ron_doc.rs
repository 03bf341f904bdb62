//! A small RON parser that keeps the position of every value.
//!
//! The `ron` crate stops at the first error and forgets where values were, but protocol files are
//! reviewed by clinicians who need every problem of a file at once, each with line:column and the
//! field's path. This module turns the text into a [`Node`] tree that records where each value
//! starts; [`super::de`] then deserialises from that tree while collecting diagnostics.
//!
//! Supported: `//` and nested `/* */` comments, trailing commas, integers and floats (sign,
//! fraction, exponent, `_` separators), `NaN`, `inf`, `-inf`, strings with `\" \\ \n \t \r \0 \'`
//! and `\u{...}` escapes, `true`/`false`, `None`/`Some(x)`, lists, maps, tuples, named and
//! anonymous structs, and enum variants (unit, tuple and struct-like), and the attribute
//! `#![enable(implicit_some)]` before the value: a bare value where an `Option` is expected always
//! reads as `Some` of it here, so the attribute changes nothing. Not supported: other extensions,
//! raw strings, byte strings, chars and hexadecimal numbers. Where this dialect differs from the
//! `ron` crate's is listed in `tests/ron_differential.rs`.
//!
//! Paths (in [`Diagnostic::path`] and [`Node::span_at`]) read `circuit.sensors[2].range.max` or
//! `phases[0].targets["mean_pressure"].band`. What sits alone inside parentheses (the `x` of
//! `Some(x)`, of a newtype variant `Hold(x)` or of any one-value tuple) has the same path as the
//! parentheses, so the second condition of `condition: All([a, b])` is `condition[1]`.

use std::collections::VecDeque;
use std::fmt;

/// Deepest nesting of brackets the parser accepts; keeps recursion (and the stack) bounded.
pub const MAX_DEPTH: usize = 128;

/// 1-based line and column (column counts chars).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One problem of a protocol file, phrased as "expected ..., found ...".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub span: Span,
    /// Path to the offending field, e.g. `circuit.sensors[2].range.max` or
    /// `phases[0].targets["mean_pressure"].band`; empty string for the document root.
    pub path: String,
    /// What was expected, e.g. "a finite number" or "one of `Pressure`, `Flow`".
    pub expected: String,
    /// What was found, e.g. "NaN" or "a string \"abc\"".
    pub found: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.span)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "expected {}, found {}", self.expected, self.found)
    }
}

/// A value of the document and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    value: Value,
    span: Span,
}

/// The value of a [`Node`]. Names (of structs, variants, fields) are kept as written so that the
/// deserialiser can say which one was wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    /// An integer literal; one too wide for `i128` is read as a [`Value::Float`].
    Int(i128),
    /// A float literal, `NaN`, `inf` or `-inf`.
    Float(f64),
    Str(String),
    /// A bare name: a unit variant such as `Pressure`.
    Ident(String),
    /// `None` or `Some(x)`.
    Option(Option<Box<Node>>),
    /// `[a, b, c]`.
    List(Vec<Node>),
    /// `{ key: value, ... }` in file order, duplicates included (the deserialiser reports them).
    Map(Vec<(Node, Node)>),
    /// `(a, b)`, `Name(a, b)`, `Hold(30.0)` and the empty `()` / `Name()`.
    Tuple {
        name: Option<String>,
        items: Vec<Node>,
    },
    /// `(field: value, ...)` or `Name(field: value, ...)`, fields in file order.
    Struct {
        name: Option<String>,
        fields: Vec<Field>,
    },
}

/// A `name: value` pair of a struct.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub name_span: Span,
    pub value: Node,
}

impl Node {
    /// Where the value starts.
    pub fn span(&self) -> Span {
        self.span
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Span of the value at `path` (same path syntax as [`Diagnostic::path`]), for errors found
    /// after deserialisation. `None` when the path is malformed or names nothing in the document.
    pub fn span_at(&self, path: &str) -> Option<Span> {
        let mut node = self;
        for (_, seg) in parse_path(path)? {
            node = node.unwrap_single();
            node = match (&seg, &node.value) {
                (Seg::Field(name), Value::Struct { fields, .. }) => {
                    &fields.iter().find(|f| f.name == *name)?.value
                }
                (Seg::Index(i), Value::List(items) | Value::Tuple { items, .. }) => {
                    items.get(usize::try_from(*i).ok()?)?
                }
                (Seg::Index(i), Value::Map(entries)) => {
                    &entries.iter().find(|(k, _)| k.value == Value::Int(*i))?.1
                }
                (Seg::Key(key), Value::Map(entries)) => {
                    &entries
                        .iter()
                        .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))?
                        .1
                }
                _ => return None,
            };
        }
        Some(node.span)
    }

    /// A short description for "found ..." messages: "the number 3", "a string \"abc\"", "NaN".
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Bool(b) => format!("`{b}`"),
            Value::Int(i) => format!("the number {i}"),
            Value::Float(f) => describe_float(*f),
            Value::Str(s) => describe_str(s),
            Value::Ident(name) => format!("`{name}`"),
            Value::Option(None) => "`None`".into(),
            Value::Option(Some(_)) => "`Some(...)`".into(),
            Value::List(items) if items.is_empty() => "an empty list `[]`".into(),
            Value::List(_) => "a list `[...]`".into(),
            Value::Map(_) => "a map `{...}`".into(),
            Value::Tuple {
                name: Some(name), ..
            }
            | Value::Struct {
                name: Some(name), ..
            } => format!("`{name}(...)`"),
            Value::Tuple { name: None, items } if items.is_empty() => "`()`".into(),
            Value::Tuple { name: None, .. } => "a tuple `(...)`".into(),
            Value::Struct { name: None, .. } => "a struct `(...)`".into(),
        }
    }

    /// Looks through `Some(x)` and one-value parentheses, which share their content's path.
    fn unwrap_single(&self) -> &Node {
        let mut node = self;
        loop {
            node = match &node.value {
                Value::Option(Some(inner)) => inner,
                Value::Tuple { items, .. } => match items.as_slice() {
                    [only] => only,
                    _ => return node,
                },
                _ => return node,
            };
        }
    }
}

fn describe_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("the number {f:?}")
    }
}

fn describe_str(s: &str) -> String {
    const SHOWN: usize = 40;
    if s.chars().count() > SHOWN {
        let head: String = s.chars().take(SHOWN).collect();
        format!("a string {}...", quote(&head))
    } else {
        format!("a string {}", quote(s))
    }
}

/// Parses a whole document. Syntax errors cannot be recovered from: returns the first one, with
/// its position and the path reached so far.
pub fn parse(src: &str) -> Result<Node, Diagnostic> {
    let mut parser = Parser {
        lexer: Lexer::new(src),
        ahead: VecDeque::new(),
        path: Vec::new(),
        depth: 0,
    };
    parser.lexer.attributes().map_err(|e| Diagnostic {
        span: e.span,
        path: String::new(),
        expected: e.expected.unwrap_or_default(),
        found: e.found,
    })?;
    let root = parser.value()?;
    let end = parser.advance("the end of the file")?;
    if end.tok != Tok::Eof {
        return Err(parser.diag(
            end.span,
            "the end of the file (a file holds one value)",
            describe_tok(&end.tok),
        ));
    }
    Ok(root)
}

// ----------------------------------------------------------------------------------------------
// Paths

/// `parent.name`, or `name` at the root.
pub(super) fn join_field(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// `parent[i]`.
pub(super) fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// `parent["key"]`, `parent[3]`, or `parent[...]` for keys a path cannot spell.
pub(super) fn join_key(parent: &str, key: &Node) -> String {
    match key_segment(key) {
        Some(seg) => format!("{parent}{seg}"),
        None => format!("{parent}[...]"),
    }
}

/// The path segment of a map key: `["key"]` or `[3]`; `None` for other kinds of key.
pub(super) fn key_segment(key: &Node) -> Option<String> {
    match &key.value {
        Value::Str(s) => Some(format!("[{}]", quote(s))),
        Value::Int(i) => Some(format!("[{i}]")),
        _ => None,
    }
}

/// The path one level up (`a.b[2]` → `a.b`); `None` for the root. A path that cannot be read
/// is taken to hang from the root.
pub(super) fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let start = parse_path(path)
        .and_then(|segs| segs.last().map(|(start, _)| *start))
        .unwrap_or(0);
    Some(path.get(..start).unwrap_or(""))
}

/// Double-quoted with the escapes of RON strings, so that a key reads as it was written.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

enum Seg {
    Field(String),
    Index(i128),
    Key(String),
}

/// Splits a path into segments, each with the byte offset where it starts.
fn parse_path(path: &str) -> Option<Vec<(usize, Seg)>> {
    let mut segs = Vec::new();
    let mut chars = path.char_indices().peekable();
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while let Some(&(start, c)) = chars.peek() {
        let seg = if c == '[' {
            chars.next();
            if chars.next_if(|&(_, c)| c == '"').is_some() {
                let mut key = String::new();
                loop {
                    match chars.next()?.1 {
                        '"' => break,
                        '\\' => key.push(unescape_path_char(&mut chars)?),
                        c => key.push(c),
                    }
                }
                if chars.next()?.1 != ']' {
                    return None;
                }
                Seg::Key(key)
            } else {
                let mut digits = String::new();
                loop {
                    match chars.next()?.1 {
                        ']' => break,
                        c => digits.push(c),
                    }
                }
                Seg::Index(digits.parse().ok()?)
            }
        } else {
            if c == '.' && !segs.is_empty() {
                chars.next();
            } else if !(segs.is_empty() && is_name(c)) {
                return None;
            }
            let mut name = String::new();
            while let Some((_, c)) = chars.next_if(|&(_, c)| is_name(c)) {
                name.push(c);
            }
            if name.is_empty() {
                return None;
            }
            Seg::Field(name)
        };
        segs.push((start, seg));
    }
    Some(segs)
}

fn unescape_path_char(chars: &mut impl Iterator<Item = (usize, char)>) -> Option<char> {
    match chars.next()?.1 {
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        '0' => Some('\0'),
        'u' => {
            if chars.next()?.1 != '{' {
                return None;
            }
            let mut hex = String::new();
            loop {
                match chars.next()?.1 {
                    '}' => break,
                    c => hex.push(c),
                }
            }
            char::from_u32(u32::from_str_radix(&hex, 16).ok()?)
        }
        c => Some(c),
    }
}

// ----------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Punct {
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Colon,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Punct(Punct),
    Str(String),
    Int(i128),
    Float(f64),
    Ident(String),
    Eof,
}

struct Token {
    tok: Tok,
    span: Span,
}

/// A lexing error; `expected` is `None` when only the parser knows what should have come
/// (a stray character), and the parser then fills it in.
struct LexError {
    span: Span,
    expected: Option<String>,
    found: String,
}

/// What stood where an attribute's word was expected: the word, else the next character.
fn describe_word(word: &str, next: Option<char>) -> String {
    match (word, next) {
        ("", None) => "the end of the file".into(),
        ("", Some(c)) => format!("the character {c:?}"),
        (word, _) => format!("`{word}`"),
    }
}

fn describe_tok(tok: &Tok) -> String {
    match tok {
        Tok::Punct(p) => {
            let c = match p {
                Punct::LParen => '(',
                Punct::RParen => ')',
                Punct::LBracket => '[',
                Punct::RBracket => ']',
                Punct::LBrace => '{',
                Punct::RBrace => '}',
                Punct::Comma => ',',
                Punct::Colon => ':',
            };
            format!("`{c}`")
        }
        Tok::Str(s) => describe_str(s),
        Tok::Int(i) => format!("the number {i}"),
        Tok::Float(f) => describe_float(*f),
        Tok::Ident(name) => format!("`{name}`"),
        Tok::Eof => "the end of the file".into(),
    }
}

const ESCAPES: &str = r#"one of the escapes \" \\ \n \t \r \0 \u{...}"#;

struct Lexer<'s> {
    src: &'s str,
    /// Byte offset of the next char; always on a char boundary.
    pos: usize,
    line: u32,
    col: u32,
}

impl<'s> Lexer<'s> {
    fn new(src: &'s str) -> Self {
        // A byte-order mark is not part of the text a reader sees: skip it without a column.
        let pos = if src.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        Lexer {
            src,
            pos,
            line: 1,
            col: 1,
        }
    }

    fn rest(&self) -> &'s str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn here(&self) -> Span {
        Span {
            line: self.line,
            col: self.col,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    fn bump_while(&mut self, pred: impl Fn(char) -> bool) -> &'s str {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.bump();
        }
        self.src.get(start..self.pos).unwrap_or("")
    }

    fn next_token(&mut self) -> Result<Token, LexError> {
        self.skip_trivia()?;
        let span = self.here();
        let Some(c) = self.peek() else {
            return Ok(Token {
                tok: Tok::Eof,
                span,
            });
        };
        let punct = match c {
            '(' => Some(Punct::LParen),
            ')' => Some(Punct::RParen),
            '[' => Some(Punct::LBracket),
            ']' => Some(Punct::RBracket),
            '{' => Some(Punct::LBrace),
            '}' => Some(Punct::RBrace),
            ',' => Some(Punct::Comma),
            ':' => Some(Punct::Colon),
            _ => None,
        };
        let tok = if let Some(p) = punct {
            self.bump();
            Tok::Punct(p)
        } else if c == '"' {
            self.string(span)?
        } else if c.is_ascii_digit() || c == '-' || c == '+' {
            self.number(span)?
        } else if c.is_ascii_alphabetic() || c == '_' {
            Tok::Ident(self.bump_while(is_word_char).to_owned())
        } else {
            self.bump();
            return Err(LexError {
                span,
                expected: None,
                found: format!("the character {c:?}"),
            });
        };
        Ok(Token { tok, span })
    }

    /// Skips `#![enable(implicit_some)]` attributes before the value, the `ron` crate's way of
    /// allowing a bare value for an `Option`, which this reader always allows. Other extensions
    /// are refused: this reader does not implement them.
    fn attributes(&mut self) -> Result<(), LexError> {
        loop {
            self.skip_trivia()?;
            if !self.rest().starts_with("#!") {
                return Ok(());
            }
            self.bump();
            self.bump();
            self.expect_char('[', "`[` of `#![enable(...)]`")?;
            self.skip_trivia()?;
            let span = self.here();
            let word = self.bump_while(is_word_char);
            if word != "enable" {
                return Err(LexError {
                    span,
                    expected: Some("`enable`, the only attribute RON has".into()),
                    found: describe_word(word, self.peek()),
                });
            }
            self.expect_char('(', "`(` after `enable`")?;
            loop {
                self.skip_trivia()?;
                let span = self.here();
                let word = self.bump_while(is_word_char);
                if word != "implicit_some" {
                    return Err(LexError {
                        span,
                        expected: Some(
                            "the extension `implicit_some` (the only one this reader knows; \
                             it always applies)"
                                .into(),
                        ),
                        found: describe_word(word, self.peek()),
                    });
                }
                self.skip_trivia()?;
                if self.peek() == Some(',') {
                    self.bump();
                    self.skip_trivia()?;
                }
                if self.peek() == Some(')') {
                    self.bump();
                    break;
                }
            }
            self.expect_char(']', "`]` to close `#![enable(...)]`")?;
        }
    }

    /// Skips trivia, then takes `c` or reports what stood there instead.
    fn expect_char(&mut self, c: char, expected: &str) -> Result<(), LexError> {
        self.skip_trivia()?;
        let span = self.here();
        match self.peek() {
            Some(found) if found == c => {
                self.bump();
                Ok(())
            }
            found => Err(LexError {
                span,
                expected: Some(expected.into()),
                found: describe_word("", found),
            }),
        }
    }

    fn skip_trivia(&mut self) -> Result<(), LexError> {
        loop {
            match (self.peek(), self.peek2()) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    self.bump_while(|c| c != '\n');
                }
                (Some('/'), Some('*')) => self.block_comment()?,
                _ => return Ok(()),
            }
        }
    }

    /// Block comments nest, so that commenting out a region that holds one is safe.
    fn block_comment(&mut self) -> Result<(), LexError> {
        let start = self.here();
        self.bump();
        self.bump();
        let mut depth = 1usize;
        loop {
            match (self.peek(), self.peek2()) {
                (None, _) => {
                    return Err(LexError {
                        span: start,
                        expected: Some("`*/` to close this comment".into()),
                        found: "the end of the file".into(),
                    });
                }
                (Some('*'), Some('/')) => {
                    self.bump();
                    self.bump();
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                (Some('/'), Some('*')) => {
                    self.bump();
                    self.bump();
                    depth += 1;
                }
                _ => {
                    self.bump();
                }
            }
        }
    }

    fn string(&mut self, start: Span) -> Result<Tok, LexError> {
        self.bump();
        let mut out = String::new();
        loop {
            let at = self.here();
            match self.bump() {
                None => return Err(unterminated_string(start)),
                Some('"') => return Ok(Tok::Str(out)),
                Some('\\') => out.push(self.escape(at, start)?),
                Some(c) => out.push(c),
            }
        }
    }

    fn escape(&mut self, at: Span, start: Span) -> Result<char, LexError> {
        let bad = move |found: String| LexError {
            span: at,
            expected: Some(ESCAPES.into()),
            found,
        };
        match self.bump() {
            None => Err(unterminated_string(start)),
            Some('"') => Ok('"'),
            Some('\\') => Ok('\\'),
            Some('\'') => Ok('\''),
            Some('n') => Ok('\n'),
            Some('t') => Ok('\t'),
            Some('r') => Ok('\r'),
            Some('0') => Ok('\0'),
            Some('u') => {
                if self.peek() != Some('{') {
                    return Err(bad("`\\u` without `{`".into()));
                }
                self.bump();
                let hex = self.bump_while(|c| c.is_ascii_hexdigit());
                if self.peek() != Some('}') {
                    return Err(bad(format!("`\\u{{{hex}` without a closing `}}`")));
                }
                self.bump();
                u32::from_str_radix(hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| bad(format!("`\\u{{{hex}}}`, which is not a character")))
            }
            Some(c) => Err(bad(format!("`\\{c}`"))),
        }
    }

    fn number(&mut self, span: Span) -> Result<Tok, LexError> {
        let start = self.pos;
        let negative = match self.peek() {
            Some('-') => {
                self.bump();
                true
            }
            Some('+') => {
                self.bump();
                false
            }
            _ => false,
        };
        if self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            return match self.bump_while(is_word_char) {
                "inf" if negative => Ok(Tok::Float(f64::NEG_INFINITY)),
                "inf" => Ok(Tok::Float(f64::INFINITY)),
                "NaN" => Ok(Tok::Float(f64::NAN)),
                _ => Err(self.bad_number(span, start)),
            };
        }
        let is_digit = |c: char| c.is_ascii_digit();
        if !self.peek().is_some_and(is_digit) {
            return Err(self.bad_number(span, start));
        }
        let digits = |c: char| c.is_ascii_digit() || c == '_';
        self.bump_while(digits);
        let mut float = false;
        if self.peek() == Some('.') && self.peek2().is_some_and(is_digit) {
            self.bump();
            self.bump_while(digits);
            float = true;
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if !self.peek().is_some_and(is_digit) {
                return Err(self.bad_number(span, start));
            }
            self.bump_while(digits);
            float = true;
        }
        // `30s` or `1.5.2` is one mistyped value, not a number followed by something.
        if self.peek().is_some_and(|c| is_word_char(c) || c == '.') {
            return Err(self.bad_number(span, start));
        }
        let text: String = self
            .src
            .get(start..self.pos)
            .unwrap_or("")
            .chars()
            .filter(|&c| c != '_')
            .collect();
        if !float && let Ok(i) = text.parse::<i128>() {
            return Ok(Tok::Int(i));
        }
        text.parse::<f64>()
            .map(Tok::Float)
            .map_err(|_| self.bad_number(span, start))
    }

    /// Consumes the rest of a malformed number so that the message shows all of it.
    fn bad_number(&mut self, span: Span, start: usize) -> LexError {
        self.bump_while(|c| is_word_char(c) || c == '.');
        LexError {
            span,
            expected: Some("a number".into()),
            found: format!("`{}`", self.src.get(start..self.pos).unwrap_or("")),
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn unterminated_string(start: Span) -> LexError {
    LexError {
        span: start,
        expected: Some("a closing `\"` for this string".into()),
        found: "the end of the file".into(),
    }
}

// ----------------------------------------------------------------------------------------------
// Parser

struct Parser<'s> {
    lexer: Lexer<'s>,
    /// Tokens peeked but not consumed; at most two are needed (`(` name `:` opens a struct).
    ahead: VecDeque<Token>,
    /// Path segments of the value being parsed (`.name`, `[3]`, `["key"]`), for error messages.
    path: Vec<String>,
    depth: usize,
}

impl Parser<'_> {
    fn path_string(&self) -> String {
        let joined: String = self.path.concat();
        joined.strip_prefix('.').unwrap_or(&joined).to_owned()
    }

    fn diag(
        &self,
        span: Span,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            span,
            path: self.path_string(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    fn unclosed(&self, open: Span, opener: char, closer: char) -> Diagnostic {
        self.diag(
            open,
            format!("`{closer}` to close this `{opener}`"),
            "the end of the file",
        )
    }

    /// Peeks at the `n`th token ahead; `expecting` phrases a lexing error at that point.
    fn peek(&mut self, n: usize, expecting: &str) -> Result<&Token, Diagnostic> {
        while self.ahead.len() <= n {
            match self.lexer.next_token() {
                Ok(token) => self.ahead.push_back(token),
                Err(e) => {
                    return Err(Diagnostic {
                        span: e.span,
                        path: self.path_string(),
                        expected: e.expected.unwrap_or_else(|| expecting.to_owned()),
                        found: e.found,
                    });
                }
            }
        }
        self.ahead
            .get(n)
            .ok_or_else(|| self.diag(self.lexer.here(), expecting, "an unreadable token"))
    }

    fn peek_is(&mut self, n: usize, expecting: &str, tok: &Tok) -> Result<bool, Diagnostic> {
        Ok(self.peek(n, expecting)?.tok == *tok)
    }

    fn advance(&mut self, expecting: &str) -> Result<Token, Diagnostic> {
        self.peek(0, expecting)?;
        self.ahead
            .pop_front()
            .ok_or_else(|| self.diag(self.lexer.here(), expecting, "an unreadable token"))
    }

    fn value(&mut self) -> Result<Node, Diagnostic> {
        let token = self.advance("a value")?;
        let span = token.span;
        let value = match token.tok {
            Tok::Int(i) => Value::Int(i),
            Tok::Float(f) => Value::Float(f),
            Tok::Str(s) => Value::Str(s),
            Tok::Ident(name) => self.named(name)?,
            Tok::Punct(Punct::LBracket) => self.nested(span, |p| p.list(span))?,
            Tok::Punct(Punct::LBrace) => self.nested(span, |p| p.map(span))?,
            Tok::Punct(Punct::LParen) => self.nested(span, |p| p.parens(None, span))?,
            other => return Err(self.diag(span, "a value", describe_tok(&other))),
        };
        Ok(Node { value, span })
    }

    /// Runs `inner` one level deeper, refusing to go past [`MAX_DEPTH`].
    fn nested(
        &mut self,
        open: Span,
        inner: impl FnOnce(&mut Self) -> Result<Value, Diagnostic>,
    ) -> Result<Value, Diagnostic> {
        if self.depth >= MAX_DEPTH {
            return Err(self.diag(
                open,
                format!("at most {MAX_DEPTH} levels of nested brackets"),
                "a bracket nested deeper than that",
            ));
        }
        self.depth += 1;
        let value = inner(self);
        self.depth -= 1;
        value
    }

    /// A value that starts with a name: a keyword, `Some(x)`, `Name(...)` or a bare variant.
    fn named(&mut self, name: String) -> Result<Value, Diagnostic> {
        match name.as_str() {
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            "NaN" => return Ok(Value::Float(f64::NAN)),
            "inf" => return Ok(Value::Float(f64::INFINITY)),
            "None" => return Ok(Value::Option(None)),
            _ => {}
        }
        if !self.peek_is(0, "`,` or a closing bracket", &Tok::Punct(Punct::LParen))? {
            return Ok(Value::Ident(name));
        }
        let open = self.advance("`(`")?.span;
        if name == "Some" {
            self.nested(open, |p| p.some(open))
        } else {
            self.nested(open, |p| p.parens(Some(name), open))
        }
    }

    fn some(&mut self, open: Span) -> Result<Value, Diagnostic> {
        let inner = self.value()?;
        let mut token = self.advance("`)`")?;
        if token.tok == Tok::Punct(Punct::Comma) {
            token = self.advance("`)`")?;
        }
        match token.tok {
            Tok::Punct(Punct::RParen) => Ok(Value::Option(Some(Box::new(inner)))),
            Tok::Eof => Err(self.unclosed(open, '(', ')')),
            other => Err(self.diag(
                token.span,
                "`)` (`Some` holds one value)",
                describe_tok(&other),
            )),
        }
    }

    fn list(&mut self, open: Span) -> Result<Value, Diagnostic> {
        let mut items = Vec::new();
        loop {
            // The element's path is set before peeking, so a bad token there names the element.
            self.path.push(format!("[{}]", items.len()));
            let token = self.peek(0, "a value or `]`")?;
            match token.tok {
                Tok::Punct(Punct::RBracket) => {
                    self.path.pop();
                    self.advance("`]`")?;
                    break;
                }
                Tok::Eof => {
                    self.path.pop();
                    return Err(self.unclosed(open, '[', ']'));
                }
                _ => {}
            }
            items.push(self.value()?);
            self.path.pop();
            if self.separator(open, '[', Punct::RBracket, "`,` or `]`")? {
                break;
            }
        }
        Ok(Value::List(items))
    }

    fn map(&mut self, open: Span) -> Result<Value, Diagnostic> {
        let mut entries = Vec::new();
        loop {
            let token = self.peek(0, "a key or `}`")?;
            match token.tok {
                Tok::Punct(Punct::RBrace) => {
                    self.advance("`}`")?;
                    break;
                }
                Tok::Eof => return Err(self.unclosed(open, '{', '}')),
                _ => {}
            }
            let key = self.value()?;
            let colon = self.advance("`:` after the key")?;
            match colon.tok {
                Tok::Punct(Punct::Colon) => {}
                Tok::Eof => return Err(self.unclosed(open, '{', '}')),
                other => {
                    return Err(self.diag(colon.span, "`:` after the key", describe_tok(&other)));
                }
            }
            self.path
                .push(key_segment(&key).unwrap_or_else(|| "[...]".into()));
            let value = self.value()?;
            self.path.pop();
            entries.push((key, value));
            if self.separator(open, '{', Punct::RBrace, "`,` or `}`")? {
                break;
            }
        }
        Ok(Value::Map(entries))
    }

    /// The body of `(...)` or `Name(...)` after the `(`: fields when it starts with `name:`.
    fn parens(&mut self, name: Option<String>, open: Span) -> Result<Value, Diagnostic> {
        let expecting = "a value, a field or `)`";
        if self.peek_is(0, expecting, &Tok::Punct(Punct::RParen))? {
            self.advance("`)`")?;
            return Ok(Value::Tuple {
                name,
                items: Vec::new(),
            });
        }
        let starts_with_name = matches!(self.peek(0, expecting)?.tok, Tok::Ident(_));
        if starts_with_name && self.peek_is(1, "`:`, `,` or `)`", &Tok::Punct(Punct::Colon))? {
            self.fields(name, open)
        } else {
            self.items(name, open)
        }
    }

    fn fields(&mut self, name: Option<String>, open: Span) -> Result<Value, Diagnostic> {
        let mut fields = Vec::new();
        loop {
            let token = self.advance("a field name or `)`")?;
            let field_name = match token.tok {
                Tok::Ident(field_name) => field_name,
                Tok::Punct(Punct::RParen) => break,
                Tok::Eof => return Err(self.unclosed(open, '(', ')')),
                other => {
                    return Err(self.diag(
                        token.span,
                        "a field name (`name: value`) or `)`",
                        describe_tok(&other),
                    ));
                }
            };
            let colon = self.advance("`:` after the field name")?;
            match colon.tok {
                Tok::Punct(Punct::Colon) => {}
                Tok::Eof => return Err(self.unclosed(open, '(', ')')),
                other => {
                    return Err(self.diag(
                        colon.span,
                        format!("`:` after the field name `{field_name}`"),
                        describe_tok(&other),
                    ));
                }
            }
            self.path.push(format!(".{field_name}"));
            let value = self.value()?;
            self.path.pop();
            fields.push(Field {
                name: field_name,
                name_span: token.span,
                value,
            });
            if self.separator(open, '(', Punct::RParen, "`,` or `)`")? {
                break;
            }
        }
        Ok(Value::Struct { name, fields })
    }

    fn items(&mut self, name: Option<String>, open: Span) -> Result<Value, Diagnostic> {
        let mut items = Vec::new();
        loop {
            // The element's path is set before peeking, so a bad token there names the element.
            self.path.push(format!("[{}]", items.len()));
            let token = self.peek(0, "a value or `)`")?;
            match token.tok {
                Tok::Punct(Punct::RParen) => {
                    self.path.pop();
                    self.advance("`)`")?;
                    break;
                }
                Tok::Eof => {
                    self.path.pop();
                    return Err(self.unclosed(open, '(', ')'));
                }
                _ => {}
            }
            items.push(self.value()?);
            self.path.pop();
            if self.separator(open, '(', Punct::RParen, "`,` or `)`")? {
                break;
            }
        }
        Ok(Value::Tuple { name, items })
    }

    /// Reads the `,` or the closing bracket after an element; `true` when the bracket closed.
    fn separator(
        &mut self,
        open: Span,
        opener: char,
        close: Punct,
        expecting: &str,
    ) -> Result<bool, Diagnostic> {
        let token = self.advance(expecting)?;
        match token.tok {
            Tok::Punct(Punct::Comma) => Ok(false),
            Tok::Punct(p) if p == close => Ok(true),
            Tok::Eof => {
                let closer = match close {
                    Punct::RBracket => ']',
                    Punct::RBrace => '}',
                    _ => ')',
                };
                Err(self.unclosed(open, opener, closer))
            }
            other => Err(self.diag(token.span, expecting, describe_tok(&other))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u32, col: u32) -> Span {
        Span { line, col }
    }

    fn error(src: &str) -> Diagnostic {
        match parse(src) {
            Ok(node) => panic!("expected a syntax error, parsed {node:?}"),
            Err(d) => d,
        }
    }

    fn check(src: &str, span: Span, path: &str, expected: &str, found: &str) {
        let d = error(src);
        assert_eq!(
            d,
            Diagnostic {
                span,
                path: path.into(),
                expected: expected.into(),
                found: found.into(),
            },
            "for {src:?}"
        );
    }

    #[test]
    fn the_implicit_some_attribute_is_read_and_other_extensions_refused() {
        let node = parse(
            "// a comment\n#![enable(implicit_some)]\n#![ enable( implicit_some, ) ]\n(a: 1)",
        )
        .expect("parses");
        assert_eq!(node.span(), at(4, 1));
        check(
            "#![enable(unwrap_newtypes)]\n(a: 1)",
            at(1, 11),
            "",
            "the extension `implicit_some` (the only one this reader knows; it always applies)",
            "`unwrap_newtypes`",
        );
        check(
            "#![allow(x)]",
            at(1, 4),
            "",
            "`enable`, the only attribute RON has",
            "`allow`",
        );
        check(
            "#![enable(implicit_some)\n(a: 1)",
            at(2, 1),
            "",
            "`]` to close `#![enable(...)]`",
            "the character '('",
        );
    }

    #[test]
    fn values_and_their_spans() {
        let src = "Cfg(\n  a: -2.5e1, b: [1, +2,], c: {\"k\": None, \"j\": Some(x),},\n  d: (1, \"s\"), e: Hold(inf), f: (), g: Unit, h: -inf, i: true, j: 10_000,\n)";
        let node = parse(src).expect("parses");
        let Value::Struct { name, fields } = node.value() else {
            panic!("not a struct: {node:?}")
        };
        assert_eq!(name.as_deref(), Some("Cfg"));
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);
        let value = |i: usize| fields[i].value.value().clone();
        assert_eq!(value(0), Value::Float(-25.0));
        assert!(matches!(value(1), Value::List(ref items) if items.len() == 2));
        assert!(matches!(value(3), Value::Tuple { name: None, ref items } if items.len() == 2));
        assert!(matches!(value(4), Value::Tuple { name: Some(ref n), .. } if n == "Hold"));
        assert_eq!(
            value(5),
            Value::Tuple {
                name: None,
                items: vec![]
            }
        );
        assert_eq!(value(6), Value::Ident("Unit".into()));
        assert_eq!(value(7), Value::Float(f64::NEG_INFINITY));
        assert_eq!(value(8), Value::Bool(true));
        assert_eq!(value(9), Value::Int(10_000));
        assert_eq!(node.span(), at(1, 1));
        assert_eq!(fields[0].name_span, at(2, 3));
        assert_eq!(fields[0].value.span(), at(2, 6));
        assert_eq!(fields[1].value.span(), at(2, 17));
        assert_eq!(fields[4].value.span(), at(3, 19));
    }

    #[test]
    fn comments_whitespace_and_trailing_commas() {
        let src = "\u{feff}/* header /* nested */ still comment */\n// line\n[ // after\n\t1, /* mid */ 2 ,\r\n  3, ]// end";
        let node = parse(src).expect("parses");
        let Value::List(items) = node.value() else {
            panic!("not a list")
        };
        let spans: Vec<Span> = items.iter().map(Node::span).collect();
        assert_eq!(spans, [at(4, 2), at(4, 15), at(5, 3)]);
        assert_eq!(node.span(), at(3, 1));
    }

    #[test]
    fn strings_and_escapes() {
        let node = parse(r#""a\"b\\c\nd\te\u{e9}\u{1F600}é\0""#).expect("parses");
        assert_eq!(
            node.value(),
            &Value::Str("a\"b\\c\nd\te\u{e9}\u{1F600}é\0".into())
        );
        // Columns count chars, not bytes.
        let node = parse("[\"ééé\", 1]").expect("parses");
        let Value::List(items) = node.value() else {
            panic!("not a list")
        };
        assert_eq!(items[1].span(), at(1, 9));
    }

    #[test]
    fn unclosed_brackets_point_at_the_opener() {
        check(
            "Cfg(\n  list: [1, 2,\n  ",
            at(2, 9),
            "list",
            "`]` to close this `[`",
            "the end of the file",
        );
        check(
            "(a: {\"k\": (x: 1)",
            at(1, 5),
            "a",
            "`}` to close this `{`",
            "the end of the file",
        );
        check(
            "Some(1",
            at(1, 5),
            "",
            "`)` to close this `(`",
            "the end of the file",
        );
        check(
            "(1, 2",
            at(1, 1),
            "",
            "`)` to close this `(`",
            "the end of the file",
        );
        check(
            "[[1, 2]",
            at(1, 1),
            "",
            "`]` to close this `[`",
            "the end of the file",
        );
    }

    #[test]
    fn stray_and_misplaced_characters() {
        check(
            "(a: 1,\n b: [1, 2 @])",
            at(2, 11),
            "b",
            "`,` or `]`",
            "the character '@'",
        );
        check("(a: [1, 2)", at(1, 10), "a", "`,` or `]`", "`)`");
        check("(a: 1 b: 2)", at(1, 7), "", "`,` or `)`", "`b`");
        check(
            "(a: 1, 2)",
            at(1, 8),
            "",
            "a field name (`name: value`) or `)`",
            "the number 2",
        );
        check("(a 1)", at(1, 4), "", "`,` or `)`", "the number 1");
        check("(a: ]", at(1, 5), "a", "a value", "`]`");
        check(
            "{\"k\" 1}",
            at(1, 6),
            "",
            "`:` after the key",
            "the number 1",
        );
        check(
            "[1] [2]",
            at(1, 5),
            "",
            "the end of the file (a file holds one value)",
            "`[`",
        );
        check("", at(1, 1), "", "a value", "the end of the file");
        check(
            "  // only a comment\n",
            at(2, 1),
            "",
            "a value",
            "the end of the file",
        );
        check(
            "(a: 1, b: {\"x\": [0, #]})",
            at(1, 21),
            "b[\"x\"][1]",
            "a value or `]`",
            "the character '#'",
        );
    }

    #[test]
    fn bad_tokens() {
        check(
            "(a: \"open",
            at(1, 5),
            "a",
            "a closing `\"` for this string",
            "the end of the file",
        );
        check(
            "[\"a\\qb\"]",
            at(1, 4),
            "[0]",
            r#"one of the escapes \" \\ \n \t \r \0 \u{...}"#,
            "`\\q`",
        );
        check(
            "\"\\u{110000}\"",
            at(1, 2),
            "",
            r#"one of the escapes \" \\ \n \t \r \0 \u{...}"#,
            "`\\u{110000}`, which is not a character",
        );
        check("(hold: 30s)", at(1, 8), "hold", "a number", "`30s`");
        check("[1.5.2]", at(1, 2), "[0]", "a number", "`1.5.2`");
        check("[1e]", at(1, 2), "[0]", "a number", "`1e`");
        check("[-x]", at(1, 2), "[0]", "a number", "`-x`");
        check("[- 1]", at(1, 2), "[0]", "a number", "`-`");
        check(
            "[1] /* open",
            at(1, 5),
            "",
            "`*/` to close this comment",
            "the end of the file",
        );
    }

    #[test]
    fn numbers() {
        let parsed = |src: &str| parse(src).map(|n| n.value().clone());
        assert_eq!(parsed("30"), Ok(Value::Int(30)));
        assert_eq!(parsed("-30"), Ok(Value::Int(-30)));
        assert_eq!(parsed("30.0"), Ok(Value::Float(30.0)));
        assert_eq!(parsed("1e-3"), Ok(Value::Float(0.001)));
        assert_eq!(parsed("+2.5E2"), Ok(Value::Float(250.0)));
        assert_eq!(parsed("inf"), Ok(Value::Float(f64::INFINITY)));
        assert!(matches!(parsed("NaN"), Ok(Value::Float(f)) if f.is_nan()));
        assert!(matches!(parsed("-NaN"), Ok(Value::Float(f)) if f.is_nan()));
        // Wider than i128: kept as the nearest float rather than refused.
        assert_eq!(
            parsed("1000000000000000000000000000000000000000"),
            Ok(Value::Float(1e39))
        );
    }

    #[test]
    fn nesting_is_limited_without_overflowing_the_stack() {
        let deep = "[".repeat(10_000);
        check(
            &deep,
            at(1, MAX_DEPTH as u32 + 1),
            &"[0]".repeat(MAX_DEPTH),
            "at most 128 levels of nested brackets",
            "a bracket nested deeper than that",
        );
        let deepest = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&deepest).is_ok());
        let mixed = "Some(".repeat(5_000) + &"(a: ".repeat(5_000);
        assert!(error(&mixed).expected.starts_with("at most 128"));
    }

    #[test]
    fn span_at_follows_paths() {
        let src = r#"(
    circuit: (sensors: [
        (id: "a", range: (min: 0, max: 1)),
        (id: "b", range: Range(min: 2, max: 3)),
    ]),
    phases: [(targets: {
        "mean_pressure": (band: Some((min: 1, max: 2))),
        "we\"ird\n": 1,
    })],
    rules: [All([Above(limit: 1), Below(limit: 2)]), Pair(1, 2)],
    ints: {7: "seven"},
)"#;
        let node = parse(src).expect("parses");
        let span = |path: &str| node.span_at(path);
        assert_eq!(span(""), Some(at(1, 1)));
        assert_eq!(span("circuit"), Some(at(2, 14)));
        assert_eq!(span("circuit.sensors[1]"), Some(at(4, 9)));
        assert_eq!(span("circuit.sensors[1].range.max"), Some(at(4, 45)));
        assert_eq!(
            span("phases[0].targets[\"mean_pressure\"].band"),
            Some(at(7, 33))
        );
        assert_eq!(
            span("phases[0].targets[\"mean_pressure\"].band.max"),
            Some(at(7, 52))
        );
        assert_eq!(span("phases[0].targets[\"we\\\"ird\\n\"]"), Some(at(8, 22)));
        // A newtype variant's content shares its path: `rules[0][1]` is the second condition.
        assert_eq!(span("rules[0]"), Some(at(10, 13)));
        assert_eq!(span("rules[0][1]"), Some(at(10, 35)));
        assert_eq!(span("rules[0][1].limit"), Some(at(10, 48)));
        assert_eq!(span("rules[1][1]"), Some(at(10, 62)));
        assert_eq!(span("ints[7]"), Some(at(11, 15)));
        assert_eq!(span("circuit.sensors[2]"), None);
        assert_eq!(span("circuit.nothing"), None);
        assert_eq!(span("phases[0].targets[\"absent\"]"), None);
        assert_eq!(span("circuit..sensors"), None);
        assert_eq!(span("circuit[x]"), None);
        assert_eq!(span(".circuit"), None);
    }

    #[test]
    fn paths_quote_and_split() {
        let key = parse(r#""a.b[\"c\"]\n""#).expect("parses");
        let path = join_key(&join_field("x", "targets"), &key);
        assert_eq!(path, r#"x.targets["a.b[\"c\"]\n"]"#);
        assert_eq!(parent_path(&path), Some("x.targets"));
        assert_eq!(parent_path("x.targets"), Some("x"));
        assert_eq!(parent_path("x"), Some(""));
        assert_eq!(parent_path("[3]"), Some(""));
        assert_eq!(parent_path(""), None);
        assert_eq!(join_index("", 2), "[2]");
        assert_eq!(join_field("", "a"), "a");
    }

    #[test]
    fn diagnostics_display() {
        let d = error("(a: [1 2])");
        assert_eq!(
            d.to_string(),
            "1:8: a: expected `,` or `]`, found the number 2"
        );
        let d = error("");
        assert_eq!(
            d.to_string(),
            "1:1: expected a value, found the end of the file"
        );
    }
}
