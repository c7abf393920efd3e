//! *Topic selectors*: what a Mercure subscription asks for and what a token's `mercure.publish`
//! and `mercure.subscribe` claims grant. A selector is `*` (every topic), an RFC 6570 URI
//! template (`https://example.com/books/{id}`), or otherwise a topic compared exactly.
//!
//! A template matches a topic that some values of its variables would expand to (RFC 6570 §3.2):
//! an expression expands to nothing (its variables undefined) or to its operator's first
//! character and one item per defined variable, joined by the operator's separator. An item is
//! a value of unreserved characters and percent-escapes (reserved characters too for `{+var}`
//! and `{#var}`), commas joining a list's members, at most `n` characters for `{var:n}`; the
//! named forms (`{;x}`, `{?x}`, `{&x}`) put the variable's own name and `=` before it; only an
//! exploded variable (`{var*}`) gives several items, or items named by their keys. So `{id}`
//! never spans a `/`, `{/id}` is one path segment and `{/id*}` several, and `{?q}` matches
//! `?q=…` only.
//!
//! The template is compiled to an automaton (Thompson's construction) and matched by walking
//! the topic once with the set of states the automaton may be in: time is the topic's length
//! times the automaton's size, whatever either holds, and the automaton's size is bounded
//! ([`MAX_STATES`]), so a subscriber's or a token's selectors cannot make a process spin. No
//! crate matches templates (those that exist expand them, or match level 2 only through a
//! regular expression compiled per template), hence this module.

use std::fmt;

/// The most bytes a topic or a selector may have.
pub const MAX_TOPIC_BYTES: usize = 2048;

/// The most states a template's automaton may have; a template that needs more is refused.
pub const MAX_STATES: usize = 8192;

/// One selector, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// `*`: every topic.
    All,
    /// A topic, compared byte for byte.
    Exact(String),
    /// A URI template.
    Template(Template),
}

/// Why a selector was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectorError {
    /// Empty, or longer than [`MAX_TOPIC_BYTES`].
    Size,
    /// A template whose braces or expressions are malformed.
    Template(&'static str),
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectorError::Size => {
                write!(f, "topics and selectors are 1 to {MAX_TOPIC_BYTES} bytes")
            }
            SelectorError::Template(why) => write!(f, "the URI template is malformed: {why}"),
        }
    }
}

impl std::error::Error for SelectorError {}

impl Selector {
    /// Parses a selector: `*`, a template when it holds a brace, else an exact topic.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        if text.is_empty() || text.len() > MAX_TOPIC_BYTES {
            return Err(SelectorError::Size);
        }
        if text == "*" {
            return Ok(Selector::All);
        }
        if text.contains(['{', '}']) {
            return Template::parse(text).map(Selector::Template);
        }
        Ok(Selector::Exact(text.to_owned()))
    }

    /// The selector as the request wrote it.
    pub fn text(&self) -> &str {
        match self {
            Selector::All => "*",
            Selector::Exact(topic) => topic,
            Selector::Template(template) => &template.text,
        }
    }

    /// True when the selector matches `topic`.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Selector::All => true,
            Selector::Exact(exact) => exact == topic,
            // A topic may hold braces itself: a template matches its own text too.
            Selector::Template(template) => template.matches(topic) || template.text == topic,
        }
    }
}

/// True when any of `selectors` matches any of `topics`.
pub fn any_matches(selectors: &[Selector], topics: &[String]) -> bool {
    selectors
        .iter()
        .any(|s| topics.iter().any(|t| s.matches(t)))
}

/// A set of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bytes([u64; 4]);

impl Bytes {
    const NONE: Bytes = Bytes([0; 4]);

    fn of(bytes: &[u8]) -> Bytes {
        bytes.iter().fold(Bytes::NONE, |set, &b| set.with(b))
    }

    fn with(mut self, b: u8) -> Bytes {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
        self
    }

    fn union(self, other: Bytes) -> Bytes {
        let mut out = self;
        for (o, x) in out.0.iter_mut().zip(other.0) {
            *o |= x;
        }
        out
    }

    fn without(self, b: u8) -> Bytes {
        let mut out = self;
        out.0[usize::from(b >> 6)] &= !(1 << (b & 63));
        out
    }

    fn has(self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }
}

/// RFC 3986's unreserved characters, and `%` for percent-escapes.
fn unreserved() -> Bytes {
    let mut set = Bytes::of(b"-._~%");
    for b in (b'a'..=b'z').chain(b'A'..=b'Z').chain(b'0'..=b'9') {
        set = set.with(b);
    }
    set
}

/// Unreserved and reserved characters, and every byte of a character beyond ASCII (an IRI's).
fn reserved() -> Bytes {
    let mut set = unreserved().union(Bytes::of(b":/?#[]@!$&'()*+,;="));
    for b in 0x80..=0xff {
        set = set.with(b);
    }
    set
}

/// A state of a template's automaton.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Takes one byte of the set and moves to the next state.
    Byte(Bytes, usize),
    /// Moves to both without taking a byte.
    Split(usize, usize),
    /// The whole topic is matched if it ends here.
    End,
}

/// A parsed URI template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    text: String,
    states: Vec<State>,
    start: usize,
}

/// One variable of an expression: its name, whether it is exploded, its prefix length.
#[derive(Clone, Debug)]
struct Var {
    name: Vec<u8>,
    explode: bool,
    prefix: Option<usize>,
}

/// An expression's operator, as RFC 6570's table of expansions gives it.
#[derive(Clone, Copy, Debug)]
struct Operator {
    first: Option<u8>,
    separator: u8,
    named: bool,
    /// What a named variable with an empty value expands to: `;x` (true) or `?x=` (false).
    bare_when_empty: bool,
    values: fn() -> Bytes,
}

impl Operator {
    fn of(op: Option<u8>) -> Operator {
        let plain = |first, separator, values: fn() -> Bytes| Operator {
            first,
            separator,
            named: false,
            bare_when_empty: false,
            values,
        };
        let named = |first, separator, bare| Operator {
            first: Some(first),
            separator,
            named: true,
            bare_when_empty: bare,
            values: unreserved,
        };
        match op {
            Some(b'+') => plain(None, b',', reserved),
            Some(b'#') => plain(Some(b'#'), b',', reserved),
            Some(b'.') => plain(Some(b'.'), b'.', unreserved),
            Some(b'/') => plain(Some(b'/'), b'/', unreserved),
            Some(b';') => named(b';', b';', true),
            Some(b'?') => named(b'?', b'&', false),
            Some(b'&') => named(b'&', b'&', false),
            _ => plain(None, b',', unreserved),
        }
    }
}

/// Builds an automaton backwards: each `fn` takes the state that follows what it adds and
/// returns the state that starts it.
struct Builder {
    states: Vec<State>,
}

impl Builder {
    fn push(&mut self, state: State) -> Result<usize, SelectorError> {
        if self.states.len() >= MAX_STATES {
            return Err(SelectorError::Template(
                "the template is too large to match",
            ));
        }
        self.states.push(state);
        Ok(self.states.len() - 1)
    }

    fn bytes(&mut self, text: &[u8], next: usize) -> Result<usize, SelectorError> {
        text.iter().rev().try_fold(next, |next, &b| {
            self.push(State::Byte(Bytes::of(&[b]), next))
        })
    }

    /// Any number of bytes of `set`.
    fn run(&mut self, set: Bytes, next: usize) -> Result<usize, SelectorError> {
        // The loop's split is made first and pointed at the byte once that exists.
        let split = self.push(State::Split(next, next))?;
        let byte = self.push(State::Byte(set, split))?;
        self.states[split] = State::Split(byte, next);
        Ok(split)
    }

    /// At most `n` characters of `set` (a prefix modifier): a character is one byte of the
    /// set, or a percent-escape.
    fn at_most(&mut self, set: Bytes, n: usize, next: usize) -> Result<usize, SelectorError> {
        let plain = set.without(b'%');
        let hex = Bytes::of(b"0123456789abcdefABCDEF");
        (0..n).try_fold(next, |after, _| {
            let byte = self.push(State::Byte(plain, after))?;
            let low = self.push(State::Byte(hex, after))?;
            let high = self.push(State::Byte(hex, low))?;
            let escape = self.push(State::Byte(Bytes::of(b"%"), high))?;
            let one = self.either(byte, escape)?;
            self.push(State::Split(one, next))
        })
    }

    /// Either of two starts.
    fn either(&mut self, a: usize, b: usize) -> Result<usize, SelectorError> {
        self.push(State::Split(a, b))
    }

    /// One item of `var` under `op`, then `next`.
    fn item(&mut self, op: Operator, var: &Var, next: usize) -> Result<usize, SelectorError> {
        let values = (op.values)();
        // A list's members are joined by commas in one item; only an exploded variable's
        // items may be `key=value` pairs (an associative array's).
        let mut value_set = values.with(b',');
        if var.explode && !op.named {
            value_set = value_set.with(b'=');
        }
        let value = |b: &mut Builder, next| match var.prefix {
            Some(n) if !var.explode => b.at_most(values, n, next),
            _ => b.run(value_set, next),
        };
        if !op.named {
            return value(self, next);
        }
        let with_value = {
            let v = value(self, next)?;
            self.bytes(b"=", v)?
        };
        let after_name = if op.bare_when_empty {
            self.either(with_value, next)?
        } else {
            with_value
        };
        if var.explode {
            // Exploded pairs are named by their keys.
            let key = unreserved().without(b'%');
            let rest = self.run(key, after_name)?;
            let first = self.push(State::Byte(key, rest))?;
            return Ok(first);
        }
        self.bytes(&var.name, after_name)
    }

    /// An expression: nothing, or the operator's first character and its items, each
    /// variable's at most once (several for an exploded one) and in order.
    fn expression(
        &mut self,
        op: Operator,
        vars: &[Var],
        next: usize,
    ) -> Result<usize, SelectorError> {
        // Built from the last variable back; `firsts` holds the starts of the items of the
        // variables built so far (the later ones).
        let mut firsts: Vec<usize> = Vec::with_capacity(vars.len());
        for var in vars.iter().rev() {
            // After this variable's item: more of its items (exploded), a later variable's
            // item after a separator, or the end of the expression.
            let later = self.more(op, &firsts, next)?;
            let after = if var.explode {
                let split = self.push(State::Split(later, later))?;
                let again = self.item(op, var, split)?;
                let sep = self.bytes(&[op.separator], again)?;
                self.states[split] = State::Split(sep, later);
                split
            } else {
                later
            };
            firsts.push(self.item(op, var, after)?);
        }
        // The first item: any variable's, after the operator's first character.
        let any = firsts
            .iter()
            .try_fold(
                None::<usize>,
                |acc, &f| -> Result<Option<usize>, SelectorError> {
                    Ok(Some(match acc {
                        None => f,
                        Some(a) => self.either(a, f)?,
                    }))
                },
            )?
            .unwrap_or(next);
        let opened = match op.first {
            Some(first) => self.bytes(&[first], any)?,
            None => any,
        };
        // Every variable undefined: the expression expands to nothing.
        self.either(opened, next)
    }

    /// After an item: the end, or a separator and the item of a later variable (`later` holds
    /// the starts of the items of the variables after this one).
    fn more(&mut self, op: Operator, later: &[usize], next: usize) -> Result<usize, SelectorError> {
        let mut choice = next;
        for &start in later {
            let sep = self.bytes(&[op.separator], start)?;
            choice = self.either(sep, choice)?;
        }
        Ok(choice)
    }
}

impl Template {
    /// Parses RFC 6570 syntax: literals, and expressions `{op var,var:3,list*}`.
    pub fn parse(text: &str) -> Result<Template, SelectorError> {
        // The pieces in order: literal bytes, or an expression's operator and variables.
        enum Piece {
            Literal(u8),
            Expression(Operator, Vec<Var>),
        }
        let mut pieces = Vec::new();
        let mut rest = text.as_bytes();
        while let Some((&b, tail)) = rest.split_first() {
            match b {
                b'{' => {
                    let end = tail
                        .iter()
                        .position(|&c| c == b'}')
                        .ok_or(SelectorError::Template("a { is not closed"))?;
                    let (op, vars) = expression(&tail[..end])?;
                    pieces.push(Piece::Expression(op, vars));
                    rest = &tail[end + 1..];
                }
                b'}' => return Err(SelectorError::Template("a } has no {")),
                _ => {
                    pieces.push(Piece::Literal(b));
                    rest = tail;
                }
            }
        }
        let mut builder = Builder { states: Vec::new() };
        let mut next = builder.push(State::End)?;
        for piece in pieces.iter().rev() {
            next = match piece {
                Piece::Literal(b) => builder.bytes(&[*b], next)?,
                Piece::Expression(op, vars) => builder.expression(*op, vars, next)?,
            };
        }
        Ok(Template {
            text: text.to_owned(),
            states: builder.states,
            start: next,
        })
    }

    /// True when some expansion of the template is `topic`.
    pub fn matches(&self, topic: &str) -> bool {
        let count = self.states.len();
        let mut current = Vec::with_capacity(count);
        let mut next = Vec::with_capacity(count);
        // A state is added to a set once per step of the walk: `seen[s]` holds the step.
        let mut seen = vec![usize::MAX; count];
        self.add(&mut current, &mut seen, 0, self.start);
        for (step, &b) in topic.as_bytes().iter().enumerate() {
            next.clear();
            for &s in &current {
                if let State::Byte(set, to) = self.states[s]
                    && set.has(b)
                {
                    self.add(&mut next, &mut seen, step + 1, to);
                }
            }
            if next.is_empty() {
                return false;
            }
            std::mem::swap(&mut current, &mut next);
        }
        current.iter().any(|&s| self.states[s] == State::End)
    }

    /// Adds `state` and the states it reaches without a byte to `set`, each once per step.
    fn add(&self, set: &mut Vec<usize>, seen: &mut [usize], step: usize, state: usize) {
        let mut stack = vec![state];
        while let Some(s) = stack.pop() {
            if seen[s] == step {
                continue;
            }
            seen[s] = step;
            match self.states[s] {
                State::Split(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                _ => set.push(s),
            }
        }
    }
}

/// An expression's body (between the braces): its operator and variables.
fn expression(body: &[u8]) -> Result<(Operator, Vec<Var>), SelectorError> {
    let (operator, list) = match body.split_first() {
        Some((&op @ (b'+' | b'#' | b'.' | b'/' | b';' | b'?' | b'&'), list)) => (Some(op), list),
        Some((b'=' | b',' | b'!' | b'@' | b'|', _)) => {
            return Err(SelectorError::Template(
                "an operator reserved for future use",
            ));
        }
        _ => (None, body),
    };
    if list.is_empty() {
        return Err(SelectorError::Template("an expression names no variable"));
    }
    let mut vars = Vec::new();
    for spec in list.split(|&b| b == b',') {
        let (name, explode, prefix) = match spec.iter().position(|&b| b == b':') {
            Some(i) => {
                let length = &spec[i + 1..];
                let valid = (1..=4).contains(&length.len())
                    && length.iter().all(u8::is_ascii_digit)
                    && length[0] != b'0';
                if !valid {
                    return Err(SelectorError::Template("a prefix length is not 1 to 9999"));
                }
                let n = length
                    .iter()
                    .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
                (&spec[..i], false, Some(n))
            }
            None => match spec.strip_suffix(b"*") {
                Some(name) => (name, true, None),
                None => (spec, false, None),
            },
        };
        let valid = !name.is_empty()
            && name.split(|&b| b == b'.').all(|part| !part.is_empty())
            && name
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'%'));
        if !valid {
            return Err(SelectorError::Template("a variable name is malformed"));
        }
        // A prefix as long as any topic bounds nothing.
        let prefix = prefix.filter(|n| *n < MAX_TOPIC_BYTES);
        vars.push(Var {
            name: name.to_vec(),
            explode,
            prefix,
        });
    }
    Ok((Operator::of(operator), vars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(selector: &str, topic: &str) -> bool {
        Selector::parse(selector).unwrap().matches(topic)
    }

    #[test]
    fn exact_and_all() {
        assert!(matches(
            "https://example.com/books/1",
            "https://example.com/books/1"
        ));
        assert!(!matches(
            "https://example.com/books/1",
            "https://example.com/books/10"
        ));
        assert!(matches("*", "anything at all"));
        assert!(matches("urn:a:b", "urn:a:b"));
    }

    #[test]
    fn simple_expressions_stop_at_a_slash() {
        let t = "https://example.com/books/{id}";
        assert!(matches(t, "https://example.com/books/1"));
        assert!(matches(t, "https://example.com/books/caf%C3%A9"));
        assert!(matches(t, "https://example.com/books/"));
        assert!(!matches(t, "https://example.com/books/1/reviews"));
        assert!(!matches(t, "https://example.com/users/1"));
        assert!(!matches(t, "https://example.com/books/a b"));
        assert!(matches(
            "https://example.com/{kind}/{id}/reviews",
            "https://example.com/books/7/reviews"
        ));
        assert!(!matches(
            "https://example.com/{kind}/{id}/reviews",
            "https://example.com/books/7/notes"
        ));
    }

    #[test]
    fn operators() {
        assert!(matches(
            "https://example.com{+path}",
            "https://example.com/a/b?c=d"
        ));
        assert!(matches(
            "https://example.com/x{#frag}",
            "https://example.com/x#part/2"
        ));
        assert!(matches(
            "https://example.com/x{#frag}",
            "https://example.com/x"
        ));
        assert!(matches(
            "https://example.com/a{/seg*}",
            "https://example.com/a/b/c"
        ));
        assert!(matches(
            "https://example.com/s{?q,page}",
            "https://example.com/s?q=x&page=2"
        ));
        assert!(matches(
            "https://example.com/s{?q}",
            "https://example.com/s"
        ));
        assert!(!matches(
            "https://example.com/s{?q}",
            "https://example.com/s/other"
        ));
        assert!(matches(
            "https://example.com/m{;x,y}",
            "https://example.com/m;x=1;y=2"
        ));
        assert!(matches(
            "https://example.com/f{.fmt}",
            "https://example.com/f.json"
        ));
        assert!(matches(
            "https://example.com/{a}{b}{c}",
            "https://example.com/xyz"
        ));
        assert!(matches("{+all}", "https://example.com/books/1"));
    }

    #[test]
    fn templates_grant_no_more_than_their_expansions() {
        assert!(!matches(
            "https://ex.com/users{/id}",
            "https://ex.com/users/1/secret"
        ));
        assert!(matches(
            "https://ex.com/users{/id}",
            "https://ex.com/users/1"
        ));
        assert!(matches(
            "https://ex.com/users{/id*}",
            "https://ex.com/users/1/secret"
        ));
        assert!(matches("https://ex.com/u/{x:3}", "https://ex.com/u/abc"));
        assert!(!matches("https://ex.com/u/{x:3}", "https://ex.com/u/abcd"));
        assert!(matches(
            "https://ex.com/u/{x:3}",
            "https://ex.com/u/%C3%A9b"
        ));
        assert!(!matches("https://ex.com/s{?q}", "https://ex.com/s?admin=1"));
        assert!(!matches(
            "https://ex.com/s{?q}",
            "https://ex.com/s?q=1&admin=1"
        ));
        assert!(matches("https://ex.com/s{?q}", "https://ex.com/s?q="));
        assert!(matches(
            "https://ex.com/s{?q,page}",
            "https://ex.com/s?page=2"
        ));
        assert!(!matches(
            "https://ex.com/s{?q,page}",
            "https://ex.com/s?page=2&q=1"
        ));
        assert!(matches(
            "https://ex.com/s{?params*}",
            "https://ex.com/s?a=1&b=2"
        ));
        assert!(matches("https://ex.com/m{;x}", "https://ex.com/m;x"));
        assert!(!matches("https://ex.com/b/{id}", "https://ex.com/b/1;x=2"));
        assert!(!matches("https://ex.com/b/{id}", "https://ex.com/b/1&x"));
        assert!(matches("https://ex.com/b/{id}", "https://ex.com/b/1,2,3"));
        assert!(matches(
            "https://ex.com/b/{id*}",
            "https://ex.com/b/k=v,k2=v2"
        ));
        // A topic holding braces is matched by its own text.
        assert!(matches("https://ex.com/{id}", "https://ex.com/{id}"));
    }

    #[test]
    fn template_syntax_errors() {
        for bad in [
            "https://example.com/{id",
            "https://example.com/id}",
            "https://example.com/{}",
            "https://example.com/{=x}",
            "https://example.com/{a b}",
            "https://example.com/{x:0}",
            "https://example.com/{x:10000}",
            "https://example.com/{x:}",
            "https://example.com/{.}",
            "https://example.com/{a..b}",
            "{{x}}",
        ] {
            assert!(
                matches!(Selector::parse(bad), Err(SelectorError::Template(_))),
                "{bad}"
            );
        }
        assert_eq!(Selector::parse(""), Err(SelectorError::Size));
        assert_eq!(
            Selector::parse(&"a".repeat(MAX_TOPIC_BYTES + 1)),
            Err(SelectorError::Size)
        );
        assert!(Selector::parse("https://example.com/{x:3}/{list*}/{a.b}").is_ok());
        // Automata past their bound are refused, not built.
        assert_eq!(
            Selector::parse(&"{x:1000}".repeat(2)),
            Err(SelectorError::Template(
                "the template is too large to match"
            ))
        );
    }

    #[test]
    fn long_and_hostile_inputs_stay_linear() {
        // Many adjacent expressions against a long topic of expression characters, which a
        // backtracking matcher would take an exponent of: the state set is bounded by the
        // template, so both answers come in one pass.
        let template = "{a}".repeat(600);
        let selector = Selector::parse(&template).unwrap();
        let topic = "x".repeat(MAX_TOPIC_BYTES - 1) + "/";
        assert!(!selector.matches(&topic));
        assert!(selector.matches(&"x".repeat(MAX_TOPIC_BYTES)));
        assert!(matches("https://é.example/{id}", "https://é.example/1"));
        assert!(!matches("https://é.example/{id}", "https://é.example/é"));
    }
}
