//! Comparing groups of articles (outlets, months): mean stance with bootstrap intervals and,
//! for every pair of groups, the difference with its interval and a permutation p-value.
//! Articles are the resampling unit; every draw comes from a seeded generator, so the same
//! input and seed give the same output bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Location, Result};
use crate::output::round4;
use crate::rng::Rng;

/// One article as `compare` needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleStance {
    /// Group key.
    pub group: String,
    /// Word-weighted mean stance of the article.
    pub stance: f64,
    /// Paragraphs in the article.
    pub paragraphs: u64,
    /// Content paragraphs scored.
    pub scored: u64,
    /// Shares of optimistic, neutral, skeptical content paragraphs.
    pub shares: [f64; 3],
}

/// One row of the groups file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupRow {
    /// Group key.
    pub group: String,
    /// Articles with at least one scored paragraph.
    pub n_articles: usize,
    /// Paragraphs, furniture included.
    pub n_paragraphs: u64,
    /// Content paragraphs scored.
    pub n_scored: u64,
    /// Mean over articles of article stance_mean.
    pub mean_stance: f64,
    /// 2.5th percentile of the bootstrap distribution of the mean.
    pub ci_low: f64,
    /// 97.5th percentile.
    pub ci_high: f64,
    /// Share of the group's content paragraphs labeled optimistic.
    pub share_optimistic: f64,
    /// Share labeled neutral.
    pub share_neutral: f64,
    /// Share labeled skeptical.
    pub share_skeptical: f64,
}

/// One row of the pairs file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PairRow {
    /// First group.
    pub group_a: String,
    /// Second group.
    pub group_b: String,
    /// mean_stance(a) - mean_stance(b).
    pub diff: f64,
    /// 2.5th percentile of the bootstrap distribution of the difference.
    pub ci_low: f64,
    /// 97.5th percentile.
    pub ci_high: f64,
    /// Two-sided permutation p-value for "no difference" ((hits + 1) / (resamples + 1)).
    pub p_value: f64,
}

/// Reads articles.csv, grouping by `by` (a column name, or `month` for the date's YYYY-MM).
/// Articles without a stance (no content paragraphs) are left out.
pub fn read_articles(path: &Path, by: &str) -> Result<Vec<ArticleStance>> {
    read_articles_from(crate::output::open(path)?, path, by)
}

/// [`read_articles`] from any reader (the Python package passes a DataFrame as CSV text);
/// `path` names the input in messages.
pub fn read_articles_from<R: std::io::Read>(input: R, path: &Path, by: &str) -> Result<Vec<ArticleStance>> {
    let mut reader = csv::Reader::from_reader(input);
    let headers = reader.headers().map_err(|source| Error::Csv { path: path.into(), source })?.clone();
    let col = |name: &str| headers.iter().position(|h| crate::input::header_name(h) == crate::input::header_name(name));
    let key_col = if by == "month" { "date" } else { by };
    let missing = |name: &str| {
        Error::record(
            Location::line(path, 1),
            format!("no column {name:?}; is this an articles.csv from `stancemeter score`?"),
        )
    };
    let key = col(key_col).ok_or_else(|| missing(key_col))?;
    let need = ["stance_mean", "n_paragraphs", "n_scored", "share_optimistic", "share_neutral", "share_skeptical"];
    let idx: Vec<usize> = need.iter().map(|n| col(n).ok_or_else(|| missing(n))).collect::<Result<_>>()?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|source| Error::Csv { path: path.into(), source })?;
        let at = Location::line(path, record.position().map_or(0, |p| p.line()));
        if record.get(idx[0]).unwrap_or("").is_empty() {
            continue;
        }
        let num = |i: usize| -> Result<f64> {
            let raw = record.get(idx[i]).unwrap_or("");
            raw.parse()
                .ok()
                .filter(|x: &f64| x.is_finite())
                .ok_or_else(|| Error::record(at.clone(), format!("{} is not a finite number: {raw:?}", need[i])))
        };
        let mut group = record.get(key).unwrap_or("").to_string();
        if by == "month" && !group.is_empty() {
            group = iso_month(&group).ok_or_else(|| {
                Error::record(
                    at.clone(),
                    format!("date {group:?} is not ISO 8601 (YYYY-MM-DD); --by month needs ISO dates"),
                )
            })?;
        }
        out.push(ArticleStance {
            group: if group.is_empty() { "(none)".into() } else { group },
            stance: num(0)?,
            paragraphs: num(1)? as u64,
            scored: num(2)? as u64,
            shares: [num(3)?, num(4)?, num(5)?],
        });
    }
    Ok(out)
}

/// The `YYYY-MM` of an ISO 8601 date, if it is one.
fn iso_month(date: &str) -> Option<String> {
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shape = digits(0..4) && b.get(4) == Some(&b'-') && digits(5..7) && matches!(b.get(7), None | Some(b'-'));
    shape.then(|| date[..7].to_string())
}

/// What `compare` reads and writes.
#[derive(Debug, Clone)]
pub struct CompareSettings {
    /// articles.csv from `score`.
    pub articles: PathBuf,
    /// Column to group by, or `month`.
    pub by: String,
    /// Group rows go here; its folder is created if missing.
    pub out: PathBuf,
    /// Pair rows go here; `None` is `out` with extension `.pairs.csv`.
    pub pairs: Option<PathBuf>,
    /// Bootstrap and permutation resamples (at least 1).
    pub resamples: usize,
    /// Seed for resampling.
    pub seed: u64,
}

/// What `compare` wrote.
#[derive(Debug, Clone)]
pub struct CompareSummary {
    /// Groups written.
    pub groups: usize,
    /// Pairs written.
    pub pairs: usize,
    /// Where the pairs went.
    pub pairs_path: PathBuf,
}

/// Runs `compare`: reads, resamples, and writes both files.
pub fn run(settings: &CompareSettings) -> Result<CompareSummary> {
    let articles = read_articles(&settings.articles, &settings.by)?;
    if articles.is_empty() {
        return Err(Error::NoInput(format!("{}: no article with a stance to compare", settings.articles.display())));
    }
    let (groups, pairs) = compare(&articles, settings.resamples, settings.seed);
    let pairs_path = settings.pairs.clone().unwrap_or_else(|| settings.out.with_extension("pairs.csv"));
    for path in [&settings.out, &pairs_path] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
    }
    crate::output::write_rows(&settings.out, &groups)?;
    crate::output::write_rows(&pairs_path, &pairs)?;
    Ok(CompareSummary { groups: groups.len(), pairs: pairs.len(), pairs_path })
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

fn resample_mean(xs: &[f64], rng: &mut Rng) -> f64 {
    (0..xs.len()).map(|_| xs[rng.below(xs.len())]).sum::<f64>() / xs.len().max(1) as f64
}

/// The 2.5th and 97.5th percentiles (linear interpolation) of draws.
fn interval(mut draws: Vec<f64>) -> (f64, f64) {
    draws.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| {
        let pos = p * (draws.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        draws[lo] + (draws[hi] - draws[lo]) * (pos - lo as f64)
    };
    (q(0.025), q(0.975))
}

/// Per-group rows and per-pair rows.
pub fn compare(articles: &[ArticleStance], resamples: usize, seed: u64) -> (Vec<GroupRow>, Vec<PairRow>) {
    let resamples = resamples.max(1);
    let mut groups: BTreeMap<&str, Vec<&ArticleStance>> = BTreeMap::new();
    articles.iter().for_each(|a| groups.entry(a.group.as_str()).or_default().push(a));
    let stances: Vec<(&str, Vec<f64>)> =
        groups.iter().map(|(g, arts)| (*g, arts.iter().map(|a| a.stance).collect())).collect();
    let mut rng = Rng::new(seed);
    let rows = groups
        .iter()
        .zip(&stances)
        .map(|((group, arts), (_, xs))| {
            let draws: Vec<f64> = (0..resamples).map(|_| resample_mean(xs, &mut rng)).collect();
            let (lo, hi) = interval(draws);
            let scored: u64 = arts.iter().map(|a| a.scored).sum();
            let share =
                |i: usize| arts.iter().map(|a| a.shares[i] * a.scored as f64).sum::<f64>() / scored.max(1) as f64;
            GroupRow {
                group: group.to_string(),
                n_articles: arts.len(),
                n_paragraphs: arts.iter().map(|a| a.paragraphs).sum(),
                n_scored: scored,
                mean_stance: round4(mean(xs)),
                ci_low: round4(lo),
                ci_high: round4(hi),
                share_optimistic: round4(share(0)),
                share_neutral: round4(share(1)),
                share_skeptical: round4(share(2)),
            }
        })
        .collect();
    let mut pairs = Vec::new();
    for (i, (ga, a)) in stances.iter().enumerate() {
        for (gb, b) in &stances[i + 1..] {
            pairs.push(pair(ga, a, gb, b, resamples, &mut rng));
        }
    }
    (rows, pairs)
}

fn pair(ga: &str, a: &[f64], gb: &str, b: &[f64], resamples: usize, rng: &mut Rng) -> PairRow {
    let diff = mean(a) - mean(b);
    let draws: Vec<f64> = (0..resamples).map(|_| resample_mean(a, rng) - resample_mean(b, rng)).collect();
    let (lo, hi) = interval(draws);
    let mut pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let mut hits = 0usize;
    for _ in 0..resamples {
        // Fisher-Yates shuffle, then split at |a|.
        for i in (1..pooled.len()).rev() {
            pooled.swap(i, rng.below(i + 1));
        }
        let d = mean(&pooled[..a.len()]) - mean(&pooled[a.len()..]);
        if d.abs() >= diff.abs() - 1e-12 {
            hits += 1;
        }
    }
    PairRow {
        group_a: ga.to_string(),
        group_b: gb.to_string(),
        diff: round4(diff),
        ci_low: round4(lo),
        ci_high: round4(hi),
        p_value: round4((hits + 1) as f64 / (resamples + 1) as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_come_only_from_iso_dates() {
        assert_eq!(iso_month("2025-03-14"), Some("2025-03".into()));
        assert_eq!(iso_month("2025-03"), Some("2025-03".into()));
        for bad in ["14/03/2025", "March 2025", "2025-3-14", "20250314"] {
            assert_eq!(iso_month(bad), None, "{bad}");
        }
    }

    fn art(group: &str, stance: f64) -> ArticleStance {
        ArticleStance { group: group.into(), stance, paragraphs: 4, scored: 2, shares: [0.5, 0.5, 0.0] }
    }

    #[test]
    fn known_difference_is_found_and_reproducible() {
        let mut articles = Vec::new();
        for i in 0..20 {
            let jitter = (i % 5) as f64 * 0.01;
            articles.push(art("hopeful", 0.5 + jitter));
            articles.push(art("gloomy", -0.3 + jitter));
        }
        let (groups, pairs) = compare(&articles, 500, 1);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].group, "gloomy");
        assert!((groups[1].mean_stance - 0.52).abs() < 1e-9);
        assert!(groups[1].ci_low <= 0.52 && 0.52 <= groups[1].ci_high);
        assert!((pairs[0].diff + 0.8).abs() < 1e-9);
        assert!(pairs[0].ci_high < 0.0 && pairs[0].p_value < 0.01);
        assert_eq!(compare(&articles, 500, 1), (groups, pairs));
    }

    #[test]
    fn identical_groups_are_not_different() {
        let articles: Vec<ArticleStance> =
            (0..30).flat_map(|i| [art("a", (i % 7) as f64 / 10.0), art("b", (i % 7) as f64 / 10.0)]).collect();
        let (_, pairs) = compare(&articles, 500, 3);
        assert_eq!(pairs[0].diff, 0.0);
        assert!(pairs[0].ci_low < 0.0 && pairs[0].ci_high > 0.0 && pairs[0].p_value > 0.5);
    }
}
