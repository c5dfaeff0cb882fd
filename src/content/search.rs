//! Title search: every word of the query must begin some word of the title, ignoring case
//! and punctuation ("oat bow" finds "Overnight oats bowl").

/// The lower-case words of a text.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// True if every query word is a prefix of one of `title_words`.
pub fn matches(title_words: &[String], query_words: &[String]) -> bool {
    query_words
        .iter()
        .all(|q| title_words.iter().any(|w| w.starts_with(q.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_word_must_start_a_title_word() {
        let title = words("Overnight oats bowl, with Berries!");
        assert!(matches(&title, &words("oat BOW")));
        assert!(matches(&title, &words("berries")));
        assert!(!matches(&title, &words("oats pancake")));
        assert!(!matches(&title, &words("ats")));
        assert!(matches(&title, &[]));
    }
}
