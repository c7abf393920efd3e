//! *Topic selectors*: what a Mercure subscription asks for and what a token's `mercure.publish`
//! and `mercure.subscribe` claims grant. A selector is `*` (every topic), an RFC 6570 URI
//! template (`https://example.com/books/{id}`), or otherwise a topic compared exactly.
//!
//! A template matches a topic that some values of its variables would expand to. Matching is a
//! walk over the topic that keeps the set of places the template may be at (a Thompson
//! automaton), so it takes time proportional to the topic's length times the template's
//! whatever either holds: a subscriber's or a token's selectors cannot make a process spin.
//! An expression matches what its operator's expansions are made of: `{var}` and the `.`, `/`,
//! `;`, `?`, `&` forms unreserved characters and percent-escapes (so `{id}` never spans a `/`),
//! `{+var}` and `{#var}` reserved characters too; a list's separators and `name=` are part of
//! an expression's expansion. No crate matches templates (those that exist expand them, or
//! match level 2 only through a regular expression per template), hence this module.

use std::fmt;

/// The most bytes a topic or a selector may have.
pub const MAX_TOPIC_BYTES: usize = 2048;

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
    /// Parses a selector: `*`, a template when it holds a `{`, else an exact topic.
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

    /// True when the selector matches `topic`.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Selector::All => true,
            Selector::Exact(exact) => exact == topic,
            Selector::Template(template) => template.matches(topic),
        }
    }
}

/// True when any of `selectors` matches any of `topics`.
pub fn any_matches(selectors: &[Selector], topics: &[String]) -> bool {
    selectors
        .iter()
        .any(|s| topics.iter().any(|t| s.matches(t)))
}

/// The characters an expression's expansion is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Unreserved characters and `%` (percent-escapes), plus `,` `=` `.` `/` `;` `&`: the
    /// separators of the simple and the `.`, `/`, `;`, `?`, `&` operators. Which separators an
    /// operator uses is told by its first character; the body allows them all but `/` for the
    /// simple, `;` and `.` forms, so `{id}` stops at a path's next segment.
    Unreserved { slash: bool },
    /// Every character allowed in a URI (the `+` and `#` operators).
    Reserved,
}

impl Class {
    fn allows(self, b: u8) -> bool {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'%');
        match self {
            Class::Unreserved { slash } => {
                unreserved || matches!(b, b',' | b'=' | b';' | b'&') || (slash && b == b'/')
            }
            Class::Reserved => {
                unreserved
                    || matches!(
                        b,
                        b':' | b'/'
                            | b'?'
                            | b'#'
                            | b'['
                            | b']'
                            | b'@'
                            | b'!'
                            | b'$'
                            | b'&'
                            | b'\''
                            | b'('
                            | b')'
                            | b'*'
                            | b'+'
                            | b','
                            | b';'
                            | b'='
                    )
                    // An IRI's characters beyond ASCII.
                    || b >= 0x80
            }
        }
    }
}

/// One step of a template: a literal byte, or an expression (its first byte when it expands to
/// anything, and the class of the rest).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Byte(u8),
    Expression { first: Option<u8>, class: Class },
}

/// A parsed URI template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    steps: Vec<Step>,
}

impl Template {
    /// Parses RFC 6570 syntax: literals, and expressions `{op var,var:3,list*}`.
    pub fn parse(text: &str) -> Result<Template, SelectorError> {
        let mut steps = Vec::new();
        let mut rest = text.as_bytes();
        while let Some((&b, tail)) = rest.split_first() {
            match b {
                b'{' => {
                    let end = tail
                        .iter()
                        .position(|&c| c == b'}')
                        .ok_or(SelectorError::Template("a { is not closed"))?;
                    steps.push(expression(&tail[..end])?);
                    rest = &tail[end + 1..];
                }
                b'}' => return Err(SelectorError::Template("a } has no {")),
                _ => {
                    steps.push(Step::Byte(b));
                    rest = tail;
                }
            }
        }
        Ok(Template { steps })
    }

    /// True when some expansion of the template is `topic`.
    pub fn matches(&self, topic: &str) -> bool {
        // States: 2 per step (at its start; inside an expression's run), plus the end.
        let count = self.steps.len() * 2 + 1;
        let mut current = vec![false; count];
        let mut next = vec![false; count];
        self.enter(&mut current, 0);
        for &b in topic.as_bytes() {
            next.iter_mut().for_each(|s| *s = false);
            let mut any = false;
            let live = current[..count - 1]
                .iter()
                .enumerate()
                .filter(|(_, on)| **on);
            for (state, _) in live {
                let (index, inside) = (state / 2, state % 2 == 1);
                match (&self.steps[index], inside) {
                    (Step::Byte(c), false) if *c == b => {
                        self.enter(&mut next, index + 1);
                        any = true;
                    }
                    (Step::Expression { first, class }, false)
                        if first.map_or(class.allows(b), |f| f == b) =>
                    {
                        self.run(&mut next, index);
                        any = true;
                    }
                    (Step::Expression { class, .. }, true) if class.allows(b) => {
                        self.run(&mut next, index);
                        any = true;
                    }
                    _ => {}
                }
            }
            if !any {
                return false;
            }
            std::mem::swap(&mut current, &mut next);
        }
        current[count - 1]
    }

    /// Marks the start of step `index`, and what follows it when it may expand to nothing.
    fn enter(&self, states: &mut [bool], mut index: usize) {
        loop {
            if index == self.steps.len() {
                states[index * 2] = true;
                return;
            }
            states[index * 2] = true;
            match self.steps[index] {
                // Every variable undefined: the expression expands to nothing.
                Step::Expression { .. } => index += 1,
                Step::Byte(_) => return,
            }
        }
    }

    /// Marks being inside expression `index`'s run, which may end here.
    fn run(&self, states: &mut [bool], index: usize) {
        states[index * 2 + 1] = true;
        self.enter(states, index + 1);
    }
}

/// An expression's body (between the braces) as a step.
fn expression(body: &[u8]) -> Result<Step, SelectorError> {
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
    for spec in list.split(|&b| b == b',') {
        let name = match spec.iter().position(|&b| b == b':') {
            Some(i) => {
                let length = &spec[i + 1..];
                let valid = (1..=4).contains(&length.len())
                    && length.iter().all(u8::is_ascii_digit)
                    && length[0] != b'0';
                if !valid {
                    return Err(SelectorError::Template("a prefix length is not 1 to 9999"));
                }
                &spec[..i]
            }
            None => spec.strip_suffix(b"*").unwrap_or(spec),
        };
        let valid = !name.is_empty()
            && name.split(|&b| b == b'.').all(|part| !part.is_empty())
            && name
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'%'));
        if !valid {
            return Err(SelectorError::Template("a variable name is malformed"));
        }
    }
    Ok(match operator {
        None => Step::Expression {
            first: None,
            class: Class::Unreserved { slash: false },
        },
        Some(b'+') => Step::Expression {
            first: None,
            class: Class::Reserved,
        },
        Some(b'#') => Step::Expression {
            first: Some(b'#'),
            class: Class::Reserved,
        },
        Some(op) => Step::Expression {
            first: Some(op),
            // A path expansion's list is separated by `/`; query forms by `&`.
            class: Class::Unreserved { slash: op == b'/' },
        },
    })
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
