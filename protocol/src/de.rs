//! A serde `Deserializer` over a [`Node`] tree that reports every problem of a file, not the first.
//!
//! Input problems never become `Err`: each is recorded as a [`Diagnostic`] and the visitor gets a
//! placeholder of the kind it asked for (0, `""`, `false`, an empty list, a struct of
//! placeholders, the first variant of an enum), so deserialisation goes on and later problems are
//! found too.
//!
//! Absent struct fields are not offered to the visitor, so serde does what the type says: an
//! `Option` becomes `None`, a `#[serde(default)]` field its default. A required field that is
//! absent makes the visitor fail; the next pass offers it as a "missing" value, which reports the
//! field once and reads as a placeholder. A file with n absent required fields thus takes n + 1
//! passes; a complete file takes one.

use super::ron_doc::{self, Diagnostic, Field, Node, Span, Value};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess,
    Visitor, value::StrDeserializer,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

/// Bounds the retries of [`from_node`] when hand-written `Deserialize` code keeps failing.
const MAX_PASSES: usize = 1024;

/// Deepest the deserialiser descends. Real input is already bounded by the parser's limit
/// ([`ron_doc::MAX_DEPTH`]); this is a backstop.
const MAX_DEPTH: usize = 256;

/// Deepest a placeholder for an absent value may nest. Stops the placeholder of a recursive type
/// (an enum whose first variant contains the enum) early, while the stack is still shallow.
const MAX_PLACEHOLDER_DEPTH: usize = 32;

const MISSING: &str = "nothing (the field is missing)";

/// Deserialises `T` from the tree, collecting every problem instead of stopping at the first.
///
/// Returns the value (with placeholders where input was bad) and all diagnostics, sorted by
/// position and without duplicates. The value must only be trusted when the `Vec` is empty.
///
/// The value is an `Option` because no `T` can be promised for every `Deserialize` impl: one
/// written by hand (e.g. `deserialize_with` that parses a duration) may reject even the
/// placeholder, and a recursive enum whose first variant contains itself has no finite
/// placeholder. For derived types without such code it is always `Some`; it is `None` only
/// together with at least one diagnostic.
///
/// When the visitor returns an error despite the placeholders, the error is recorded at the
/// value where it arose and deserialisation runs again with a silent placeholder there (a list
/// element or map entry is left out instead). If it fails again, a struct field is left out too
/// (serde then reads the other fields before it complains); after that the parent gets the same
/// treatment, and so on up to the root. Each retry keeps what earlier passes reported.
pub fn from_node<T: DeserializeOwned>(node: &Node) -> (Option<T>, Vec<Diagnostic>) {
    let (value, diags, _) = read(node, None);
    (value, diags)
}

/// A number written as a computed value times a factor: `Of("full_flow_ml_min", 0.75)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The field's path, e.g. `phases[1].targets["pump_flow"].band.max`.
    pub path: String,
    pub span: Span,
    pub name: String,
    pub factor: f64,
}

/// As [`from_node`], where a number may also be written as a reference to a computed value
/// (`Of("name", factor)`): it reads as `values[name] × factor` (0 for a name `values` lacks).
/// Returns every reference read, in document order, for the caller to check.
pub fn from_node_with<T: DeserializeOwned>(
    node: &Node,
    values: &BTreeMap<String, f64>,
) -> (Option<T>, Vec<Diagnostic>, Vec<Reference>) {
    read(node, Some(values))
}

fn read<T: DeserializeOwned>(
    node: &Node,
    values: Option<&BTreeMap<String, f64>>,
) -> (Option<T>, Vec<Diagnostic>, Vec<Reference>) {
    let mut refs = Vec::new();
    let mut forced = Forced::default();
    let mut diags = Vec::new();
    let mut value = None;
    for _ in 0..MAX_PASSES {
        let ctx = Ctx {
            diags: RefCell::new(Vec::new()),
            forced: &forced,
            values,
            refs: RefCell::new(Vec::new()),
        };
        let result = T::deserialize(De::new(Src::Node(node), String::new(), &ctx, 0, 0));
        diags.extend(ctx.diags.into_inner());
        refs = ctx.refs.into_inner();
        match result {
            Ok(v) => {
                value = Some(v);
                break;
            }
            Err(err) => {
                let at = err.at.unwrap_or_else(|| At {
                    path: String::new(),
                    span: node.span(),
                    found: node.describe(),
                    report: true,
                });
                if at.report {
                    diags.push(Diagnostic {
                        span: at.span,
                        path: at.path.clone(),
                        expected: err.expected,
                        found: at.found,
                    });
                }
                let retry = match err.absent {
                    Some(field) => forced.offer(ron_doc::join_field(&at.path, field), at.path),
                    None => forced.escalate(at.path),
                };
                if !retry {
                    break;
                }
            }
        }
    }
    if value.is_none() && diags.is_empty() {
        diags.push(Diagnostic {
            span: node.span(),
            path: String::new(),
            expected: "a document this program can read".into(),
            found: "one it could not turn into a value".into(),
        });
    }
    (value, tidy(diags), refs)
}

/// Paths that failed on earlier passes, by how they are now treated.
#[derive(Default)]
struct Forced {
    /// Read as a silent placeholder; list elements and map entries are left out.
    placeholder: BTreeSet<String>,
    /// Struct fields left out of what the struct's visitor is given.
    omitted: BTreeSet<String>,
    /// Absent required fields, offered to their struct's visitor as "missing" values.
    absent: BTreeSet<String>,
}

impl Forced {
    /// Offers the absent required field `field` of the struct at `parent` on the next pass; a
    /// field offered already that fails again is treated as any other failure of its struct.
    fn offer(&mut self, field: String, parent: String) -> bool {
        self.absent.insert(field) || self.escalate(parent)
    }

    /// Treats `path` one step more harshly on the next pass; `false` once even the root failed.
    fn escalate(&mut self, mut path: String) -> bool {
        loop {
            if !self.placeholder.contains(&path) {
                self.placeholder.insert(path);
                return true;
            }
            if !path.is_empty() && !self.omitted.contains(&path) {
                self.omitted.insert(path);
                return true;
            }
            match ron_doc::parent_path(&path) {
                Some(parent) => path = parent.to_owned(),
                None => return false,
            }
        }
    }
}

/// Removes duplicates (passes repeat what earlier ones found) and sorts into document order.
fn tidy(diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut seen = HashSet::new();
    let mut out: Vec<Diagnostic> = diags
        .into_iter()
        .filter(|d| seen.insert(d.clone()))
        .collect();
    out.sort_by_key(|d| (d.span.line, d.span.col));
    out
}

// ----------------------------------------------------------------------------------------------
// Error

/// Only raised by visitors (hand-written `Deserialize` code) and by the depth limit; input
/// problems are diagnostics. [`from_node`] turns it into one.
#[derive(Debug)]
struct Error {
    expected: String,
    at: Option<At>,
    /// The field a struct's visitor missed (see [`Forced::absent`]).
    absent: Option<&'static str>,
}

/// Where an [`Error`] arose: the first deserialiser it passes through fills this in.
#[derive(Debug)]
struct At {
    path: String,
    span: Span,
    found: String,
    /// `false` when the value was already reported as missing or bad: the error is a consequence.
    report: bool,
}

impl Error {
    fn new(expected: impl Into<String>) -> Self {
        Error {
            expected: expected.into(),
            at: None,
            absent: None,
        }
    }

    fn or_at(self, path: &str, src: Src<'_>) -> Self {
        let report = matches!(src, Src::Node(_));
        self.or_at_reporting(path, src, report)
    }

    /// Like [`Error::or_at`], with `report: false` for an error that only follows from an
    /// earlier one (a struct that was given fewer fields than it needs).
    fn or_at_reporting(mut self, path: &str, src: Src<'_>, report: bool) -> Self {
        if self.at.is_none() {
            self.at = Some(At {
                path: path.to_owned(),
                span: src.span(),
                found: src.found(),
                report,
            });
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            Some(at) => write!(
                f,
                "{} `{}`: expected {}, found {}",
                at.span, at.path, self.expected, at.found
            ),
            None => write!(f, "expected {}", self.expected),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(format!("a valid value ({msg})"))
    }

    // What was found is described from the node itself, which reads better than serde's
    // `Unexpected`; only what the visitor expected is kept.
    fn invalid_type(_: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error::new(exp.to_string())
    }

    fn invalid_value(_: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error::new(exp.to_string())
    }

    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        Error::new(format!("{exp} (not {len} values)"))
    }

    fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
        Error::new(one_of(expected))
    }

    fn unknown_field(_: &str, expected: &'static [&'static str]) -> Self {
        Error::new(allowed_fields(expected))
    }

    fn missing_field(field: &'static str) -> Self {
        Error {
            absent: Some(field),
            ..Error::new(format!("the field `{field}`"))
        }
    }

    fn duplicate_field(field: &'static str) -> Self {
        Error::new(format!("the field `{field}` only once"))
    }
}

// ----------------------------------------------------------------------------------------------
// Phrasing

fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn one_of(variants: &[&str]) -> String {
    format!("one of {}", backticked(variants))
}

fn allowed_fields(fields: &[&str]) -> String {
    if fields.is_empty() {
        "no fields here".into()
    } else {
        format!("one of the fields {}", backticked(fields))
    }
}

/// `Range(min: ..., max: ...)`: a struct as it would be written.
fn struct_shape(name: &str, fields: &[&str]) -> String {
    let inner: Vec<String> = fields.iter().map(|f| format!("{f}: ...")).collect();
    format!("`{name}({})`", inner.join(", "))
}

fn tuple_shape(len: usize) -> String {
    format!("a tuple of {} `(...)`", values(len))
}

/// "1 value", "3 values".
fn values(n: usize) -> String {
    if n == 1 {
        "1 value".into()
    } else {
        format!("{n} values")
    }
}

/// What followed a variant's name, for "found ..." when it has the wrong shape.
fn describe_content(variant: &str, content: Content<'_>) -> String {
    match content {
        Content::Unit | Content::Quiet => format!("`{variant}` alone"),
        Content::Items(items) => format!("`{variant}(...)` with {}", values(items.len())),
        Content::Fields(_) => format!("`{variant}(...)` with named fields"),
    }
}

// ----------------------------------------------------------------------------------------------
// Deserializer

/// Shared by every deserialiser of one pass.
struct Ctx<'f> {
    diags: RefCell<Vec<Diagnostic>>,
    /// Paths that failed on an earlier pass.
    forced: &'f Forced,
    /// The computed values a reference reads, when references are allowed.
    values: Option<&'f BTreeMap<String, f64>>,
    /// The references read by this pass.
    refs: RefCell<Vec<Reference>>,
}

impl Ctx<'_> {
    fn report(&self, span: Span, path: &str, expected: String, found: String) {
        self.diags.borrow_mut().push(Diagnostic {
            span,
            path: path.to_owned(),
            expected,
            found,
        });
    }
}

/// What a deserialiser reads from.
#[derive(Clone, Copy)]
enum Src<'a> {
    Node(&'a Node),
    /// An absent value, located at its enclosing struct. `field` names it while its absence is
    /// still to be reported; `None` makes it a silent placeholder (inside something already
    /// reported, or the content of an unknown variant).
    Missing {
        span: Span,
        field: Option<&'a str>,
    },
}

impl Src<'_> {
    fn span(&self) -> Span {
        match self {
            Src::Node(node) => node.span(),
            Src::Missing { span, .. } => *span,
        }
    }

    fn found(&self) -> String {
        match self {
            Src::Node(node) => node.describe(),
            Src::Missing { .. } => MISSING.into(),
        }
    }
}

#[derive(Clone)]
struct De<'a> {
    src: Src<'a>,
    path: String,
    ctx: &'a Ctx<'a>,
    depth: usize,
    /// Levels below the outermost absent value (0 while reading the document).
    placeholder_depth: usize,
}

impl<'a> De<'a> {
    fn new(src: Src<'a>, path: String, ctx: &'a Ctx<'a>, depth: usize, parent: usize) -> Self {
        let src = if ctx.forced.placeholder.contains(&path) {
            Src::Missing {
                span: src.span(),
                field: None,
            }
        } else {
            src
        };
        let placeholder_depth = match src {
            Src::Node(_) => 0,
            Src::Missing { .. } => parent + 1,
        };
        De {
            src,
            path,
            ctx,
            depth,
            placeholder_depth,
        }
    }

    fn child(&self, src: Src<'a>, path: String) -> Self {
        De::new(src, path, self.ctx, self.depth + 1, self.placeholder_depth)
    }

    /// A silent placeholder at this deserialiser's place.
    fn quiet(&self) -> Self {
        self.child(
            Src::Missing {
                span: self.src.span(),
                field: None,
            },
            self.path.clone(),
        )
    }

    fn value(&self) -> Option<&'a Value> {
        match self.src {
            Src::Node(node) => Some(node.value()),
            Src::Missing { .. } => None,
        }
    }

    /// Records that this value is not `expected` (once, for an absent field).
    fn reject(&self, expected: &str) {
        self.reject_found(expected, self.src.found());
    }

    /// Records that this value is not `expected`; `found` is used for a node only.
    fn reject_found(&self, expected: &str, found: String) {
        match self.src {
            Src::Node(node) => self
                .ctx
                .report(node.span(), &self.path, expected.to_owned(), found),
            Src::Missing {
                span,
                field: Some(name),
            } => self.ctx.report(
                span,
                &self.path,
                format!("the field `{name}` ({expected})"),
                MISSING.into(),
            ),
            Src::Missing { field: None, .. } => {}
        }
    }

    fn finish<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        result.map_err(|e| e.or_at(&self.path, self.src))
    }

    /// Hands this deserialiser to `seed`, locating any error the seed raises after it.
    fn run<'de, S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
        let path = self.path.clone();
        let src = self.src;
        seed.deserialize(self).map_err(|e| e.or_at(&path, src))
    }

    fn guard(&self) -> Result<(), Error> {
        if self.depth > MAX_DEPTH || self.placeholder_depth > MAX_PLACEHOLDER_DEPTH {
            Err(Error::new("a less deeply nested value").or_at(&self.path, self.src))
        } else {
            Ok(())
        }
    }

    /// `name` of a named `Name(...)` must be the struct's own.
    fn check_name(&self, written: Option<&str>, name: &str) {
        if let (Some(written), Src::Node(node)) = (written, self.src)
            && written != name
        {
            self.ctx.report(
                node.span(),
                &self.path,
                format!("`{name}(...)` or an unnamed `(...)`"),
                format!("`{written}(...)`"),
            );
        }
    }

    fn number(&self, expected: &str, limit: f64) -> f64 {
        match self.value() {
            Some(Value::Int(i)) if (*i as f64).abs() <= limit => *i as f64,
            Some(Value::Float(f)) if f.is_finite() && f.abs() <= limit => *f,
            _ => {
                self.reject(expected);
                0.0
            }
        }
    }

    /// The value of `Of("name", factor)` when this is one and references are allowed, recorded
    /// in the pass's references; a malformed one is reported and reads as 0.
    fn reference(&self) -> Option<f64> {
        let values = self.ctx.values?;
        let Src::Node(node) = self.src else {
            return None;
        };
        let Value::Tuple {
            name: Some(of),
            items,
        } = node.value()
        else {
            return None;
        };
        if of != "Of" {
            return None;
        }
        let parts = match items.as_slice() {
            [name, factor] => match (name.value(), factor.value()) {
                (Value::Str(name), Value::Int(i)) => Some((name, *i as f64)),
                (Value::Str(name), Value::Float(f)) if f.is_finite() => Some((name, *f)),
                _ => None,
            },
            _ => None,
        };
        let Some((name, factor)) = parts else {
            self.reject("`Of(\"NAME\", FACTOR)`: a computed value's name and a finite factor");
            return Some(0.0);
        };
        self.ctx.refs.borrow_mut().push(Reference {
            path: self.path.clone(),
            span: node.span(),
            name: name.clone(),
            factor,
        });
        Some(values.get(name).map_or(0.0, |v| v * factor))
    }

    /// An integer in `min..=max`; integral floats such as `30.0` count.
    fn integer(&self, min: i128, max: i128) -> i128 {
        let in_range = || format!("an integer from {min} to {max}");
        match self.value() {
            Some(Value::Int(i)) if (min..=max).contains(i) => return *i,
            Some(Value::Int(_)) => self.reject(&in_range()),
            Some(Value::Float(f)) if f.is_finite() && f.fract() == 0.0 => {
                if *f >= min as f64 && *f <= max as f64 {
                    return *f as i128;
                }
                self.reject(&in_range());
            }
            Some(Value::Float(f)) if f.is_finite() => {
                self.reject("an integer (no fractional part)");
            }
            _ => self.reject("an integer"),
        }
        0
    }

    fn text(&self) -> &'a str {
        match self.value() {
            Some(Value::Str(s)) => s,
            Some(Value::Ident(name)) => {
                self.reject_found(
                    "a string",
                    format!("`{name}` without quotes (text goes in double quotes)"),
                );
                ""
            }
            _ => {
                self.reject("a string");
                ""
            }
        }
    }

    /// Elements of a list; one that failed on an earlier pass is left out.
    fn list_items(&self, items: &'a [Node]) -> Vec<De<'a>> {
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let path = ron_doc::join_index(&self.path, i);
                let keep = !self.ctx.forced.placeholder.contains(&path);
                keep.then(|| self.child(Src::Node(item), path))
            })
            .collect()
    }

    /// Values inside parentheses; a single one shares the path of the parentheses.
    fn paren_items(&self, items: &'a [Node]) -> Vec<De<'a>> {
        let single = items.len() == 1;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = if single {
                    self.path.clone()
                } else {
                    ron_doc::join_index(&self.path, i)
                };
                self.child(Src::Node(item), path)
            })
            .collect()
    }

    fn quiet_items(&self, len: usize) -> Vec<De<'a>> {
        (0..len).map(|_| self.quiet()).collect()
    }

    /// The elements of a tuple of `len` values written `(...)` or `Name(...)`, where `name` is
    /// the tuple struct's name if it has one.
    fn tuple_items(&self, name: Option<&str>, len: usize) -> Vec<De<'a>> {
        let shape = match name {
            Some(name) => format!("`{name}(...)` with {}", values(len)),
            None => tuple_shape(len),
        };
        match self.value() {
            Some(Value::Tuple {
                name: written,
                items,
            }) if written.is_none() || name.is_some() => {
                if let Some(name) = name {
                    self.check_name(written.as_deref(), name);
                }
                if items.len() == len {
                    return self.paren_items(items);
                }
                let found = match written {
                    Some(w) => format!("`{w}(...)` with {}", values(items.len())),
                    None => format!("a tuple of {}", values(items.len())),
                };
                self.reject_found(&shape, found);
            }
            _ => self.reject(&shape),
        }
        self.quiet_items(len)
    }

    /// Entries for a struct's visitor: the fields written, in file order, then a missing value
    /// for each declared field not written that an earlier pass found required (see
    /// [`Forced::absent`]). `written` is `None` when the struct itself was bad or absent (already
    /// reported): then every field is a silent placeholder. Fields that an earlier pass chose to
    /// omit are left out.
    fn struct_access(
        &self,
        written: Option<&'a [Field]>,
        declared: &'static [&'static str],
    ) -> StructAccess<'a> {
        let span = self.src.span();
        let mut entries: Vec<(&'static str, De<'a>)> = Vec::with_capacity(declared.len());
        let mut seen: Vec<(&'static str, Span)> = Vec::new();
        let mut omitted = false;
        for field in written.unwrap_or_default() {
            let path = ron_doc::join_field(&self.path, &field.name);
            if let Some((_, first)) = seen.iter().find(|(name, _)| *name == field.name) {
                self.ctx.report(
                    field.name_span,
                    &path,
                    "each field only once".into(),
                    format!("`{}` a second time (first at {first})", field.name),
                );
                continue;
            }
            match declared.iter().find(|name| **name == field.name) {
                Some(&name) => {
                    seen.push((name, field.name_span));
                    if self.ctx.forced.omitted.contains(&path) {
                        omitted = true;
                    } else {
                        entries.push((name, self.child(Src::Node(&field.value), path)));
                    }
                }
                None => self.ctx.report(
                    field.name_span,
                    &path,
                    allowed_fields(declared),
                    format!("an unknown field `{}`", field.name),
                ),
            }
        }
        for &name in declared {
            if !seen.iter().any(|(seen, _)| *seen == name) {
                let path = ron_doc::join_field(&self.path, name);
                if self.ctx.forced.omitted.contains(&path) {
                    omitted = true;
                    continue;
                }
                if written.is_some() && !self.ctx.forced.absent.contains(&path) {
                    continue;
                }
                let src = Src::Missing {
                    span,
                    field: written.is_some().then_some(name),
                };
                entries.push((name, self.child(src, path)));
            }
        }
        StructAccess {
            entries: entries.into_iter(),
            value: None,
            omitted,
        }
    }

    /// Runs a struct's visitor; when fields were omitted, its complaint is only a consequence.
    fn visit_struct<'de, V: Visitor<'de>>(
        &self,
        access: StructAccess<'a>,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let omitted = access.omitted;
        let result = visitor.visit_map(access);
        result.map_err(|e| {
            // An absent required field is reported when it is offered on the next pass.
            let report = !omitted && e.absent.is_none() && matches!(self.src, Src::Node(_));
            e.or_at_reporting(&self.path, self.src, report)
        })
    }

    fn map_access(&self, pairs: &'a [(Node, Node)]) -> MapAccessor<'a> {
        let mut entries = Vec::with_capacity(pairs.len());
        let mut seen: Vec<(String, Span)> = Vec::new();
        for (key, value) in pairs {
            let path = ron_doc::join_key(&self.path, key);
            if let Some(segment) = ron_doc::key_segment(key) {
                if let Some((_, first)) = seen.iter().find(|(s, _)| *s == segment) {
                    let shown = segment.trim_start_matches('[').trim_end_matches(']');
                    self.ctx.report(
                        key.span(),
                        &path,
                        "each key only once".into(),
                        format!("the key {shown} a second time (first at {first})"),
                    );
                    continue;
                }
                seen.push((segment, key.span()));
            }
            if self.ctx.forced.placeholder.contains(&path) {
                continue;
            }
            let key_de = self.child(Src::Node(key), path.clone());
            entries.push((key_de, self.child(Src::Node(value), path)));
        }
        MapAccessor {
            entries: entries.into_iter(),
            value: None,
        }
    }
}

macro_rules! integer_methods {
    ($($method:ident => $visit:ident($ty:ty),)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let n = self.integer(<$ty>::MIN as i128, <$ty>::MAX as i128);
            let result = visitor.$visit(<$ty>::try_from(n).unwrap_or_default());
            self.finish(result)
        }
    )*};
}

impl<'de, 'a> de::Deserializer<'de> for De<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.guard()?;
        let Some(value) = self.value() else {
            self.reject("a value");
            let result = visitor.visit_unit();
            return self.finish(result);
        };
        let result = match value {
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => match (i64::try_from(*i), u64::try_from(*i)) {
                (Ok(i), _) => visitor.visit_i64(i),
                (_, Ok(u)) => visitor.visit_u64(u),
                _ => visitor.visit_i128(*i),
            },
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) | Value::Ident(s) => visitor.visit_str(s),
            Value::Option(None) => visitor.visit_none(),
            Value::Option(Some(inner)) => {
                visitor.visit_some(self.child(Src::Node(inner), self.path.clone()))
            }
            Value::List(items) => visitor.visit_seq(SeqAccessor::new(self.list_items(items))),
            Value::Map(pairs) => visitor.visit_map(self.map_access(pairs)),
            Value::Tuple { items, .. } if items.is_empty() => visitor.visit_unit(),
            Value::Tuple { items, .. } => {
                visitor.visit_seq(SeqAccessor::new(self.paren_items(items)))
            }
            Value::Struct { fields, .. } => {
                // Any field name is acceptable here; duplicates are still reported.
                let mut seen: Vec<&str> = Vec::new();
                let mut entries: Vec<(&'a str, De<'a>)> = Vec::new();
                for field in fields {
                    let path = ron_doc::join_field(&self.path, &field.name);
                    if seen.contains(&field.name.as_str()) {
                        self.ctx.report(
                            field.name_span,
                            &path,
                            "each field only once".into(),
                            format!("`{}` a second time", field.name),
                        );
                        continue;
                    }
                    seen.push(&field.name);
                    entries.push((&field.name, self.child(Src::Node(&field.value), path)));
                }
                visitor.visit_map(StructAccess {
                    entries: entries.into_iter(),
                    value: None,
                    omitted: false,
                })
            }
        };
        self.finish(result)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let b = match self.value() {
            Some(Value::Bool(b)) => *b,
            _ => {
                self.reject("`true` or `false`");
                false
            }
        };
        let result = visitor.visit_bool(b);
        self.finish(result)
    }

    integer_methods! {
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
    }

    /// Literals stop at `i128::MAX`, so that is the largest `u128` a file can hold.
    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let n = self.integer(0, i128::MAX);
        let result = visitor.visit_u128(u128::try_from(n).unwrap_or_default());
        self.finish(result)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let f = self.number(
            "a finite number (within the range of a 32-bit float)",
            f64::from(f32::MAX),
        );
        let result = visitor.visit_f32(f as f32);
        self.finish(result)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let f = match self.reference() {
            Some(f) => f,
            None => self.number("a finite number", f64::MAX),
        };
        let result = visitor.visit_f64(f);
        self.finish(result)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let mut chars = match self.value() {
            Some(Value::Str(s)) => s.chars(),
            _ => "".chars(),
        };
        let c = match (chars.next(), chars.next()) {
            (Some(c), None) => c,
            _ => {
                self.reject("a single character in double quotes");
                '\0'
            }
        };
        let result = visitor.visit_char(c);
        self.finish(result)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = visitor.visit_str(self.text());
        self.finish(result)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = visitor.visit_bytes(self.text().as_bytes());
        self.finish(result)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    /// `None` → none; `Some(x)` → x; a bare value counts as `Some`; an absent field is `None`.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.guard()?;
        let result = match self.src {
            Src::Missing { .. } => visitor.visit_none(),
            Src::Node(node) => match node.value() {
                Value::Option(None) => visitor.visit_none(),
                Value::Option(Some(inner)) => {
                    visitor.visit_some(self.child(Src::Node(inner), self.path.clone()))
                }
                _ => visitor.visit_some(self.child(self.src, self.path.clone())),
            },
        };
        self.finish(result)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value() {
            Some(Value::Tuple { name: None, items }) if items.is_empty() => {}
            _ => self.reject("`()`"),
        }
        let result = visitor.visit_unit();
        self.finish(result)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let ok = match self.value() {
            Some(Value::Ident(written)) => written == name,
            Some(Value::Tuple {
                name: written,
                items,
            }) => items.is_empty() && written.as_deref().is_none_or(|w| w == name),
            _ => false,
        };
        if !ok {
            self.reject(&format!("`{name}`"));
        }
        let result = visitor.visit_unit();
        self.finish(result)
    }

    /// `Name(x)` or `(x)` hold the inner value; anything else is taken as the inner value itself.
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.guard()?;
        let inner = match self.value() {
            Some(Value::Tuple {
                name: written,
                items,
            }) if written.as_deref().is_none_or(|w| w == name) => match items.as_slice() {
                [only] => Some(only),
                _ => None,
            },
            _ => None,
        };
        let inner = match inner {
            Some(node) => self.child(Src::Node(node), self.path.clone()),
            None => self.child(self.src, self.path.clone()),
        };
        let result = visitor.visit_newtype_struct(inner);
        self.finish(result)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.guard()?;
        let items = match self.value() {
            Some(Value::List(items)) => self.list_items(items),
            _ => {
                self.reject("a list `[...]`");
                Vec::new()
            }
        };
        let result = visitor.visit_seq(SeqAccessor::new(items));
        self.finish(result)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        self.guard()?;
        let items = self.tuple_items(None, len);
        let result = visitor.visit_seq(SeqAccessor::new(items));
        self.finish(result)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.guard()?;
        let items = self.tuple_items(Some(name), len);
        let result = visitor.visit_seq(SeqAccessor::new(items));
        self.finish(result)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.guard()?;
        let access = match self.value() {
            Some(Value::Map(pairs)) => self.map_access(pairs),
            _ => {
                self.reject("a map `{...}`");
                self.map_access(&[])
            }
        };
        let result = visitor.visit_map(access);
        self.finish(result)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.guard()?;
        let written: Option<&'a [Field]> = match self.value() {
            Some(Value::Struct {
                name: written,
                fields,
            }) => {
                self.check_name(written.as_deref(), name);
                Some(fields)
            }
            Some(Value::Tuple {
                name: written,
                items,
            }) if items.is_empty() => {
                self.check_name(written.as_deref(), name);
                Some(&[])
            }
            Some(Value::Ident(written)) if written == name => Some(&[]),
            Some(Value::Tuple { .. }) => {
                let found = self.src.found();
                self.reject_found(
                    &struct_shape(name, fields),
                    format!("{found} with values but no field names"),
                );
                None
            }
            _ => {
                self.reject(&struct_shape(name, fields));
                None
            }
        };
        let access = self.struct_access(written, fields);
        self.visit_struct(access, visitor)
    }

    /// An unknown variant is reported once and read as the first variant with silent content.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.guard()?;
        let Some(&first) = variants.first() else {
            return Err(Error::new("an enum with variants").or_at(&self.path, self.src));
        };
        let expected = one_of(variants);
        let (written, content) = match self.value() {
            Some(Value::Ident(name)) => (Some(name.as_str()), Content::Unit),
            Some(Value::Tuple {
                name: Some(name),
                items,
            }) => (Some(name.as_str()), Content::Items(items)),
            Some(Value::Struct {
                name: Some(name),
                fields,
            }) => (Some(name.as_str()), Content::Fields(fields)),
            Some(Value::Option(None)) => (Some("None"), Content::Unit),
            Some(Value::Option(Some(inner))) => {
                (Some("Some"), Content::Items(std::slice::from_ref(&**inner)))
            }
            _ => (None, Content::Quiet),
        };
        let (variant, content) = match written {
            Some(name) => match variants.iter().find(|v| **v == name) {
                Some(&variant) => (variant, content),
                None => {
                    self.reject_found(&expected, format!("`{name}`"));
                    (first, Content::Quiet)
                }
            },
            None => {
                self.reject(&expected);
                (first, Content::Quiet)
            }
        };
        let result = visitor.visit_enum(EnumAccessor {
            de: &self,
            variant,
            content,
        });
        self.finish(result)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let name = match self.value() {
            Some(Value::Ident(s) | Value::Str(s)) => s.as_str(),
            _ => {
                self.reject("a name");
                ""
            }
        };
        let result = visitor.visit_str(name);
        self.finish(result)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = visitor.visit_unit();
        self.finish(result)
    }
}

// ----------------------------------------------------------------------------------------------
// Access

struct SeqAccessor<'a> {
    items: std::vec::IntoIter<De<'a>>,
}

impl<'a> SeqAccessor<'a> {
    fn new(items: Vec<De<'a>>) -> Self {
        SeqAccessor {
            items: items.into_iter(),
        }
    }
}

impl<'de> SeqAccess<'de> for SeqAccessor<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.items.next().map(|de| de.run(seed)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// Fields of a struct, keyed by name.
struct StructAccess<'a> {
    entries: std::vec::IntoIter<(&'a str, De<'a>)>,
    value: Option<De<'a>>,
    /// Some declared field was left out on purpose (see [`Forced::omitted`]).
    omitted: bool,
}

impl<'de> MapAccess<'de> for StructAccess<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((name, de)) = self.entries.next() else {
            return Ok(None);
        };
        let (path, src) = (de.path.clone(), de.src);
        self.value = Some(de);
        seed.deserialize(StrDeserializer::<Error>::new(name))
            .map(Some)
            .map_err(|e| e.or_at(&path, src))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(de) => de.run(seed),
            None => Err(Error::new("a field name before its value")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// Entries of a `{...}` map: deserialisers for the key and for the value.
struct MapAccessor<'a> {
    entries: std::vec::IntoIter<(De<'a>, De<'a>)>,
    value: Option<De<'a>>,
}

impl<'de> MapAccess<'de> for MapAccessor<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        key.run(seed).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(de) => de.run(seed),
            None => Err(Error::new("a map key before its value")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// What followed a variant's name.
#[derive(Clone, Copy)]
enum Content<'a> {
    /// Nothing: `Pressure`.
    Unit,
    /// `Hold(30.0)`, `Pair(1, 2)`, `Empty()`.
    Items(&'a [Node]),
    /// `Ramp(from: 1.0, to: 2.0)`.
    Fields(&'a [Field]),
    /// A silent placeholder: the variant was unknown, the value was not an enum, or absent.
    Quiet,
}

struct EnumAccessor<'p, 'a> {
    de: &'p De<'a>,
    variant: &'static str,
    content: Content<'a>,
}

impl<'de, 'p, 'a> EnumAccess<'de> for EnumAccessor<'p, 'a> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let variant = seed.deserialize(StrDeserializer::<Error>::new(self.variant))?;
        Ok((variant, self))
    }
}

impl<'de> VariantAccess<'de> for EnumAccessor<'_, '_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.content {
            Content::Unit | Content::Quiet | Content::Items([]) => {}
            Content::Items(_) | Content::Fields(_) => self.de.reject_found(
                &format!("`{}` on its own (it takes no values)", self.variant),
                describe_content(self.variant, self.content),
            ),
        }
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.content {
            Content::Items([only]) => self
                .de
                .child(Src::Node(only), self.de.path.clone())
                .run(seed),
            Content::Quiet => self.de.quiet().run(seed),
            Content::Unit | Content::Items(_) | Content::Fields(_) => {
                self.de.reject_found(
                    &format!("`{}(...)` with 1 value", self.variant),
                    describe_content(self.variant, self.content),
                );
                self.de.quiet().run(seed)
            }
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let items = match self.content {
            Content::Items(items) if items.len() == len => self.de.paren_items(items),
            Content::Quiet => self.de.quiet_items(len),
            Content::Unit | Content::Items(_) | Content::Fields(_) => {
                self.de.reject_found(
                    &format!("`{}(...)` with {}", self.variant, values(len)),
                    describe_content(self.variant, self.content),
                );
                self.de.quiet_items(len)
            }
        };
        visitor.visit_seq(SeqAccessor::new(items))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let access = match self.content {
            Content::Fields(written) => self.de.struct_access(Some(written), fields),
            Content::Items([]) => self.de.struct_access(Some(&[]), fields),
            Content::Quiet => self.de.struct_access(None, fields),
            Content::Unit | Content::Items(_) => {
                self.de.reject_found(
                    &struct_shape(self.variant, fields),
                    describe_content(self.variant, self.content),
                );
                self.de.struct_access(None, fields)
            }
        };
        self.de.visit_struct(access, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::super::ron_doc::{Diagnostic, Span, parse};
    use super::from_node;
    use serde::{Deserialize, Deserializer};
    use std::collections::BTreeMap;

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    struct Protocol {
        name: String,
        tick_hz: Option<f64>,
        retries: u8,
        sensors: Vec<Sensor>,
        targets: BTreeMap<String, Target>,
        rules: Vec<Condition>,
    }

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    struct Sensor {
        id: String,
        kind: Kind,
        range: Range,
        stuck_after_s: Option<f64>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
    enum Kind {
        Pressure,
        Flow,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
    struct Range {
        min: f64,
        max: f64,
    }

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    struct Target {
        setpoint: Option<Setpoint>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
    enum Setpoint {
        Hold(f64),
        Ramp { from: f64, to: f64, over_s: f64 },
    }

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    enum Condition {
        Above { signal: String, limit: f64 },
        All(Vec<Condition>),
    }

    fn load<T: serde::de::DeserializeOwned>(src: &str) -> (Option<T>, Vec<Diagnostic>) {
        let node = parse(src).unwrap_or_else(|d| panic!("test input does not parse: {d}"));
        from_node(&node)
    }

    fn diag(line: u32, col: u32, path: &str, expected: &str, found: &str) -> Diagnostic {
        Diagnostic {
            span: Span { line, col },
            path: path.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    const MISSING: &str = "nothing (the field is missing)";

    const VALID: &str = r#"
// A protocol with every kind of value.
Protocol(
    name: "Kidney \"HMP\"\tv1",   /* escapes */
    tick_hz: Some(100),
    retries: 3,
    sensors: [
        (id: "p_art", kind: Pressure, range: Range(min: -10, max: 1.2e2), stuck_after_s: 30.0,),
        (id: "flow", kind: Flow, range: (min: 0, max: 500)),
    ],
    targets: {
        "p_art": (setpoint: Some(Ramp(from: 20, to: 40.5, over_s: 60))),
        "flow": (setpoint: Hold(100)),
        "temp": (setpoint: None),
        "bubble": (),
    },
    rules: [
        All([Above(signal: "p_art", limit: 90), All([],),],),
        Above(signal: "flow", limit: 1e3),
    ],
)
"#;

    #[test]
    fn valid_file_round_trips() {
        let (value, diags) = load::<Protocol>(VALID);
        assert_eq!(diags, vec![]);
        let expected = Protocol {
            name: "Kidney \"HMP\"\tv1".into(),
            tick_hz: Some(100.0),
            retries: 3,
            sensors: vec![
                Sensor {
                    id: "p_art".into(),
                    kind: Kind::Pressure,
                    range: Range {
                        min: -10.0,
                        max: 120.0,
                    },
                    stuck_after_s: Some(30.0),
                },
                Sensor {
                    id: "flow".into(),
                    kind: Kind::Flow,
                    range: Range {
                        min: 0.0,
                        max: 500.0,
                    },
                    stuck_after_s: None,
                },
            ],
            targets: BTreeMap::from([
                (
                    "p_art".into(),
                    Target {
                        setpoint: Some(Setpoint::Ramp {
                            from: 20.0,
                            to: 40.5,
                            over_s: 60.0,
                        }),
                    },
                ),
                (
                    "flow".into(),
                    Target {
                        setpoint: Some(Setpoint::Hold(100.0)),
                    },
                ),
                ("temp".into(), Target { setpoint: None }),
                ("bubble".into(), Target { setpoint: None }),
            ]),
            rules: vec![
                Condition::All(vec![
                    Condition::Above {
                        signal: "p_art".into(),
                        limit: 90.0,
                    },
                    Condition::All(vec![]),
                ]),
                Condition::Above {
                    signal: "flow".into(),
                    limit: 1000.0,
                },
            ],
        };
        assert_eq!(value, Some(expected));
    }

    /// Several problems at once; every one is reported with its place, in file order.
    const BROKEN: &str = r#"Protocol(
    name: "Kidney HMP",
    tick_hz: NaN,
    retries: 300,
    sensors: [
        (
            id: "p_art",
            kind: Presure,
            range: (min: 0, max: "high"),
            colour: "red",
        ),
        (
            id: flow,
            kind: Flow,
            range: (min: 0.0),
        ),
    ],
    targets: {
        "p_art": (setpoint: Some(Hold(40.0))),
        "p_art": (setpoint: Some(Ramp(from: 10, to: 40, over_s: 2.5))),
        "flow": (setpoint: Hold(inf)),
    },
    rules: [
        All([Above(signal: "p_art", limit: 90), Above(signal: 5, limit: 1.5)]),
        Below(signal: "x", limit: 1),
    ],
)"#;

    #[test]
    fn reports_every_problem_of_a_file() {
        let (value, diags) = load::<Protocol>(BROKEN);
        assert!(value.is_some(), "derived types always get a value");
        let expected = vec![
            diag(3, 14, "tick_hz", "a finite number", "NaN"),
            diag(
                4,
                14,
                "retries",
                "an integer from 0 to 255",
                "the number 300",
            ),
            diag(
                8,
                19,
                "sensors[0].kind",
                "one of `Pressure`, `Flow`",
                "`Presure`",
            ),
            diag(
                9,
                34,
                "sensors[0].range.max",
                "a finite number",
                "a string \"high\"",
            ),
            diag(
                10,
                13,
                "sensors[0].colour",
                "one of the fields `id`, `kind`, `range`, `stuck_after_s`",
                "an unknown field `colour`",
            ),
            diag(
                13,
                17,
                "sensors[1].id",
                "a string",
                "`flow` without quotes (text goes in double quotes)",
            ),
            diag(
                15,
                20,
                "sensors[1].range.max",
                "the field `max` (a finite number)",
                MISSING,
            ),
            diag(
                20,
                9,
                "targets[\"p_art\"]",
                "each key only once",
                "the key \"p_art\" a second time (first at 19:9)",
            ),
            diag(
                21,
                33,
                "targets[\"flow\"].setpoint",
                "a finite number",
                "inf",
            ),
            diag(24, 63, "rules[0][1].signal", "a string", "the number 5"),
            diag(25, 9, "rules[1]", "one of `Above`, `All`", "`Below`"),
        ];
        assert_eq!(diags, expected);
    }

    #[test]
    fn placeholders_keep_the_structure() {
        let (value, _) = load::<Protocol>(BROKEN);
        let value = value.expect("a value");
        assert_eq!(value.tick_hz, Some(0.0));
        assert_eq!(value.retries, 0);
        assert_eq!(value.sensors[0].kind, Kind::Pressure);
        assert_eq!(value.sensors[0].range.max, 0.0);
        assert_eq!(value.sensors[1].range.max, 0.0);
        // The duplicate key is skipped: the first entry stays.
        assert_eq!(value.targets["p_art"].setpoint, Some(Setpoint::Hold(40.0)));
        // The unknown variant becomes the first variant, with silent placeholders.
        assert_eq!(
            value.rules[1],
            Condition::Above {
                signal: String::new(),
                limit: 0.0
            }
        );
    }

    #[test]
    fn a_missing_struct_is_reported_once() {
        let src = "Protocol(name: \"x\", retries: 1, sensors: [(id: \"a\", kind: Flow)],\n\
                   targets: {}, rules: [])";
        let (_, diags) = load::<Protocol>(src);
        assert_eq!(
            diags,
            vec![diag(
                1,
                43,
                "sensors[0].range",
                "the field `range` (`Range(min: ..., max: ...)`)",
                MISSING
            )]
        );
    }

    #[test]
    fn missing_fields_at_the_root_and_absent_options() {
        let (value, diags) = load::<Protocol>("(name: \"x\")");
        let span = (1, 1);
        let at = |path: &str, expected: &str| diag(span.0, span.1, path, expected, MISSING);
        assert_eq!(
            diags,
            vec![
                at("retries", "the field `retries` (an integer)"),
                at("sensors", "the field `sensors` (a list `[...]`)"),
                at("targets", "the field `targets` (a map `{...}`)"),
                at("rules", "the field `rules` (a list `[...]`)"),
            ]
        );
        assert_eq!(value.map(|p| p.tick_hz), Some(None));
    }

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    struct Defaulted {
        id: String,
        #[serde(default)]
        count: u32,
        #[serde(default = "three")]
        limit: f64,
        #[serde(default)]
        tags: Vec<String>,
        range: Range,
    }

    fn three() -> f64 {
        3.0
    }

    #[test]
    fn serde_defaults_are_honoured_and_every_missing_field_still_reported() {
        let (value, diags) = load::<Vec<Defaulted>>(
            r#"[
    (id: "a", range: (min: 0, max: 1)),
    (id: "b", count: 2, limit: 4.5, tags: ["x"], range: (min: 0, max: 1)),
    (count: 1),
    (id: "d", limit: "high", range: (min: 0)),
]"#,
        );
        assert_eq!(
            diags,
            vec![
                diag(4, 5, "[2].id", "the field `id` (a string)", MISSING),
                diag(
                    4,
                    5,
                    "[2].range",
                    "the field `range` (`Range(min: ..., max: ...)`)",
                    MISSING
                ),
                diag(5, 22, "[3].limit", "a finite number", "a string \"high\""),
                diag(
                    5,
                    37,
                    "[3].range.max",
                    "the field `max` (a finite number)",
                    MISSING
                ),
            ]
        );
        let defaults = value.expect("a value with placeholders")[0].clone();
        assert_eq!((defaults.count, defaults.limit), (0, 3.0));
        let (complete, diags) = load::<Vec<Defaulted>>(
            r#"[(id: "a", range: (min: 0, max: 1)), (id: "b", count: 2, limit: 4.5, tags: ["x"], range: (min: 0, max: 1))]"#,
        );
        assert_eq!(diags, vec![]);
        let range = Range { min: 0.0, max: 1.0 };
        assert_eq!(
            complete.expect("a value"),
            vec![
                Defaulted {
                    id: "a".into(),
                    count: 0,
                    limit: 3.0,
                    tags: vec![],
                    range,
                },
                Defaulted {
                    id: "b".into(),
                    count: 2,
                    limit: 4.5,
                    tags: vec!["x".into()],
                    range,
                },
            ]
        );
    }

    #[test]
    fn struct_names_shapes_and_duplicates() {
        let src = r#"[
    Rnge(min: 1, max: 2),
    Range(min: 1, min: 2, max: 3),
    [1, 2],
    Range,
    Range(1, 2),
]"#;
        let (value, diags) = load::<Vec<Range>>(src);
        assert_eq!(
            diags,
            vec![
                diag(
                    2,
                    5,
                    "[0]",
                    "`Range(...)` or an unnamed `(...)`",
                    "`Rnge(...)`"
                ),
                diag(
                    3,
                    19,
                    "[1].min",
                    "each field only once",
                    "`min` a second time (first at 3:11)"
                ),
                diag(4, 5, "[2]", "`Range(min: ..., max: ...)`", "a list `[...]`"),
                diag(
                    5,
                    5,
                    "[3].min",
                    "the field `min` (a finite number)",
                    MISSING
                ),
                diag(
                    5,
                    5,
                    "[3].max",
                    "the field `max` (a finite number)",
                    MISSING
                ),
                diag(
                    6,
                    5,
                    "[4]",
                    "`Range(min: ..., max: ...)`",
                    "`Range(...)` with values but no field names"
                ),
            ]
        );
        let value = value.expect("a value");
        assert_eq!(value[0], Range { min: 1.0, max: 2.0 });
        assert_eq!(value[1], Range { min: 1.0, max: 3.0 });
    }

    #[test]
    fn variant_shapes() {
        let src = r#"[
    Hold,
    Hold(1, 2),
    Ramp(1.0),
    Ramp(from: 1, to: 2),
    Hold(over_s: 1),
    "Hold",
]"#;
        let (_, diags) = load::<Vec<Setpoint>>(src);
        assert_eq!(
            diags,
            vec![
                diag(2, 5, "[0]", "`Hold(...)` with 1 value", "`Hold` alone"),
                diag(
                    3,
                    5,
                    "[1]",
                    "`Hold(...)` with 1 value",
                    "`Hold(...)` with 2 values"
                ),
                diag(
                    4,
                    5,
                    "[2]",
                    "`Ramp(from: ..., to: ..., over_s: ...)`",
                    "`Ramp(...)` with 1 value"
                ),
                diag(
                    5,
                    5,
                    "[3].over_s",
                    "the field `over_s` (a finite number)",
                    MISSING
                ),
                diag(
                    6,
                    5,
                    "[4]",
                    "`Hold(...)` with 1 value",
                    "`Hold(...)` with named fields"
                ),
                diag(7, 5, "[5]", "one of `Hold`, `Ramp`", "a string \"Hold\""),
            ]
        );
        let (value, diags) = load::<Vec<Kind>>("[Flow, Pressure(), Pressure(1), 3]");
        assert_eq!(
            diags,
            vec![
                diag(
                    1,
                    20,
                    "[2]",
                    "`Pressure` on its own (it takes no values)",
                    "`Pressure(...)` with 1 value"
                ),
                diag(1, 33, "[3]", "one of `Pressure`, `Flow`", "the number 3"),
            ]
        );
        assert_eq!(
            value,
            Some(vec![
                Kind::Flow,
                Kind::Pressure,
                Kind::Pressure,
                Kind::Pressure
            ])
        );
    }

    #[test]
    fn numbers_integers_and_floats() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Nums {
            a: u32,
            b: u32,
            c: i8,
            d: f64,
            e: f32,
            f: u64,
            g: f64,
            h: i128,
            i: u128,
        }
        let src = "(a: 2.5, b: 30.0, c: -129, d: 7, e: 1e39, f: -1, g: -inf, \
                   h: -170141183460469231731687303715884105728, i: 5)";
        let (value, diags) = load::<Nums>(src);
        let found: Vec<(&str, &str, &str)> = diags
            .iter()
            .map(|d| (d.path.as_str(), d.expected.as_str(), d.found.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("a", "an integer (no fractional part)", "the number 2.5"),
                ("c", "an integer from -128 to 127", "the number -129"),
                (
                    "e",
                    "a finite number (within the range of a 32-bit float)",
                    "the number 1e39"
                ),
                (
                    "f",
                    "an integer from 0 to 18446744073709551615",
                    "the number -1"
                ),
                ("g", "a finite number", "-inf"),
            ]
        );
        let value = value.expect("a value");
        assert_eq!(value.b, 30);
        assert_eq!(value.d, 7.0);
        assert_eq!(value.h, i128::MIN);
        assert_eq!(value.i, 5);
    }

    #[test]
    fn maps_with_other_key_types() {
        let src = "{1: \"one\", 2: \"two\", \"three\": \"3\", 1: \"uno\"}";
        let (value, diags) = load::<BTreeMap<u8, String>>(src);
        assert_eq!(
            diags,
            vec![
                diag(1, 22, "[\"three\"]", "an integer", "a string \"three\""),
                diag(
                    1,
                    36,
                    "[1]",
                    "each key only once",
                    "the key 1 a second time (first at 1:2)"
                ),
            ]
        );
        let value = value.expect("a value");
        assert_eq!(value.get(&1).map(String::as_str), Some("one"));
        assert_eq!(value.len(), 3, "the bad key became the placeholder 0");
    }

    #[test]
    fn tuples_options_and_unit() {
        #[derive(Debug, PartialEq, Deserialize)]
        struct Meters(f64);
        #[derive(Debug, PartialEq, Deserialize)]
        struct Marker;
        #[derive(Debug, PartialEq, Deserialize)]
        struct Misc {
            pair: (u8, String),
            single: (f64,),
            wrapped: Meters,
            bare: Meters,
            nested: Option<Option<u8>>,
            marker: Marker,
            unit: (),
            flag: bool,
            letter: char,
        }
        let src = r#"(pair: (1, "a"), single: (2.5), wrapped: Meters(3), bare: 4,
            nested: Some(Some(5)), marker: Marker, unit: (), flag: true, letter: "x")"#;
        let (value, diags) = load::<Misc>(src);
        assert_eq!(diags, vec![]);
        assert_eq!(
            value,
            Some(Misc {
                pair: (1, "a".into()),
                single: (2.5,),
                wrapped: Meters(3.0),
                bare: Meters(4.0),
                nested: Some(Some(5)),
                marker: Marker,
                unit: (),
                flag: true,
                letter: 'x',
            })
        );

        let src = r#"(pair: (1, "a", 3), single: "s", wrapped: Metres(3), bare: NaN,
            nested: None, marker: Other, unit: 1, flag: "yes", letter: "xy")"#;
        let (_, diags) = load::<Misc>(src);
        let found: Vec<(&str, &str, &str)> = diags
            .iter()
            .map(|d| (d.path.as_str(), d.expected.as_str(), d.found.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("pair", "a tuple of 2 values `(...)`", "a tuple of 3 values"),
                ("single", "a tuple of 1 value `(...)`", "a string \"s\""),
                ("wrapped", "a finite number", "`Metres(...)`"),
                ("bare", "a finite number", "NaN"),
                ("marker", "`Marker`", "`Other`"),
                ("unit", "`()`", "the number 1"),
                ("flag", "`true` or `false`", "a string \"yes\""),
                (
                    "letter",
                    "a single character in double quotes",
                    "a string \"xy\""
                ),
            ]
        );
    }

    #[test]
    fn deeply_nested_valid_input_deserialises() {
        // 60 levels of `All([...])`: 120 brackets, just under the parser's limit.
        let depth = 60;
        let src = format!(
            "{}Above(signal: \"x\", limit: NaN){}",
            "All([".repeat(depth),
            "])".repeat(depth)
        );
        let (value, diags) = load::<Condition>(&src);
        let path = format!("{}.limit", "[0]".repeat(depth));
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].path, path);
        assert_eq!(diags[0].span.col as usize, 5 * depth + 27);
        let mut condition = value.expect("a value");
        for _ in 0..depth {
            condition = match condition {
                Condition::All(mut inner) => inner.remove(0),
                other => panic!("expected All, got {other:?}"),
            };
        }
        assert!(matches!(condition, Condition::Above { .. }));
    }

    #[test]
    fn the_deepest_input_the_parser_allows_deserialises() {
        #[derive(Debug, Deserialize)]
        struct Nest(Vec<Nest>);
        let depth = super::super::ron_doc::MAX_DEPTH;
        let src = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let (value, diags) = load::<Nest>(&src);
        assert_eq!(diags, vec![]);
        let mut levels = 0;
        let mut nest = value.expect("a value");
        while let Some(inner) = nest.0.pop() {
            nest = inner;
            levels += 1;
        }
        assert_eq!(levels, depth - 1);
    }

    /// A hand-written deserialiser that rejects what it reads: `90s` style durations.
    fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let text = String::deserialize(d)?;
        text.strip_suffix('s')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not like `90s`")))
    }

    #[derive(Debug, Deserialize)]
    struct Phase {
        id: String,
        #[serde(deserialize_with = "seconds")]
        hold: f64,
    }

    #[derive(Debug, Deserialize)]
    struct Plan {
        phases: Vec<Phase>,
        tick: f64,
    }

    #[test]
    fn errors_from_hand_written_code_are_reported_and_the_rest_still_checked() {
        let src = r#"(
    phases: [
        (id: "a", hold: "5x"),
        (id: "b", hold: "10s", extra: 1),
        (id: "c"),
    ],
    tick: NaN,
)"#;
        let (value, diags) = load::<Plan>(src);
        assert_eq!(
            diags,
            vec![
                diag(
                    3,
                    25,
                    "phases[0].hold",
                    "a valid value (`5x` is not like `90s`)",
                    "a string \"5x\""
                ),
                diag(
                    4,
                    32,
                    "phases[1].extra",
                    "one of the fields `id`, `hold`",
                    "an unknown field `extra`"
                ),
                diag(
                    5,
                    9,
                    "phases[2].hold",
                    "the field `hold` (a string)",
                    MISSING
                ),
                diag(7, 11, "tick", "a finite number", "NaN"),
            ]
        );
        // The phases that could not be read at all are left out of the (untrusted) value.
        let value = value.expect("a value");
        let ids: Vec<&str> = value.phases.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, vec!["b"]);
        assert_eq!(value.phases[0].hold, 10.0);
        assert_eq!(value.tick, 0.0);
    }

    #[test]
    fn no_value_when_even_the_root_cannot_be_read() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Only {
            #[serde(deserialize_with = "seconds")]
            hold: f64,
            rate: f64,
        }
        let (value, diags) = load::<Only>("(hold: \"soon\", rate: inf)");
        assert!(value.is_none());
        assert_eq!(
            diags,
            vec![
                diag(
                    1,
                    8,
                    "hold",
                    "a valid value (`soon` is not like `90s`)",
                    "a string \"soon\""
                ),
                diag(1, 22, "rate", "a finite number", "inf"),
            ]
        );
    }

    #[test]
    fn recursive_placeholders_stop() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        enum Chain {
            Link(Box<Chain>),
            End,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Holder {
            chain: Chain,
            x: f64,
        }
        let (value, diags) = load::<Holder>("(x: NaN)");
        assert!(value.is_none());
        assert_eq!(
            diags,
            vec![
                diag(
                    1,
                    1,
                    "chain",
                    "the field `chain` (one of `Link`, `End`)",
                    MISSING
                ),
                diag(1, 5, "x", "a finite number", "NaN"),
            ]
        );
    }

    #[test]
    fn span_at_finds_what_the_deserialiser_reports() {
        let node = parse(BROKEN).expect("parses");
        let (_, diags) = from_node::<Protocol>(&node);
        let span_at = |path: &str| node.span_at(path).map(|s| (s.line, s.col));
        for d in &diags {
            let reported = Some((d.span.line, d.span.col));
            match d.path.as_str() {
                // Absent from the file.
                "sensors[1].range.max" => assert_eq!(span_at(&d.path), None),
                // The unknown field is reported at its name; its path names its value.
                "sensors[0].colour" => assert_eq!(span_at(&d.path), Some((10, 21))),
                // The duplicate key's path names the first entry's value.
                "targets[\"p_art\"]" => assert_eq!(span_at(&d.path), Some((19, 18))),
                // The path names the whole `Hold(inf)`, the diagnostic the `inf` inside.
                "targets[\"flow\"].setpoint" => assert_eq!(span_at(&d.path), Some((21, 28))),
                _ => assert_eq!(span_at(&d.path), reported, "{d}"),
            }
        }
        assert_eq!(diags.len(), 11);
    }

    #[test]
    fn garbage_never_panics() {
        const PIECES: &[&str] = &[
            "(",
            ")",
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            "\"",
            "\\",
            "/*",
            "*/",
            "//",
            "\n",
            "NaN",
            "-",
            "+",
            "1e",
            ".",
            "0.5",
            "Some(",
            "None",
            "x",
            "é",
            "_",
            "\u{feff}",
            "inf",
            "#",
            "Hold(",
            "Ramp(from:",
            "\\u{",
            "9999999999999999999999999999999999999999",
        ];
        let bases = [VALID, BROKEN];
        let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n.max(1) as u64) as usize
        };
        for round in 0..3000 {
            let mut chars: Vec<char> = bases[round % bases.len()].chars().collect();
            for _ in 0..1 + next(4) {
                let at = next(chars.len() + 1);
                match next(3) {
                    0 => {
                        let end = (at + next(8)).min(chars.len());
                        chars.drain(at..end);
                    }
                    1 => {
                        let piece = PIECES[next(PIECES.len())];
                        chars.splice(at..at, piece.chars());
                    }
                    _ => {
                        let end = (at + next(30)).min(chars.len());
                        let copy: Vec<char> = chars[at..end].to_vec();
                        chars.splice(at..at, copy);
                    }
                }
            }
            let text: String = chars.into_iter().collect();
            let lines = text.lines().count() as u32 + 1;
            match parse(&text) {
                Err(d) => assert!(d.span.line <= lines && d.span.line >= 1, "{d}"),
                Ok(node) => {
                    let (value, diags) = from_node::<Protocol>(&node);
                    assert!(value.is_some() || !diags.is_empty());
                    for d in &diags {
                        assert!(d.span.line <= lines, "{d}");
                    }
                    let _ = from_node::<Vec<Condition>>(&node);
                    let _ = from_node::<BTreeMap<String, Setpoint>>(&node);
                }
            }
        }
    }
}
