//! Quality measures for a head on labeled data: accuracy, macro-F1, per-class precision /
//! recall / F1, the confusion matrix, and calibration (Brier score, expected calibration error).

use std::fmt::Write;

use ndarray::ArrayView2;
use serde::Serialize;

/// Bins for the expected calibration error.
pub(crate) const ECE_BINS: usize = 15;

/// Precision, recall and F1 of one label.
#[derive(Debug, Clone, Serialize)]
pub struct ClassMetrics {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// Number of samples whose true label this is.
    pub support: usize,
}

/// Everything `stancemeter eval` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Samples.
    pub n: usize,
    /// Label order of `per_class` and `confusion`.
    pub labels: Vec<String>,
    /// Share of correct predictions.
    pub accuracy: f64,
    /// Unweighted mean of per-class F1.
    pub macro_f1: f64,
    /// Per-label metrics, keyed by label name.
    pub per_class: std::collections::BTreeMap<String, ClassMetrics>,
    /// `confusion[true][predicted]` counts, in `labels` order.
    pub confusion: Vec<Vec<usize>>,
    /// Mean over samples of the squared distance between probabilities and the one-hot truth.
    pub brier: f64,
    /// Expected calibration error of the top probability over equal-width bins.
    pub ece: f64,
    /// Mean negative log-likelihood of the true label.
    pub log_loss: f64,
}

/// Index of the largest value (first on ties).
pub(crate) fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
}

/// Scores predictions `probs` (`[n, labels]`) against true label indexes.
pub(crate) fn evaluate(labels: &[String], truth: &[usize], probs: ArrayView2<f32>) -> Evaluation {
    let k = labels.len();
    let n = truth.len();
    let mut confusion = vec![vec![0usize; k]; k];
    let (mut brier, mut log_loss) = (0f64, 0f64);
    let mut bins = vec![(0usize, 0f64, 0f64); ECE_BINS];
    for (row, &t) in probs.rows().into_iter().zip(truth) {
        let p: Vec<f32> = row.to_vec();
        let predicted = argmax(&p);
        confusion[t][predicted] += 1;
        brier += p.iter().enumerate().map(|(j, &q)| (f64::from(q) - f64::from(u8::from(j == t))).powi(2)).sum::<f64>();
        log_loss -= f64::from(p[t]).max(1e-12).ln();
        let top = f64::from(p[predicted]);
        let bin = ((top * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        bins[bin].0 += 1;
        bins[bin].1 += top;
        bins[bin].2 += f64::from(u8::from(predicted == t));
    }
    let per_class: Vec<ClassMetrics> = (0..k).map(|c| class_metrics(&confusion, c)).collect();
    let nf = n.max(1) as f64;
    let ece =
        bins.iter().map(|&(count, conf, correct)| (conf - correct).abs() / nf * f64::from(u8::from(count > 0))).sum();
    Evaluation {
        n,
        labels: labels.to_vec(),
        accuracy: (0..k).map(|c| confusion[c][c]).sum::<usize>() as f64 / nf,
        macro_f1: per_class.iter().map(|m| m.f1).sum::<f64>() / k.max(1) as f64,
        per_class: labels.iter().cloned().zip(per_class).collect(),
        confusion,
        brier: brier / nf,
        ece,
        log_loss: log_loss / nf,
    }
}

fn class_metrics(confusion: &[Vec<usize>], c: usize) -> ClassMetrics {
    let tp = confusion[c][c] as f64;
    let predicted: usize = confusion.iter().map(|row| row[c]).sum();
    let support: usize = confusion[c].iter().sum();
    let ratio = |a: f64, b: usize| if b == 0 { 0.0 } else { a / b as f64 };
    let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    ClassMetrics { precision, recall, f1, support }
}

impl Evaluation {
    /// A human-readable report.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "samples      {}", self.n);
        let _ = writeln!(s, "accuracy     {:.3}", self.accuracy);
        let _ = writeln!(s, "macro-F1     {:.3}", self.macro_f1);
        let _ =
            writeln!(s, "Brier        {:.3}   (0 is perfect; uniform guessing over 3 labels gives 0.667)", self.brier);
        let _ = writeln!(s, "ECE          {:.3}   ({ECE_BINS} bins on the top probability)", self.ece);
        let _ = writeln!(s, "log-loss     {:.3}\n", self.log_loss);
        let _ = writeln!(s, "{:<12} {:>9} {:>9} {:>9} {:>8}", "label", "precision", "recall", "F1", "support");
        for label in &self.labels {
            let m = &self.per_class[label];
            let _ = writeln!(s, "{label:<12} {:>9.3} {:>9.3} {:>9.3} {:>8}", m.precision, m.recall, m.f1, m.support);
        }
        let _ = writeln!(s, "\nconfusion (rows: true label, columns: predicted)");
        let _ = write!(s, "{:<12}", "");
        self.labels.iter().for_each(|l| {
            let _ = write!(s, " {l:>11}");
        });
        for (label, row) in self.labels.iter().zip(&self.confusion) {
            let _ = write!(s, "\n{label:<12}");
            row.iter().for_each(|c| {
                let _ = write!(s, " {c:>11}");
            });
        }
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn perfect_and_confused_predictions() {
        let labels: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let probs = array![[0.9f32, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]];
        let e = evaluate(&labels, &[0, 1, 1, 0], probs.view());
        assert_eq!(e.confusion, vec![vec![2, 0], vec![1, 1]]);
        assert!((e.accuracy - 0.75).abs() < 1e-12);
        // a: P=2/3 R=1 F1=0.8; b: P=1 R=0.5 F1=2/3.
        assert!((e.macro_f1 - (0.8 + 2.0 / 3.0) / 2.0).abs() < 1e-9);
        let brier = (0.02 + 0.08 + 0.72 + 0.18) / 4.0;
        assert!((e.brier - brier).abs() < 1e-6, "{}", e.brier);
        // Bins: 0.9 (right), 0.8 (right), 0.6 (wrong), 0.7 (right) -> |0.9-1|+|0.8-1|+|0.6-0|+|0.7-1| over 4.
        assert!((e.ece - (0.1 + 0.2 + 0.6 + 0.3) / 4.0).abs() < 1e-6, "{}", e.ece);
    }
}
