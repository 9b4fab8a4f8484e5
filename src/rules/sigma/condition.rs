//! Sigma's `condition` language: `and`, `or`, `not`, parentheses, `1 of pattern`,
//! `all of pattern`, `N of`, `them`. Precedence from low to high: or, and, not, `x of`,
//! parentheses. Identifiers resolve to the rule's selections when parsed, so evaluation never
//! meets an unknown name.

/// A parsed condition over selections (by index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// The selection with this index.
    Selection(usize),
    /// Negation.
    Not(Box<Cond>),
    /// All hold.
    And(Vec<Cond>),
    /// One holds.
    Or(Vec<Cond>),
    /// At least this many hold.
    AtLeast(usize, Vec<Cond>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '|' => {
                return Err(
                    "aggregations after `|` (`| count() > N`) are Sigma v1 syntax, dropped in Sigma v2: write a correlation rule instead".to_owned(),
                )
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.' | '?') => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.' | '?') {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(word));
            }
            other => return Err(format!("unexpected character `{other}`")),
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    names: &'a [String],
}

fn is_keyword(word: &str, keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword)
}

impl Parser<'_> {
    fn peek_word(&self) -> Option<&str> {
        match self.tokens.get(self.at) {
            Some(Token::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut terms = vec![self.and()?];
        while self.peek_word().is_some_and(|w| is_keyword(w, "or")) {
            self.at += 1;
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Cond::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut terms = vec![self.not()?];
        while self.peek_word().is_some_and(|w| is_keyword(w, "and")) {
            self.at += 1;
            terms.push(self.not()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Cond::And(terms)
        })
    }

    fn not(&mut self) -> Result<Cond, String> {
        if self.peek_word().is_some_and(|w| is_keyword(w, "not")) {
            self.at += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, String> {
        match self.tokens.get(self.at).cloned() {
            None => Err("the condition ends where a selection was expected".to_owned()),
            Some(Token::Close) => Err("`)` where a selection was expected".to_owned()),
            Some(Token::Open) => {
                self.at += 1;
                let inner = self.or()?;
                match self.tokens.get(self.at) {
                    Some(Token::Close) => {
                        self.at += 1;
                        Ok(inner)
                    }
                    _ => Err("`(` is never closed".to_owned()),
                }
            }
            Some(Token::Word(word)) => {
                self.at += 1;
                let quantified = self.peek_word().is_some_and(|w| is_keyword(w, "of"));
                if quantified {
                    self.at += 1;
                    return self.quantifier(&word);
                }
                if ["and", "or", "not", "of", "them"]
                    .iter()
                    .any(|k| is_keyword(&word, k))
                {
                    return Err(format!("`{word}` where a selection was expected"));
                }
                self.names
                    .iter()
                    .position(|n| *n == word)
                    .map(Cond::Selection)
                    .ok_or_else(|| format!("`{word}` is not a selection of this detection"))
            }
        }
    }

    fn quantifier(&mut self, count: &str) -> Result<Cond, String> {
        let Some(Token::Word(target)) = self.tokens.get(self.at).cloned() else {
            return Err(format!(
                "`{count} of` must be followed by `them` or a selection name pattern"
            ));
        };
        self.at += 1;
        let selected: Vec<Cond> = if is_keyword(&target, "them") {
            self.names
                .iter()
                .enumerate()
                .filter(|(_, n)| !n.starts_with('_'))
                .map(|(i, _)| Cond::Selection(i))
                .collect()
        } else {
            self.names
                .iter()
                .enumerate()
                .filter(|(_, n)| identifier_matches(&target, n))
                .map(|(i, _)| Cond::Selection(i))
                .collect()
        };
        if selected.is_empty() {
            return Err(format!("`{count} of {target}` matches no selection"));
        }
        if is_keyword(count, "all") {
            return Ok(Cond::And(selected));
        }
        if is_keyword(count, "any") {
            return Ok(Cond::Or(selected));
        }
        match count.parse::<usize>() {
            Ok(1) => Ok(Cond::Or(selected)),
            Ok(n) if n > 1 => Ok(Cond::AtLeast(n, selected)),
            _ => Err(format!(
                "`{count} of`: the count must be a positive number, `any` or `all`"
            )),
        }
    }
}

/// Whether the selection `name` matches the identifier pattern (`*` is any run of
/// characters).
fn identifier_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Parses `text` against the selection `names` (in detection order).
pub fn parse(text: &str, names: &[String]) -> Result<Cond, String> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err("the condition is empty".to_owned());
    }
    let mut parser = Parser {
        tokens,
        at: 0,
        names,
    };
    let cond = parser.or()?;
    match parser.tokens.get(parser.at) {
        None => Ok(cond),
        Some(Token::Close) => Err("`)` without a matching `(`".to_owned()),
        Some(Token::Word(w)) => Err(format!(
            "`{w}` after a complete condition: join with `and` or `or`"
        )),
        Some(Token::Open) => {
            Err("`(` after a complete condition: join with `and` or `or`".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn precedence_is_or_and_not() {
        let n = names(&["a", "b", "c"]);
        assert_eq!(
            parse("a or b and not c", &n),
            Ok(Cond::Or(vec![
                Cond::Selection(0),
                Cond::And(vec![
                    Cond::Selection(1),
                    Cond::Not(Box::new(Cond::Selection(2)))
                ])
            ]))
        );
        assert_eq!(
            parse("(a or b) and c", &n),
            Ok(Cond::And(vec![
                Cond::Or(vec![Cond::Selection(0), Cond::Selection(1)]),
                Cond::Selection(2)
            ]))
        );
    }

    #[test]
    fn quantifiers_expand_patterns() {
        let n = names(&[
            "selection_event_name",
            "selection_status_success",
            "selection_status_null",
            "_helper",
        ]);
        assert_eq!(
            parse("selection_event_name and 1 of selection_status_*", &n),
            Ok(Cond::And(vec![
                Cond::Selection(0),
                Cond::Or(vec![Cond::Selection(1), Cond::Selection(2)])
            ]))
        );
        assert_eq!(
            parse("all of them", &n),
            Ok(Cond::And(vec![
                Cond::Selection(0),
                Cond::Selection(1),
                Cond::Selection(2)
            ]))
        );
        assert_eq!(
            parse("2 of selection_*", &n),
            Ok(Cond::AtLeast(
                2,
                vec![Cond::Selection(0), Cond::Selection(1), Cond::Selection(2)]
            ))
        );
        assert_eq!(
            parse("not 1 of filter_main_*", &names(&["filter_main_ua"])),
            Ok(Cond::Not(Box::new(Cond::Or(vec![Cond::Selection(0)]))))
        );
        assert!(identifier_matches("sel*_x*", "sel_a_x_b"));
        assert!(!identifier_matches("sel*_x", "sel_a_y"));
    }

    #[test]
    fn errors_explain_what_is_wrong() {
        let n = names(&["a", "b"]);
        assert!(parse("a and", &n).unwrap_err().contains("ends"));
        assert!(parse("a and c", &n).unwrap_err().contains("`c`"));
        assert!(parse("(a", &n).unwrap_err().contains("never closed"));
        assert!(parse("a)", &n).unwrap_err().contains("without"));
        assert!(parse("a b", &n).unwrap_err().contains("after a complete"));
        assert!(parse("1 of x*", &n).unwrap_err().contains("matches no"));
        assert!(parse("a | count() > 5", &n)
            .unwrap_err()
            .contains("correlation"));
        assert!(parse("", &n).unwrap_err().contains("empty"));
        assert!(parse("0 of them", &n).is_err());
    }
}
