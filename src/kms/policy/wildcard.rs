//! IAM wildcard matching: `*` matches any run of characters (including none), `?` exactly
//! one character; every other character matches itself.
//!
//! Actions compare case-insensitively (`kms:decrypt` names the same action as
//! `kms:Decrypt`); resources, ARNs and `StringLike` values compare case-sensitively.

/// Whether `text` matches `pattern`.
#[must_use]
pub fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    // Every policy evaluation matches many actions and ARNs: ASCII text, the usual case, is
    // matched on bytes without allocating.
    if pattern.is_ascii() && text.is_ascii() {
        let same = |a: u8, b: u8| a == b || (ignore_case && a.eq_ignore_ascii_case(&b));
        return glob(pattern.as_bytes(), text.as_bytes(), b'*', b'?', same);
    }
    let fold = |c: char| {
        if ignore_case {
            c.to_ascii_lowercase()
        } else {
            c
        }
    };
    let p: Vec<char> = pattern.chars().map(fold).collect();
    let t: Vec<char> = text.chars().map(fold).collect();
    glob(&p, &t, '*', '?', |a, b| a == b)
}

/// Greedy matching with one backtrack point (the last `*`): linear for IAM patterns.
fn glob<T: Copy + PartialEq>(
    p: &[T],
    t: &[T],
    star_: T,
    one: T,
    same: impl Fn(T, T) -> bool,
) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] != star_ && (p[pi] == one || same(p[pi], t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == star_ {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == star_)
}

/// Whether an ARN matches an ARN pattern the way `ArnLike`/`ArnEquals` do: each of the six
/// colon-separated components is matched on its own (the last one keeps any further colons).
#[must_use]
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    if p.len() != 6 || a.len() != 6 {
        // Not ARN-shaped: only `*` or an identical string can match.
        return pattern == "*" || pattern == arn;
    }
    p.iter().zip(&a).all(|(p, a)| matches(p, a, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_table() {
        let cases = [
            ("exact", "kms:Decrypt", "kms:Decrypt", false, true),
            ("star_all", "*", "anything", false, true),
            ("star_empty", "kms:*", "kms:", false, true),
            (
                "star_suffix",
                "kms:Generate*",
                "kms:GenerateDataKeyPair",
                false,
                true,
            ),
            (
                "star_middle",
                "kms:*Key*",
                "kms:GenerateDataKey",
                false,
                true,
            ),
            ("star_no_match", "kms:Re*", "kms:Decrypt", false, false),
            ("question", "kms:?ecrypt", "kms:Decrypt", false, true),
            (
                "question_needs_one",
                "kms:?Decrypt",
                "kms:Decrypt",
                false,
                false,
            ),
            ("case_sensitive", "kms:decrypt", "kms:Decrypt", false, false),
            ("case_insensitive", "KMS:decrypt", "kms:Decrypt", true, true),
            ("backtrack", "a*b*c", "aXbYbZc", false, true),
            ("backtrack_fail", "a*b*c", "aXbYbZ", false, false),
            ("trailing_text", "abc", "abcd", false, false),
        ];
        for (name, pattern, text, ignore_case, want) in cases {
            assert_eq!(matches(pattern, text, ignore_case), want, "case {name}");
        }
    }

    #[test]
    fn arn_components_match_separately() {
        let role = "arn:aws:iam::111122223333:role/app";
        assert!(arn_matches("arn:aws:iam::*:role/app", role));
        assert!(arn_matches("arn:aws:iam::111122223333:role/*", role));
        assert!(arn_matches("*", role));
        assert!(!arn_matches("arn:aws:iam::*:role/other", role));
        // A `*` cannot swallow the colon between components.
        assert!(!arn_matches("arn:aws:*:role/app", role));
        assert!(arn_matches(
            "arn:aws:kms:*:111122223333:key/*",
            "arn:aws:kms:us-east-1:111122223333:key/1234"
        ));
    }
}
