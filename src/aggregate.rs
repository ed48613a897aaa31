//! Stage 6, aggregate: paragraphs roll up into per-article tone metrics through accumulators
//! that merge exactly, so chunks of an article scored apart combine to the same numbers.

pub use crate::lexicon::ToneCounts;
use crate::score::Stance;

/// Paragraph facts an accumulator needs.
#[derive(Debug, Clone, Copy)]
pub struct ParagraphFacts {
    /// Whether the paragraph is content (only content counts for stance).
    pub content: bool,
    /// p(optimistic) - p(skeptical).
    pub stance: f64,
    /// The paragraph's label.
    pub label: Stance,
    /// Words in the paragraph.
    pub words: u64,
    /// Lexicon counts of the paragraph.
    pub tone: ToneCounts,
}

/// Running sums for one article.
#[derive(Debug, Clone, Default)]
pub struct ArticleAccumulator {
    paragraphs: u64,
    scored: u64,
    words: u64,
    stance_weight: f64,
    weighted_stance: f64,
    stance_sum: f64,
    stance_sq: f64,
    counts: [u64; 3],
    lede: Vec<f64>,
    max: Option<f64>,
    min: Option<f64>,
    tone: ToneCounts,
}

/// Finished per-article metrics; `None` where no content paragraph was scored.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleMetrics {
    /// All paragraphs, furniture included.
    pub n_paragraphs: u64,
    /// Content paragraphs scored.
    pub n_scored: u64,
    /// Words in all paragraphs.
    pub words: u64,
    /// Word-weighted mean stance over content paragraphs.
    pub stance_mean: Option<f64>,
    /// Population standard deviation of content paragraph stance.
    pub stance_sd: Option<f64>,
    /// Mean stance of the first two content paragraphs.
    pub lede_stance: Option<f64>,
    /// Largest paragraph stance.
    pub max_stance: Option<f64>,
    /// Smallest paragraph stance.
    pub min_stance: Option<f64>,
    /// Shares of content paragraphs labeled optimistic, neutral, skeptical.
    pub shares: Option<[f64; 3]>,
    /// Lexicon counts over content paragraphs.
    pub tone: ToneCounts,
}

const LEDE: usize = 2;

impl ArticleMetrics {
    /// share_optimistic - share_skeptical.
    pub fn net_tone(&self) -> Option<f64> {
        self.shares.map(|s| s[0] - s[2])
    }

    /// Share of content paragraphs that are not neutral.
    pub fn polarity(&self) -> Option<f64> {
        self.shares.map(|s| 1.0 - s[1])
    }

    /// Percent of content words with positive and with negative lexicon valence.
    pub fn lexicon_percent(&self) -> Option<(f64, f64)> {
        let words = self.tone.words as f64;
        (self.tone.words > 0)
            .then(|| (100.0 * self.tone.positive as f64 / words, 100.0 * self.tone.negative as f64 / words))
    }
}

impl ArticleAccumulator {
    /// Adds the next paragraph (in article order).
    pub fn add(&mut self, p: &ParagraphFacts) {
        self.paragraphs += 1;
        self.words += p.words;
        if !p.content {
            return;
        }
        self.scored += 1;
        // A paragraph weighs its words; an empty one still weighs 1.
        let weight = p.words.max(1) as f64;
        self.stance_weight += weight;
        self.weighted_stance += p.stance * weight;
        self.stance_sum += p.stance;
        self.stance_sq += p.stance * p.stance;
        self.counts[p.label as usize] += 1;
        if self.lede.len() < LEDE {
            self.lede.push(p.stance);
        }
        self.max = Some(self.max.map_or(p.stance, |m| m.max(p.stance)));
        self.min = Some(self.min.map_or(p.stance, |m| m.min(p.stance)));
        self.tone.merge(p.tone);
    }

    /// Appends the accumulator of the paragraphs that follow this one's.
    pub fn merge(&mut self, later: &ArticleAccumulator) {
        self.paragraphs += later.paragraphs;
        self.scored += later.scored;
        self.words += later.words;
        self.stance_weight += later.stance_weight;
        self.weighted_stance += later.weighted_stance;
        self.stance_sum += later.stance_sum;
        self.stance_sq += later.stance_sq;
        (0..3).for_each(|i| self.counts[i] += later.counts[i]);
        let room = LEDE - self.lede.len();
        self.lede.extend(later.lede.iter().take(room));
        self.max = later.max.map_or(self.max, |m| Some(self.max.map_or(m, |s| s.max(m))));
        self.min = later.min.map_or(self.min, |m| Some(self.min.map_or(m, |s| s.min(m))));
        self.tone.merge(later.tone);
    }

    /// The article's metrics.
    pub fn finish(&self) -> ArticleMetrics {
        let n = self.scored as f64;
        let any = self.scored > 0;
        let mean = self.stance_sum / n;
        ArticleMetrics {
            n_paragraphs: self.paragraphs,
            n_scored: self.scored,
            words: self.words,
            stance_mean: any.then(|| self.weighted_stance / self.stance_weight),
            stance_sd: any.then(|| (self.stance_sq / n - mean * mean).max(0.0).sqrt()),
            lede_stance: any.then(|| self.lede.iter().sum::<f64>() / self.lede.len() as f64),
            max_stance: self.max,
            min_stance: self.min,
            shares: any.then(|| self.counts.map(|c| c as f64 / n)),
            tone: self.tone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn facts(content: bool, stance: f64, label: Stance, words: u64) -> ParagraphFacts {
        ParagraphFacts { content, stance, label, words, tone: ToneCounts { words, positive: 1, negative: 0 } }
    }

    fn paragraphs() -> Vec<ParagraphFacts> {
        vec![
            facts(false, 0.0, Stance::Neutral, 3),
            facts(true, 0.8, Stance::Optimistic, 10),
            facts(true, -0.6, Stance::Skeptical, 30),
            facts(true, 0.0, Stance::Neutral, 20),
            facts(false, 0.0, Stance::Neutral, 2),
        ]
    }

    #[test]
    fn metrics_by_hand() {
        let mut acc = ArticleAccumulator::default();
        paragraphs().iter().for_each(|p| acc.add(p));
        let m = acc.finish();
        assert_eq!((m.n_paragraphs, m.n_scored, m.words), (5, 3, 65));
        assert!((m.stance_mean.unwrap() - (8.0 - 18.0) / 60.0).abs() < 1e-12);
        assert!((m.lede_stance.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!((m.max_stance, m.min_stance), (Some(0.8), Some(-0.6)));
        let shares = m.shares.unwrap();
        assert!((shares[0] - 1.0 / 3.0).abs() < 1e-12 && (shares[2] - 1.0 / 3.0).abs() < 1e-12);
        let mean: f64 = 0.2 / 3.0;
        let sd = ((0.64 + 0.36) / 3.0 - mean * mean).sqrt();
        assert!((m.stance_sd.unwrap() - sd).abs() < 1e-12);
        assert_eq!(m.tone, ToneCounts { words: 60, positive: 3, negative: 0 });
        assert!((m.net_tone().unwrap() - 0.0).abs() < 1e-12);
        assert!((m.polarity().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.lexicon_percent(), Some((5.0, 0.0)));
    }

    #[test]
    fn no_content_gives_empty_metrics() {
        let mut acc = ArticleAccumulator::default();
        acc.add(&facts(false, 0.0, Stance::Neutral, 4));
        let m = acc.finish();
        assert_eq!((m.n_paragraphs, m.n_scored, m.stance_mean, m.shares), (1, 0, None, None));
        assert_eq!((m.net_tone(), m.polarity(), m.lexicon_percent()), (None, None, None));
    }

    /// A paragraph whose stance is a multiple of 1/1024 and whose word count is small: sums of
    /// such numbers are exact in f64, so split and whole runs must agree to the last bit, and
    /// any difference is a merging mistake, not rounding.
    fn paragraph() -> impl Strategy<Value = ParagraphFacts> {
        let labels = [Stance::Optimistic, Stance::Neutral, Stance::Skeptical];
        (any::<bool>(), -1024i32..=1024, 0..3usize, 0u64..400, 0u64..400, 0u64..400).prop_map(
            move |(content, k, label, words, positive, negative)| ParagraphFacts {
                content,
                stance: f64::from(k) / 1024.0,
                label: labels[label],
                words,
                tone: ToneCounts { words, positive: positive.min(words), negative: negative.min(words) },
            },
        )
    }

    proptest! {
        #[test]
        fn any_split_merges_to_the_metrics_of_the_whole(
            ps in prop::collection::vec(paragraph(), 0..40),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let mut whole = ArticleAccumulator::default();
            ps.iter().for_each(|p| whole.add(p));
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(ps.len() + 1)).collect();
            cuts.sort_unstable();
            let mut merged = ArticleAccumulator::default();
            let mut start = 0;
            for end in cuts.into_iter().chain([ps.len()]) {
                let mut part = ArticleAccumulator::default();
                ps[start..end].iter().for_each(|p| part.add(p));
                merged.merge(&part);
                start = end;
            }
            let metrics = whole.finish();
            prop_assert_eq!(merged.finish(), metrics.clone());
            if let Some(shares) = metrics.shares {
                prop_assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-12, "shares {:?}", shares);
            }
        }
    }
}
