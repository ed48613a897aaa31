//! `stancemeter compare`: columns, reproducibility, and a difference known by construction.

use std::fmt::Write;

use crate::common::{column, numbers, read_csv, stancemeter};

/// An articles.csv with two outlets whose mean stance differs by 0.6 by construction, and a
/// third identical to the first.
fn articles_csv() -> String {
    let mut s = String::from(
        "article_id,outlet,date,stance_mean,n_paragraphs,n_scored,share_optimistic,share_neutral,share_skeptical\n",
    );
    for i in 0..30 {
        let jitter = f64::from(i % 5) * 0.05 - 0.1;
        let _ = writeln!(s, "h{i},Hopeful,2025-0{}-01,{:.4},5,4,0.75,0.25,0", 1 + i % 3, 0.4 + jitter);
        let _ = writeln!(s, "g{i},Gloomy,2025-0{}-01,{:.4},6,4,0,0.25,0.75", 1 + i % 3, -0.2 + jitter);
        let _ = writeln!(s, "t{i},Twin,2025-0{}-01,{:.4},5,4,0.75,0.25,0", 1 + i % 3, 0.4 + jitter);
    }
    let _ = writeln!(s, "empty,Gloomy,2025-01-01,,2,0,,,");
    s
}

#[test]
fn compare_finds_the_built_in_difference_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("articles.csv"), articles_csv()).unwrap();
    let args = ["compare", "--articles", "articles.csv", "--out", "groups.csv", "--seed", "7", "--resamples", "1000"];
    stancemeter(dir.path(), &args).expect_code(0);
    let (h, groups) = read_csv(&dir.path().join("groups.csv"));
    assert_eq!(
        h,
        [
            "group",
            "n_articles",
            "n_paragraphs",
            "n_scored",
            "mean_stance",
            "ci_low",
            "ci_high",
            "share_optimistic",
            "share_neutral",
            "share_skeptical"
        ]
    );
    assert_eq!(column(&h, &groups, "group"), vec!["Gloomy", "Hopeful", "Twin"]);
    assert_eq!(column(&h, &groups, "n_articles"), vec!["30", "30", "30"], "articles without stance are left out");
    let mean = numbers(&h, &groups, "mean_stance");
    assert!((mean[1] - mean[0] - 0.6).abs() < 1e-9);
    assert_eq!(column(&h, &groups, "share_skeptical")[0], "0.75");

    let (ph, pairs) = read_csv(&dir.path().join("groups.pairs.csv"));
    assert_eq!(ph, ["group_a", "group_b", "diff", "ci_low", "ci_high", "p_value"]);
    let (a, b) = (column(&ph, &pairs, "group_a"), column(&ph, &pairs, "group_b"));
    let [diff, lo, hi, p] = ["diff", "ci_low", "ci_high", "p_value"].map(|name| numbers(&ph, &pairs, name));
    let find = |x: &str, y: &str| (0..pairs.len()).find(|&i| a[i] == x && b[i] == y).expect("pair row");
    let gh = find("Gloomy", "Hopeful");
    assert!(
        (diff[gh] + 0.6).abs() < 1e-9 && lo[gh] < diff[gh] && diff[gh] < hi[gh] && hi[gh] < 0.0 && p[gh] < 0.01,
        "{:?}",
        pairs[gh]
    );
    let ht = find("Hopeful", "Twin");
    assert!(lo[ht] < 0.0 && hi[ht] > 0.0 && p[ht] > 0.5, "identical outlets must not differ: {:?}", pairs[ht]);

    let first = std::fs::read(dir.path().join("groups.csv")).unwrap();
    stancemeter(dir.path(), &args).expect_code(0);
    assert_eq!(first, std::fs::read(dir.path().join("groups.csv")).unwrap(), "same seed, same bytes");
}

#[test]
fn compare_by_month_and_bad_columns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("articles.csv"), articles_csv()).unwrap();
    stancemeter(dir.path(), &["compare", "--articles", "articles.csv", "--by", "month", "--out", "m.csv"])
        .expect_code(0);
    let (h, rows) = read_csv(&dir.path().join("m.csv"));
    assert_eq!(column(&h, &rows, "group"), vec!["2025-01", "2025-02", "2025-03"]);
    let run = stancemeter(dir.path(), &["compare", "--articles", "articles.csv", "--by", "region", "--out", "r.csv"]);
    run.expect_code(1);
    assert!(run.stderr().contains("articles.csv:1: no column \"region\""), "{}", run.show());
    assert!(!dir.path().join("r.csv").exists());
}
