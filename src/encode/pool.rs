//! Stage 4, encode: masked mean pooling, shared by every backend so they pool alike.

use super::DIM;

/// Mean of `[rows, len, DIM]` hidden states over each row's real tokens (mask 1), one `DIM`
/// vector per row. Padding (mask 0) never enters a real row's mean.
pub(crate) fn mean(hidden: &[f32], mask: &[i64], rows: usize, len: usize) -> Vec<Vec<f32>> {
    (0..rows)
        .map(|r| {
            let mut sum = vec![0f32; DIM];
            let mut count = 0f32;
            for t in 0..len {
                if mask[r * len + t] == 0 {
                    continue;
                }
                count += 1.0;
                let row = &hidden[(r * len + t) * DIM..(r * len + t + 1) * DIM];
                sum.iter_mut().zip(row).for_each(|(s, h)| *s += h);
            }
            let count = count.max(1.0);
            sum.iter_mut().for_each(|s| *s /= count);
            sum
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_never_enters_the_mean() {
        // Row 0: two real tokens (1s and 3s); row 1: one real token (5s) and one pad (99s).
        let token = |v: f32| vec![v; DIM];
        let hidden: Vec<f32> = [1.0, 3.0, 5.0, 99.0].into_iter().flat_map(token).collect();
        let pooled = mean(&hidden, &[1, 1, 1, 0], 2, 2);
        assert!(pooled[0].iter().all(|&v| v == 2.0));
        assert!(pooled[1].iter().all(|&v| v == 5.0));
    }
}
