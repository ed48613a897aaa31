//! Training stance heads: class-weighted softmax regression or a one-hidden-layer network,
//! fitted by full-batch Adam; the candidate with the best dev macro-F1 wins, and its softmax
//! temperature is then fitted on dev so probabilities are calibrated.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::Serialize;

use super::head::{forward, softmax_rows, Activation, Layer};
use super::metrics::evaluate;
use crate::rng::Rng;

/// Hyper-parameters of one candidate head.
#[derive(Debug, Clone, Serialize)]
pub struct TrainOptions {
    /// Hidden units; `None` is a linear (softmax regression) head.
    pub hidden: Option<usize>,
    /// L2 penalty on weights.
    pub l2: f32,
    /// Full-batch Adam steps.
    pub epochs: usize,
    /// Adam step size.
    pub learning_rate: f32,
    /// Seed for initial weights.
    pub seed: u64,
}

impl TrainOptions {
    /// A short description for reports.
    pub fn describe(&self) -> String {
        match self.hidden {
            None => format!("linear l2={}", self.l2),
            Some(h) => format!("mlp hidden={h} l2={}", self.l2),
        }
    }
}

/// The candidates `stancemeter train` compares on dev data.
pub(crate) fn default_candidates(seed: u64) -> Vec<TrainOptions> {
    let mut out = Vec::new();
    for l2 in [1e-4, 1e-3, 1e-2] {
        out.push(TrainOptions { hidden: None, l2, epochs: 600, learning_rate: 0.02, seed });
    }
    for l2 in [1e-4, 1e-3, 1e-2] {
        out.push(TrainOptions { hidden: Some(128), l2, epochs: 400, learning_rate: 0.005, seed });
    }
    out
}

struct Param {
    w: Array2<f32>,
    b: Array1<f32>,
    m_w: Array2<f32>,
    v_w: Array2<f32>,
    m_b: Array1<f32>,
    v_b: Array1<f32>,
    activation: Activation,
}

impl Param {
    fn new(out: usize, inp: usize, activation: Activation, rng: &mut Rng, random: bool) -> Param {
        let scale = (2.0 / inp as f64).sqrt();
        let w = Array2::from_shape_fn((out, inp), |_| if random { (rng.normal() * scale) as f32 } else { 0.0 });
        Param {
            m_w: Array2::zeros(w.raw_dim()),
            v_w: Array2::zeros(w.raw_dim()),
            w,
            b: Array1::zeros(out),
            m_b: Array1::zeros(out),
            v_b: Array1::zeros(out),
            activation,
        }
    }

    fn adam(&mut self, gw: &Array2<f32>, gb: &Array1<f32>, lr: f32, step: i32) {
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let (c1, c2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
        self.m_w = &self.m_w * b1 + gw * (1.0 - b1);
        self.v_w = &self.v_w * b2 + &gw.mapv(|g| g * g) * (1.0 - b2);
        self.m_b = &self.m_b * b1 + gb * (1.0 - b1);
        self.v_b = &self.v_b * b2 + &gb.mapv(|g| g * g) * (1.0 - b2);
        let denom_w = self.v_w.mapv(|v| (v / c2).sqrt() + eps);
        let denom_b = self.v_b.mapv(|v| (v / c2).sqrt() + eps);
        self.w = &self.w - &(&self.m_w / c1 / &denom_w * lr);
        self.b = &self.b - &(&self.m_b / c1 / &denom_b * lr);
    }
}

/// Fits a head's layers on features `x` (`[n, d]`) and label indexes `y` in `0..k`. Classes
/// are weighted by inverse frequency so a rare stance is not ignored.
pub(crate) fn fit(x: ArrayView2<f32>, y: &[usize], k: usize, options: &TrainOptions) -> Vec<Layer> {
    let (n, d) = x.dim();
    let mut rng = Rng::new(options.seed);
    let mut params = match options.hidden {
        None => vec![Param::new(k, d, Activation::None, &mut rng, false)],
        Some(h) => {
            vec![Param::new(h, d, Activation::Relu, &mut rng, true), Param::new(k, h, Activation::None, &mut rng, true)]
        }
    };
    let mut counts = vec![0f32; k];
    y.iter().for_each(|&c| counts[c] += 1.0);
    let class_weight: Vec<f32> =
        counts.iter().map(|&c| if c > 0.0 { n as f32 / (k as f32 * c) } else { 0.0 }).collect();
    let sample_weight: Array1<f32> = y.iter().map(|&c| class_weight[c]).collect();
    let total: f32 = sample_weight.sum();
    for step in 1..=options.epochs {
        let mut acts = vec![x.to_owned()];
        for p in &params {
            let mut z = acts.last().map(|a| a.dot(&p.w.t()) + &p.b).unwrap_or_default();
            if p.activation == Activation::Relu {
                z.mapv_inplace(|v| v.max(0.0));
            }
            acts.push(z);
        }
        let mut grad = acts.pop().unwrap_or_default();
        softmax_rows(&mut grad);
        for (i, &c) in y.iter().enumerate() {
            grad[[i, c]] -= 1.0;
        }
        grad *= &sample_weight.view().insert_axis(Axis(1));
        grad /= total;
        for (l, p) in params.iter_mut().enumerate().rev() {
            let input = &acts[l];
            let gw = grad.t().dot(input) + &p.w * options.l2;
            let gb = grad.sum_axis(Axis(0));
            if l > 0 {
                let mut back = grad.dot(&p.w);
                back.zip_mut_with(input, |g, &a| {
                    if a <= 0.0 {
                        *g = 0.0
                    }
                });
                grad = back;
            }
            p.adam(&gw, &gb, options.learning_rate, step as i32);
        }
    }
    params.into_iter().map(|p| Layer { weights: p.w, bias: p.b, activation: p.activation }).collect()
}

/// The softmax temperature that minimises negative log-likelihood of `y` under `logits`.
pub(crate) fn fit_temperature(logits: ArrayView2<f32>, y: &[usize]) -> f32 {
    let nll = |t: f32| {
        let mut p = logits.mapv(|v| v / t);
        softmax_rows(&mut p);
        y.iter().enumerate().map(|(i, &c)| -f64::from(p[[i, c]].max(1e-12)).ln()).sum::<f64>()
    };
    let mut best = (f64::INFINITY, 1.0f32);
    // Log-spaced grid from 0.05 to 20, then a finer pass around the best point.
    for i in 0..=120 {
        let t = 0.05f32 * 400f32.powf(i as f32 / 120.0);
        let v = nll(t);
        if v < best.0 {
            best = (v, t);
        }
    }
    let centre = best.1;
    for i in -50..=50 {
        let t = centre * 1.05f32.powf(i as f32 / 10.0);
        let v = nll(t);
        if v < best.0 {
            best = (v, t);
        }
    }
    best.1
}

/// Logits for every sample from a head fitted without that sample's fold. `folds[i]` is
/// sample i's fold in `0..k`; folds group whole articles so no article leaks across.
pub(crate) fn out_of_fold_logits(
    x: ArrayView2<f32>,
    y: &[usize],
    folds: &[usize],
    k: usize,
    options: &TrainOptions,
) -> Array2<f32> {
    let classes = y.iter().max().map_or(0, |m| m + 1);
    let mut out = Array2::zeros((x.nrows(), classes));
    for fold in 0..k {
        let fit_rows: Vec<usize> = (0..x.nrows()).filter(|&i| folds[i] != fold).collect();
        let held_rows: Vec<usize> = (0..x.nrows()).filter(|&i| folds[i] == fold).collect();
        if held_rows.is_empty() || fit_rows.is_empty() {
            continue;
        }
        let x_fit = x.select(Axis(0), &fit_rows);
        let y_fit: Vec<usize> = fit_rows.iter().map(|&i| y[i]).collect();
        let layers = fit(x_fit.view(), &y_fit, classes, options);
        let logits = forward(&layers, x.select(Axis(0), &held_rows).view());
        for (row, &i) in held_rows.iter().enumerate() {
            out.row_mut(i).assign(&logits.row(row));
        }
    }
    out
}

/// One candidate's result on dev data.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateResult {
    /// What was tried.
    pub options: TrainOptions,
    /// Dev macro-F1 of the uncalibrated head.
    pub dev_macro_f1: f64,
    /// Dev accuracy.
    pub dev_accuracy: f64,
}

/// Fits every candidate on train, scores it on dev, and returns all results with the best
/// candidate's layers (ties go to the earlier, simpler candidate).
pub(crate) fn select(
    train: (ArrayView2<f32>, &[usize]),
    dev: (ArrayView2<f32>, &[usize]),
    labels: &[String],
    candidates: &[TrainOptions],
) -> (Vec<CandidateResult>, usize, Vec<Layer>) {
    let mut results = Vec::new();
    let mut best: Option<(f64, usize, Vec<Layer>)> = None;
    for (i, options) in candidates.iter().enumerate() {
        let layers = fit(train.0, train.1, labels.len(), options);
        let mut probs = forward(&layers, dev.0);
        softmax_rows(&mut probs);
        let eval = evaluate(labels, dev.1, probs.view());
        results.push(CandidateResult {
            options: options.clone(),
            dev_macro_f1: eval.macro_f1,
            dev_accuracy: eval.accuracy,
        });
        if best.as_ref().is_none_or(|b| eval.macro_f1 > b.0 + 1e-9) {
            best = Some((eval.macro_f1, i, layers));
        }
    }
    let (_, index, layers) = best.unwrap_or((0.0, 0, Vec::new()));
    (results, index, layers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::metrics::argmax;
    use ndarray::array;

    #[test]
    fn learns_separable_classes_and_temperature_grows_when_overconfident() {
        let x = array![[1.0f32, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.5, 0.5], [0.45, 0.55]];
        let y = [0, 0, 2, 2, 1, 1];
        for hidden in [None, Some(8)] {
            let opts = TrainOptions { hidden, l2: 1e-4, epochs: 800, learning_rate: 0.05, seed: 1 };
            let logits = forward(&fit(x.view(), &y, 3, &opts), x.view());
            let predicted: Vec<usize> = logits.rows().into_iter().map(|r| argmax(&r.to_vec())).collect();
            assert_eq!(predicted, y, "{hidden:?}");
        }
        // Out-of-fold logits come from heads that never saw the row, yet still separate classes.
        let folds = [0, 1, 0, 1, 0, 1];
        let opts = TrainOptions { hidden: None, l2: 1e-4, epochs: 800, learning_rate: 0.05, seed: 1 };
        let oof = out_of_fold_logits(x.view(), &y, &folds, 2, &opts);
        for (i, &c) in [0usize, 2].iter().enumerate() {
            let row = oof.row(i * 2).to_vec();
            assert_eq!(argmax(&row), c, "row {} -> {row:?}", i * 2);
        }
        // Confident logits, half of them wrong: the fitted temperature must soften them.
        let logits = array![[5.0f32, 0.0], [5.0, 0.0], [0.0, 5.0], [0.0, 5.0]];
        assert!(fit_temperature(logits.view(), &[0, 1, 1, 0]) > 3.0);
    }
}
