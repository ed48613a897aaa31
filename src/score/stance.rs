//! Stage 5, score: the three stances, the one list of their names, and where each sits in a
//! head's output. Everything else takes label names from here or from the head file.

/// The label names a head must have, in the order the output columns use.
pub const LABELS: [&str; 3] = ["optimistic", "neutral", "skeptical"];

/// The three stances, in the order of [`LABELS`] and of the share columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stance {
    /// Settlement more likely.
    Optimistic,
    /// No stance.
    Neutral,
    /// Settlement less likely.
    Skeptical,
}

impl Stance {
    /// The label name.
    pub fn name(self) -> &'static str {
        LABELS[self as usize]
    }
}

/// Positions of the three stances in a head's label order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StanceIndex {
    optimistic: usize,
    neutral: usize,
    skeptical: usize,
}

impl StanceIndex {
    /// Finds the three stances among a head's labels; `None` names the first one missing.
    pub fn from_labels(labels: &[String]) -> Result<StanceIndex, &'static str> {
        let at = |name: &'static str| labels.iter().position(|l| l == name).ok_or(name);
        Ok(StanceIndex { optimistic: at(LABELS[0])?, neutral: at(LABELS[1])?, skeptical: at(LABELS[2])? })
    }

    /// Index of "neutral" in the head's output.
    pub fn neutral(&self) -> usize {
        self.neutral
    }

    /// (p_optimistic, p_neutral, p_skeptical) from probabilities in head order.
    pub fn split(&self, probs: &[f32]) -> (f64, f64, f64) {
        let p = |i: usize| f64::from(probs[i]);
        (p(self.optimistic), p(self.neutral), p(self.skeptical))
    }

    /// The stance a label index stands for.
    pub fn of(&self, label: usize) -> Stance {
        if label == self.optimistic {
            Stance::Optimistic
        } else if label == self.skeptical {
            Stance::Skeptical
        } else {
            Stance::Neutral
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_follows_the_head_order_and_names_what_is_missing() {
        let labels: Vec<String> = ["skeptical", "optimistic", "neutral"].map(String::from).to_vec();
        let index = StanceIndex::from_labels(&labels).unwrap();
        assert_eq!(index.split(&[0.1, 0.7, 0.2]), (0.699999988079071, 0.20000000298023224, 0.10000000149011612));
        assert_eq!((index.of(0), index.of(1), index.of(2)), (Stance::Skeptical, Stance::Optimistic, Stance::Neutral));
        assert_eq!(index.neutral(), 2);
        let partial: Vec<String> = ["optimistic", "skeptical"].map(String::from).to_vec();
        assert_eq!(StanceIndex::from_labels(&partial), Err("neutral"));
        assert_eq!(Stance::Skeptical.name(), "skeptical");
    }
}
