//! "Did you mean": the nearest valid name to a misspelt one.

/// The candidate closest to `wrong`, if it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wrong_lower = wrong.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&wrong_lower, &candidate.to_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, candidate)| {
            let longest = wrong.chars().count().max(candidate.chars().count());
            *distance > 0 && *distance <= (longest / 3).max(1)
                || (*distance == 0 && *candidate != wrong)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("titel", ["id", "title", "when"]),
            Some("title")
        );
        assert_eq!(
            did_you_mean("acount_id", ["account_id", "scope"]),
            Some("account_id")
        );
        assert_eq!(did_you_mean("Title", ["title"]), Some("title"));
        assert_eq!(did_you_mean("zzz", ["title", "id"]), None);
    }
}
