//! `Limit`/`Marker` paging shared by the `List*` operations: `Limit` 1–1000 (default 100),
//! `Marker` an opaque token from a previous `NextMarker`, rejected with
//! `InvalidMarkerException` when it names no page.

use crate::kms::engine::error::{KmsError, KmsErrorKind};

/// The page size when the request has no `Limit`.
pub const DEFAULT_LIMIT: usize = 100;

/// Checks `Limit` (1–1000) and returns the page size.
pub fn limit(limit: Option<i64>) -> Result<usize, KmsError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if n < 1 => Err(KmsError::validation(
            &n.to_string(),
            "limit",
            "Member must have value greater than or equal to 1",
        )),
        Some(n) if n > 1000 => Err(KmsError::validation(
            &n.to_string(),
            "limit",
            "Member must have value less than or equal to 1000",
        )),
        Some(n) => usize::try_from(n).map_err(|_| {
            KmsError::validation(
                &n.to_string(),
                "limit",
                "Member must have value less than or equal to 1000",
            )
        }),
    }
}

/// Checks `Marker` syntax: 1–1024 characters of `[\u0020-\u00FF]`.
pub fn check_marker(marker: Option<&str>) -> Result<(), KmsError> {
    let Some(marker) = marker else { return Ok(()) };
    if marker.is_empty() {
        return Err(KmsError::validation(
            marker,
            "marker",
            "Member must have length greater than or equal to 1",
        ));
    }
    if marker.chars().count() > 1024 {
        return Err(KmsError::validation(
            marker,
            "marker",
            "Member must have length less than or equal to 1024",
        ));
    }
    if !marker.chars().all(|c| ('\u{20}'..='\u{ff}').contains(&c)) {
        return Err(KmsError::validation(
            marker,
            "marker",
            "Member must satisfy regular expression pattern: [\\u0020-\\u00FF]*",
        ));
    }
    Ok(())
}

/// One page of `items` (sorted by their token, the first element of each pair): the items
/// from the one whose token is `marker` on, at most `limit` of them, and the token of the
/// next item when more remain (`NextMarker`; `Truncated` is its presence).
pub fn page<T>(
    items: Vec<(String, T)>,
    limit: usize,
    marker: Option<&str>,
) -> Result<(Vec<T>, Option<String>), KmsError> {
    check_marker(marker)?;
    let start = match marker {
        None => 0,
        Some(m) => items
            .iter()
            .position(|(token, _)| token == m)
            .ok_or_else(|| {
                KmsError::new(KmsErrorKind::InvalidMarker, format!("Invalid marker {m}"))
            })?,
    };
    let mut rest = items.into_iter().skip(start);
    let taken: Vec<T> = rest.by_ref().take(limit).map(|(_, item)| item).collect();
    let next = rest.next().map(|(token, _)| token);
    Ok((taken, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_markers() {
        let items: Vec<(String, u32)> = (0..5).map(|i| (format!("t{i}"), i)).collect();
        let (first, next) = page(items.clone(), 2, None).expect("first");
        assert_eq!((first, next.as_deref()), (vec![0, 1], Some("t2")));
        let (last, next) = page(items.clone(), 3, Some("t2")).expect("last");
        assert_eq!((last, next), (vec![2, 3, 4], None));
        assert_eq!(
            page(items, 2, Some("zz")).expect_err("bad").kind,
            KmsErrorKind::InvalidMarker
        );
        assert_eq!(
            limit(Some(0)).expect_err("0").kind,
            KmsErrorKind::Validation
        );
        assert_eq!(
            limit(Some(1001)).expect_err("1001").kind,
            KmsErrorKind::Validation
        );
        assert_eq!(limit(None).expect("default"), 100);
    }
}
