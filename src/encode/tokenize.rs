//! Stage 3, tokenize: the model's own tokenizer.json, with its built-in 128-token truncation
//! and padding switched off, and the windowing rule that keeps long paragraphs whole.

use std::path::Path;

use tokenizers::Tokenizer;

use crate::error::{Error, Result};

/// Content tokens per window; with `[CLS]` and `[SEP]` a window is 256 tokens.
pub(crate) const WINDOW_CONTENT: usize = 254;
/// Distance between window starts: consecutive windows overlap by half.
pub(crate) const WINDOW_STRIDE: usize = 127;

/// The token windows of one paragraph.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Windows {
    /// Each window as `[CLS] tokens [SEP]` ids.
    pub(crate) windows: Vec<Vec<u32>>,
    /// Number of content tokens in the paragraph.
    pub(crate) content_tokens: usize,
}

/// A BERT WordPiece tokenizer loaded from tokenizer.json.
pub(crate) struct WordPieceTokenizer {
    inner: Tokenizer,
    cls: u32,
    sep: u32,
}

impl WordPieceTokenizer {
    /// Loads tokenizer.json and turns off its fixed truncation and padding.
    pub(crate) fn from_file(path: &Path) -> Result<WordPieceTokenizer> {
        let bad = |message: String| Error::Model { path: path.to_path_buf(), problem: message };
        let mut inner = Tokenizer::from_file(path).map_err(|e| bad(format!("cannot load tokenizer ({e})")))?;
        inner.with_truncation(None).map_err(|e| bad(format!("cannot disable truncation ({e})")))?;
        inner.with_padding(None);
        let id = |token: &str| inner.token_to_id(token).ok_or_else(|| bad(format!("vocabulary lacks {token}")));
        let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
        Ok(WordPieceTokenizer { inner, cls, sep })
    }

    /// Tokenizes paragraphs (in parallel) and cuts each into windows.
    pub(crate) fn windows(&self, texts: &[&str]) -> Result<Vec<Windows>> {
        let encodings = self.inner.encode_batch(texts.to_vec(), false).map_err(|source| Error::Tokenizer {
            context: format!("encoding a batch of {} paragraphs", texts.len()),
            source,
        })?;
        Ok(encodings.iter().map(|e| self.split(e.get_ids())).collect())
    }

    fn split(&self, ids: &[u32]) -> Windows {
        let windows = window_starts(ids.len())
            .into_iter()
            .map(|start| {
                let end = (start + WINDOW_CONTENT).min(ids.len());
                let mut w = Vec::with_capacity(end - start + 2);
                w.push(self.cls);
                w.extend_from_slice(&ids[start..end]);
                w.push(self.sep);
                w
            })
            .collect();
        Windows { windows, content_tokens: ids.len() }
    }
}

/// Window starts for `n` content tokens: every `WINDOW_STRIDE` while the window ends before
/// the text does, then one last window flush with the end.
pub(crate) fn window_starts(n: usize) -> Vec<usize> {
    if n <= WINDOW_CONTENT {
        return vec![0];
    }
    let mut starts: Vec<usize> = (0..).map(|k| k * WINDOW_STRIDE).take_while(|s| s + WINDOW_CONTENT < n).collect();
    let last = n - WINDOW_CONTENT;
    if starts.last() != Some(&last) {
        starts.push(last);
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn window_starts_cover_every_token() {
        let cases: &[(usize, &[usize])] = &[
            (0, &[0]),
            (10, &[0]),
            (254, &[0]),
            (255, &[0, 1]),
            (381, &[0, 127]),
            (382, &[0, 127, 128]),
            (600, &[0, 127, 254, 346]),
        ];
        for &(n, want) in cases {
            assert_eq!(window_starts(n), want, "n = {n}");
        }
    }

    proptest! {
        #[test]
        fn windows_cover_every_token_in_strides_of_at_most_one_stride(n in 0usize..5_000) {
            let starts = window_starts(n);
            let end = |s: usize| (s + WINDOW_CONTENT).min(n);
            prop_assert_eq!(starts[0], 0);
            prop_assert_eq!(end(starts[starts.len() - 1]), n, "the last window ends with the text");
            for pair in starts.windows(2) {
                prop_assert!(pair[0] < pair[1] && pair[1] - pair[0] <= WINDOW_STRIDE, "starts {:?}", pair);
                prop_assert!(pair[1] <= end(pair[0]), "a gap between windows at {:?}", pair);
            }
            for &s in &starts {
                prop_assert!(end(s) - s <= WINDOW_CONTENT);
            }
        }
    }
}
