//! Sigma value matching: case-insensitive strings with `*` and `?` wildcards (and `\`
//! escapes), regular expressions, CIDR networks and numeric comparisons.

use std::net::IpAddr;

use regex::Regex;

/// Where a string value must occur in the field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Position {
    /// The whole value (no modifier).
    Whole,
    /// Anywhere (`contains`).
    Contains,
    /// At the start (`startswith`).
    Start,
    /// At the end (`endswith`).
    End,
}

/// A compiled string test.
#[derive(Debug, Clone)]
pub enum TextMatch {
    /// Equal to the text.
    Equals {
        /// The text to compare with.
        text: String,
        /// Case-sensitive.
        cased: bool,
    },
    /// Starts with the text.
    StartsWith {
        /// The prefix.
        text: String,
        /// Case-sensitive.
        cased: bool,
    },
    /// Ends with the text.
    EndsWith {
        /// The suffix.
        text: String,
        /// Case-sensitive.
        cased: bool,
    },
    /// Contains the text.
    Contains {
        /// The infix.
        text: String,
        /// Case-sensitive.
        cased: bool,
    },
    /// Any other pattern, or a `re` value.
    Regex(Regex),
}

impl TextMatch {
    /// Whether `value` matches.
    pub fn is_match(&self, value: &str) -> bool {
        match self {
            Self::Equals { text, cased: true } => value == text,
            Self::Equals { text, cased: false } => value.eq_ignore_ascii_case(text),
            Self::StartsWith { text, cased: true } => value.starts_with(text.as_str()),
            Self::StartsWith { text, cased: false } => value
                .as_bytes()
                .get(..text.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(text.as_bytes())),
            Self::EndsWith { text, cased: true } => value.ends_with(text.as_str()),
            Self::EndsWith { text, cased: false } => value
                .len()
                .checked_sub(text.len())
                .and_then(|start| value.as_bytes().get(start..))
                .is_some_and(|tail| tail.eq_ignore_ascii_case(text.as_bytes())),
            Self::Contains { text, cased: true } => value.contains(text.as_str()),
            Self::Contains { text, cased: false } => contains_ignore_ascii_case(value, text),
            Self::Regex(regex) => regex.is_match(value),
        }
    }
}

fn contains_ignore_ascii_case(hay: &str, needle: &str) -> bool {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    let Some(&first) = needle.first() else {
        return true;
    };
    if needle.len() > hay.len() {
        return false;
    }
    let first = first.to_ascii_lowercase();
    (0..=hay.len() - needle.len()).any(|i| {
        hay[i].to_ascii_lowercase() == first
            && hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
    })
}

/// A piece of a Sigma string value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    /// `*`
    Any,
    /// `?`
    One,
}

/// Splits a Sigma string into literals and wildcards. `\*`, `\?` and `\\` are the literal
/// characters; a `\` before anything else is itself.
fn pieces(value: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&next @ ('*' | '?' | '\\')) => {
                    literal.push(next);
                    chars.next();
                }
                _ => literal.push('\\'),
            },
            '*' | '?' => {
                if !literal.is_empty() {
                    out.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                out.push(if c == '*' { Piece::Any } else { Piece::One });
            }
            other => literal.push(other),
        }
    }
    if !literal.is_empty() {
        out.push(Piece::Literal(literal));
    }
    out
}

/// Compiles a Sigma string value found at `position`.
pub fn wildcard(value: &str, position: Position, cased: bool) -> Result<TextMatch, String> {
    let mut parts = pieces(value);
    if matches!(position, Position::Contains | Position::End) && parts.first() != Some(&Piece::Any)
    {
        parts.insert(0, Piece::Any);
    }
    if matches!(position, Position::Contains | Position::Start) && parts.last() != Some(&Piece::Any)
    {
        parts.push(Piece::Any);
    }
    let leading = parts.first() == Some(&Piece::Any);
    let trailing = parts.len() > usize::from(leading) && parts.last() == Some(&Piece::Any);
    let core = &parts[usize::from(leading)..parts.len() - usize::from(trailing)];
    let simple = match core {
        [] => Some(String::new()),
        [Piece::Literal(text)] => Some(text.clone()),
        _ => None,
    };
    // Case-folding beyond ASCII needs the regex engine.
    if let Some(text) = simple.filter(|t| cased || t.is_ascii()) {
        return Ok(match (leading, trailing) {
            (false, false) => TextMatch::Equals { text, cased },
            (false, true) => TextMatch::StartsWith { text, cased },
            (true, false) => TextMatch::EndsWith { text, cased },
            (true, true) => TextMatch::Contains { text, cased },
        });
    }
    let mut pattern = String::from(if cased { "(?s)^" } else { "(?si)^" });
    for piece in &parts {
        match piece {
            Piece::Literal(text) => pattern.push_str(&regex::escape(text)),
            Piece::Any => pattern.push_str(".*"),
            Piece::One => pattern.push('.'),
        }
    }
    pattern.push('$');
    Regex::new(&pattern)
        .map(TextMatch::Regex)
        .map_err(|err| err.to_string())
}

/// Flags of a `re` value (`re|i`, `re|m`, `re|s`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegexFlags {
    /// Case-insensitive.
    pub ignore_case: bool,
    /// `^` and `$` match at line breaks.
    pub multi_line: bool,
    /// `.` matches line breaks.
    pub dot_all: bool,
}

/// Compiles a `re` value; it matches anywhere in the field's value unless anchored.
pub fn regex(value: &str, flags: RegexFlags) -> Result<TextMatch, String> {
    regex::RegexBuilder::new(value)
        .case_insensitive(flags.ignore_case)
        .multi_line(flags.multi_line)
        .dot_matches_new_line(flags.dot_all)
        .build()
        .map(TextMatch::Regex)
        .map_err(|err| err.to_string())
}

/// An IPv4 or IPv6 network (`cidr` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `2001:db8::/32`, or a single address.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an IP network (like 10.0.0.0/8)"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has an invalid prefix length"))?,
            None => max,
        };
        Ok(Self { network, prefix })
    }

    /// Whether `value` is an address inside the network.
    pub fn contains(&self, value: &str) -> bool {
        let Ok(address) = value.trim().parse::<IpAddr>() else {
            return false;
        };
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(addr) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(addr) & mask
            }
            _ => false,
        }
    }
}

/// A numeric comparison (`lt`, `lte`, `gt`, `gte`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// `lt`
    Less,
    /// `lte`
    LessOrEqual,
    /// `gt`
    Greater,
    /// `gte`
    GreaterOrEqual,
}

impl Compare {
    /// Whether `value` compares as required with `bound`.
    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Self::Less => value < bound,
            Self::LessOrEqual => value <= bound,
            Self::Greater => value > bound,
            Self::GreaterOrEqual => value >= bound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(value: &str, position: Position) -> TextMatch {
        wildcard(value, position, false).expect("compiles")
    }

    #[test]
    fn plain_values_are_case_insensitive_equality() {
        let t = m("DisableKey", Position::Whole);
        assert!(matches!(t, TextMatch::Equals { .. }));
        assert!(t.is_match("disablekey"));
        assert!(!t.is_match("DisableKeyRotation"));
        let cased = wildcard("DisableKey", Position::Whole, true).expect("compiles");
        assert!(!cased.is_match("disablekey"));
        assert!(m("", Position::Whole).is_match(""));
        assert!(!m("", Position::Whole).is_match("x"));
    }

    #[test]
    fn modifiers_and_wildcards() {
        assert!(m("Jersey/${project.version}", Position::Contains)
            .is_match("aws-sdk Jersey/${project.version} x"));
        assert!(m("Update", Position::Start).is_match("UpdateFunctionConfiguration20150331v2"));
        assert!(m("key/", Position::End).is_match("arn:KEY/"));
        let star = m("*", Position::Contains);
        assert!(star.is_match("anything") && star.is_match(""));
        let q = m("a?c*", Position::Whole);
        assert!(matches!(q, TextMatch::Regex(_)));
        assert!(q.is_match("ABCdef") && !q.is_match("acdef"));
        assert!(m("list*", Position::Whole).is_match("ListBuckets"));
    }

    #[test]
    fn escapes_make_wildcards_literal() {
        let t = m(r"100\*", Position::Whole);
        assert!(t.is_match("100*") && !t.is_match("1000"));
        let t = m(r"a\?", Position::Whole);
        assert!(t.is_match("a?") && !t.is_match("ab"));
        let t = m(r"c:\\*", Position::Whole);
        assert!(t.is_match(r"c:\windows"));
        let t = m(r"c:\windows", Position::Whole);
        assert!(t.is_match(r"C:\Windows"));
    }

    #[test]
    fn non_ascii_values_fold_case_through_the_regex_engine() {
        let t = m("ÉTÉ", Position::Whole);
        assert!(t.is_match("été"));
    }

    #[test]
    fn regular_expressions_search_and_take_flags() {
        let r = regex(".+:assumed-role/aws:.+", RegexFlags::default()).expect("compiles");
        assert!(r.is_match("arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1"));
        assert!(!r.is_match("arn:aws:sts::1:assumed-role/Admin/x"));
        let r = regex("^admin", RegexFlags::default()).expect("compiles");
        assert!(!r.is_match("Admin"));
        let r = regex(
            "^admin",
            RegexFlags {
                ignore_case: true,
                ..RegexFlags::default()
            },
        )
        .expect("compiles");
        assert!(r.is_match("Admin"));
        assert!(regex("(?<=a)b", RegexFlags::default()).is_err());
    }

    #[test]
    fn cidr_networks() {
        let net = Cidr::parse("10.0.0.0/8").expect("parses");
        assert!(net.contains("10.1.2.3"));
        assert!(!net.contains("11.0.0.1"));
        assert!(!net.contains("AWS Internal"));
        assert!(!net.contains("::1"));
        let v6 = Cidr::parse("2001:db8::/32").expect("parses");
        assert!(v6.contains("2001:db8:1::5"));
        assert!(Cidr::parse("0.0.0.0/0")
            .expect("parses")
            .contains("8.8.8.8"));
        assert!(Cidr::parse("192.0.2.1")
            .expect("parses")
            .contains("192.0.2.1"));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("ten").is_err());
    }

    #[test]
    fn comparisons() {
        assert!(Compare::Less.holds(1.0, 2.0));
        assert!(Compare::GreaterOrEqual.holds(2.0, 2.0));
        assert!(!Compare::Greater.holds(2.0, 2.0));
    }
}
