//! A lexicon tone in the manner of GDELT's V2Tone, with the VADER lexicon (MIT licence,
//! vaderSentiment 3.3.2): the share of words with positive valence, the share with negative
//! valence, and their difference, in percent of all words.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Location, Result};

/// Word -> mean valence from the VADER lexicon.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lexicon {
    valence: HashMap<String, f32>,
}

/// Word counts of one text under a lexicon; counts add up across paragraphs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ToneCounts {
    /// Words.
    pub words: u64,
    /// Words with positive valence.
    pub positive: u64,
    /// Words with negative valence.
    pub negative: u64,
}

impl ToneCounts {
    /// Adds another count.
    pub fn merge(&mut self, other: ToneCounts) {
        self.words += other.words;
        self.positive += other.positive;
        self.negative += other.negative;
    }
}

impl Lexicon {
    /// Reads vader_lexicon.txt: `token<TAB>mean<TAB>sd<TAB>ratings`.
    pub(crate) fn load(path: &Path) -> Result<Lexicon> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Lexicon::parse(&text, path)
    }

    /// Parses the lexicon text; `path` names it in messages.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Lexicon> {
        let mut valence = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split('\t');
            let (Some(token), Some(mean)) = (fields.next(), fields.next()) else {
                return Err(Error::record(Location::line(path, i as u64 + 1), "expected token<TAB>valence"));
            };
            let mean: f32 = mean
                .trim()
                .parse()
                .map_err(|_| Error::record(Location::line(path, i as u64 + 1), format!("bad valence {mean:?}")))?;
            valence.insert(token.to_lowercase(), mean);
        }
        Ok(Lexicon { valence })
    }

    /// Counts words and valenced words in a text.
    pub(crate) fn count(&self, text: &str) -> ToneCounts {
        let mut counts = ToneCounts::default();
        for word in words(text) {
            counts.words += 1;
            match self.valence.get(&word) {
                Some(&v) if v > 0.0 => counts.positive += 1,
                Some(&v) if v < 0.0 => counts.negative += 1,
                _ => {}
            }
        }
        counts
    }
}

/// Lower-cased words: runs of letters, digits and inner apostrophes.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '’').to_lowercase().replace('’', "'"))
        .filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_valenced_words() {
        let lex =
            Lexicon::parse("hope\t1.9\t0.5\t[]\nfail\t-2.3\t0.6\t[]\ndon't\t0\t0\t[]\n", Path::new("v.txt")).unwrap();
        let c = lex.count("Hope, hope and FAIL: they don't 'fail'.");
        assert_eq!(c, ToneCounts { words: 7, positive: 2, negative: 2 });
        assert!(Lexicon::parse("broken\n", Path::new("v.txt")).unwrap_err().to_string().starts_with("v.txt:1:"));
    }
}
