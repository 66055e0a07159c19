//! "Is A better than B, and how sure are we?": every pair of row labels
//! compared with the Wilcoxon signed-rank test on their per-class mean AUROC
//! (Holm-corrected over all pairs), and all row labels ranked over classes
//! with the Friedman test and the Nemenyi critical difference (Demšar 2006).
//! Written as `comparisons.md|csv`; the ranking also feeds the CD diagram.

use std::fmt::Write as _;

use polars::prelude::*;

use super::aggregate::Grid;
use super::stats::{self, Friedman, Wilcoxon, WilcoxonMethod};
use super::table::md_escape;

/// The significance level of every decision in the report.
pub const ALPHA: f64 = 0.05;

/// The Wilcoxon test of one pair of row labels.
#[derive(Clone, Debug, PartialEq)]
pub struct PairTest {
    pub a: String,
    pub b: String,
    /// Classes where both have a mean (the pairs of the test).
    pub classes: usize,
    /// Mean over those classes of mean(a) - mean(b).
    pub mean_diff: Option<f64>,
    /// None with no common class.
    pub test: Option<Wilcoxon>,
    /// Holm-adjusted p-value over every pair that has a test.
    pub p_holm: Option<f64>,
}

impl PairTest {
    /// `a`, `b` or None (no significant difference at [`ALPHA`] after Holm).
    pub fn better(&self) -> Option<&str> {
        let (t, p) = (self.test.as_ref()?, self.p_holm?);
        if p >= ALPHA || t.effect == 0.0 {
            return None;
        }
        Some(if t.effect > 0.0 { &self.a } else { &self.b })
    }
}

/// Average ranks over classes and the Friedman test.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranking {
    /// Row labels ranked (those with a result in every class used).
    pub rows: Vec<String>,
    /// Class names used as blocks: those where every ranked row has a mean.
    pub classes: Vec<String>,
    /// Classes left out: some ranked row has no mean there.
    pub dropped: Vec<String>,
    pub friedman: Friedman,
    /// Nemenyi critical difference of average ranks at [`ALPHA`].
    pub cd: f64,
}

/// Every comparison of a grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparisons {
    pub pairs: Vec<PairTest>,
    /// None with fewer than two rows or two complete classes; the reason.
    pub ranking: Result<Ranking, String>,
    /// Rows left out of the ranking (no result for some class), with why.
    pub unranked: Vec<String>,
}

/// Compares the rows of `grid` (AUROC) over its classes.
pub fn compare(grid: &Grid) -> Comparisons {
    let (ranking, unranked) = rank(grid);
    Comparisons {
        pairs: pair_tests(grid),
        ranking,
        unranked,
    }
}

/// The Wilcoxon test of every pair of rows over the classes where both have
/// a mean, Holm-adjusted over the pairs that have a test.
fn pair_tests(grid: &Grid) -> Vec<PairTest> {
    let n_rows = grid.rows.len();
    let mut pairs = Vec::new();
    for i in 0..n_rows {
        for j in i + 1..n_rows {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for (ci, cj) in grid.cells[i].iter().zip(&grid.cells[j]) {
                if let (Some(a), Some(b)) = (ci.mean, cj.mean) {
                    x.push(a);
                    y.push(b);
                }
            }
            let classes = x.len();
            let mean_diff = (classes > 0)
                .then(|| x.iter().zip(&y).map(|(a, b)| a - b).sum::<f64>() / classes as f64);
            pairs.push(PairTest {
                a: grid.rows[i].clone(),
                b: grid.rows[j].clone(),
                classes,
                mean_diff,
                test: (classes > 0).then(|| stats::wilcoxon(&x, &y)).flatten(),
                p_holm: None,
            });
        }
    }
    let tested: Vec<usize> = (0..pairs.len())
        .filter(|&k| pairs[k].test.is_some())
        .collect();
    let p: Vec<f64> = tested
        .iter()
        .filter_map(|&k| pairs[k].test.as_ref().map(|t| t.p))
        .collect();
    for (&k, adj) in tested.iter().zip(stats::holm(&p)) {
        pairs[k].p_holm = Some(adj);
    }
    pairs
}

/// The ranking of the rows that have a result in every class that any row
/// has (or why there is none), and the rows with no result at all.
fn rank(grid: &Grid) -> (Result<Ranking, String>, Vec<String>) {
    let n_rows = grid.rows.len();
    let with_any: Vec<usize> = (0..n_rows)
        .filter(|&r| grid.cells[r].iter().any(|c| c.mean.is_some()))
        .collect();
    let unranked: Vec<String> = (0..n_rows)
        .filter(|r| !with_any.contains(r))
        .map(|r| grid.rows[r].clone())
        .collect();
    let complete: Vec<usize> = (0..grid.classes.len())
        .filter(|&j| with_any.iter().all(|&r| grid.cells[r][j].mean.is_some()))
        .collect();
    let blocks: Vec<Vec<f64>> = complete
        .iter()
        .map(|&j| {
            with_any
                .iter()
                .filter_map(|&r| grid.cells[r][j].mean)
                .collect()
        })
        .collect();
    let ranking = if with_any.len() < 2 {
        Err("fewer than two methods have results".to_string())
    } else if complete.len() < 2 {
        Err(format!(
            "fewer than two classes have a result for every method ({} of {})",
            complete.len(),
            grid.classes.len()
        ))
    } else {
        match stats::friedman(&blocks) {
            Some(friedman) => Ok(Ranking {
                rows: with_any.iter().map(|&r| grid.rows[r].clone()).collect(),
                classes: complete
                    .iter()
                    .map(|&j| grid.classes[j].1.clone())
                    .collect(),
                dropped: (0..grid.classes.len())
                    .filter(|j| !complete.contains(j))
                    .map(|j| grid.classes[j].1.clone())
                    .collect(),
                cd: stats::nemenyi_cd(ALPHA, with_any.len(), complete.len()),
                friedman,
            }),
            None => Err("not enough data for the Friedman test".to_string()),
        }
    };
    (ranking, unranked)
}

fn p_text(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".to_string()
    } else {
        format!("{p:.3}")
    }
}

/// `p = 0.083` or `p < 0.001`.
fn p_is(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {p:.3}")
    }
}

/// The smallest two-sided p-value an exact Wilcoxon test on `n` pairs can give.
fn min_p(n: usize) -> f64 {
    2.0 / 2f64.powi(n as i32)
}

/// `comparisons.md`: the pair table, the ranking and what they mean.
pub fn markdown(experiment: &str, c: &Comparisons, seeds: usize) -> String {
    let mut s = format!("## {}: is A better than B?\n\n", md_escape(experiment));
    s.push_str(
        "Each pair of methods compared on their per-class mean AUROC (mean over seeds) with the \
         two-sided Wilcoxon signed-rank test (classes are the paired samples; zero differences \
         dropped; exact p-value, or the normal approximation with ties beyond 13 classes). \
         `p (Holm)` is adjusted over all pairs; `effect` is the matched-pairs rank-biserial \
         correlation (R+ − R−) / (R+ + R−): +1 when A wins every class, −1 when B does.\n\n",
    );
    if c.pairs.is_empty() {
        s.push_str("Only one method: nothing to compare.\n\n");
    } else {
        pairs_markdown(&mut s, &c.pairs);
    }
    s.push_str("### Ranking over classes\n\n");
    match &c.ranking {
        Err(why) => {
            let _ = writeln!(s, "No ranking: {why}.\n");
        }
        Ok(r) => ranking_markdown(&mut s, r),
    }
    if !c.unranked.is_empty() {
        let _ = writeln!(
            s,
            "Not ranked (no result in any class): {}.\n",
            c.unranked
                .iter()
                .map(|l| md_escape(l))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(
        s,
        "> How far to trust this: each class mean rests on {seeds} seed{}; the tests treat \
         classes as independent samples of a population of tasks, which a handful of classes of \
         one dataset is not. Read a significant result as \"consistent across these classes\", \
         and a non-significant one as \"not shown\", not as \"equal\".",
        if seeds == 1 { "" } else { "s" }
    );
    s
}

/// The table of pair tests (at least one pair), and a note when too few
/// classes make any difference insignificant.
fn pairs_markdown(s: &mut String, pairs: &[PairTest]) {
    s.push_str(
        "| A | B | classes | mean A − B | W+ | W− | p | p (Holm) | effect | verdict |\n\
         |:--|:--|--:|--:|--:|--:|--:|--:|--:|:--|\n",
    );
    for p in pairs {
        let (a, b) = (md_escape(&p.a), md_escape(&p.b));
        match (&p.test, p.mean_diff, p.p_holm) {
            (Some(t), Some(d), Some(h)) => {
                let verdict = match p.better() {
                    Some(w) => format!("**{}** better", md_escape(w)),
                    None => "no significant difference".to_string(),
                };
                let approx = if t.method == WilcoxonMethod::Normal {
                    " (normal)"
                } else {
                    ""
                };
                let _ = writeln!(
                    s,
                    "| {a} | {b} | {} | {d:+.3} | {} | {} | {}{approx} | {} | {:+.2} | {verdict} |",
                    p.classes,
                    t.r_plus,
                    t.r_minus,
                    p_text(t.p),
                    p_text(h),
                    t.effect
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    "| {a} | {b} | 0 | — | — | — | — | — | — | no class with both results |"
                );
            }
        }
    }
    s.push('\n');
    let most = pairs.iter().map(|p| p.classes).max().unwrap_or(0);
    if most > 0 && min_p(most) >= ALPHA {
        let _ = writeln!(
            s,
            "> With {most} classes the smallest possible p-value is {:.3}: no difference can \
             be significant at {ALPHA}, whatever the numbers. Compare over more classes.\n",
            min_p(most)
        );
    }
}

/// The average ranks, best first, then the Friedman and Iman–Davenport tests
/// and the Nemenyi critical difference in words.
fn ranking_markdown(s: &mut String, r: &Ranking) {
    let f = &r.friedman;
    let mut order: Vec<usize> = (0..r.rows.len()).collect();
    order.sort_by(|&a, &b| f.average_ranks[a].total_cmp(&f.average_ranks[b]));
    s.push_str("| Method | average rank |\n|:--|--:|\n");
    for &i in &order {
        let _ = writeln!(
            s,
            "| {} | {:.3} |",
            md_escape(&r.rows[i]),
            f.average_ranks[i]
        );
    }
    let id = if f.f.is_finite() {
        format!(
            "Iman–Davenport F = {:.3} ({}, {} df), {}",
            f.f,
            f.treatments - 1,
            (f.treatments - 1) * (f.blocks - 1),
            p_is(f.p_f)
        )
    } else {
        "Iman–Davenport F undefined (every class ranks the methods the same way)".into()
    };
    let p_decision = if f.f.is_finite() { f.p_f } else { f.p_chi2 };
    let _ = writeln!(
        s,
        "\nRank 1 = highest mean AUROC in a class, ties averaged; over {} classes ({}){}. \
         Friedman χ² = {:.3} ({} df), {}; {id}. Nemenyi critical difference at {ALPHA}: \
         CD = {:.3} (q = {:.3}, k = {}, N = {}): two methods whose average ranks differ \
         by less than CD are not significantly different{}.\n",
        f.blocks,
        r.classes.join(", "),
        if r.dropped.is_empty() {
            String::new()
        } else {
            format!(
                "; left out, as some method has no result there: {}",
                r.dropped.join(", ")
            )
        },
        f.chi2,
        f.treatments - 1,
        p_is(f.p_chi2),
        r.cd,
        stats::nemenyi_q(ALPHA, f.treatments),
        f.treatments,
        f.blocks,
        if p_decision >= ALPHA {
            "; the Friedman test finds no difference, so the post-hoc comparison \
             should not be read as one"
        } else {
            ""
        }
    );
}

/// `comparisons.csv`: one line per pair (numbers only).
pub fn frame(c: &Comparisons) -> PolarsResult<DataFrame> {
    let n = c.pairs.len();
    let t = |f: fn(&Wilcoxon) -> f64| -> Vec<Option<f64>> {
        c.pairs.iter().map(|p| p.test.as_ref().map(f)).collect()
    };
    DataFrame::new(
        n,
        vec![
            Column::new(
                "a".into(),
                c.pairs.iter().map(|p| p.a.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "b".into(),
                c.pairs.iter().map(|p| p.b.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "classes".into(),
                c.pairs.iter().map(|p| p.classes as u32).collect::<Vec<_>>(),
            ),
            Column::new(
                "mean_diff".into(),
                c.pairs.iter().map(|p| p.mean_diff).collect::<Vec<_>>(),
            ),
            Column::new("w_plus".into(), t(|w| w.r_plus)),
            Column::new("w_minus".into(), t(|w| w.r_minus)),
            Column::new("p".into(), t(|w| w.p)),
            Column::new(
                "p_holm".into(),
                c.pairs.iter().map(|p| p.p_holm).collect::<Vec<_>>(),
            ),
            Column::new("effect_rank_biserial".into(), t(|w| w.effect)),
            Column::new(
                "p_method".into(),
                c.pairs
                    .iter()
                    .map(|p| {
                        p.test.as_ref().map(|w| match w.method {
                            WilcoxonMethod::Exact => "exact",
                            WilcoxonMethod::Normal => "normal",
                        })
                    })
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "better".into(),
                c.pairs.iter().map(|p| p.better()).collect::<Vec<_>>(),
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::aggregate::{Cell, Metric};

    fn grid(rows: &[(&str, &[Option<f64>])]) -> Grid {
        let k = rows[0].1.len();
        Grid {
            metric: Metric::Auroc,
            rows: rows.iter().map(|(l, _)| l.to_string()).collect(),
            classes: (0..k).map(|j| (j, format!("c{j}"))).collect(),
            cells: rows
                .iter()
                .map(|(_, v)| {
                    v.iter()
                        .map(|m| Cell {
                            mean: *m,
                            done: m.is_some() as usize,
                            ..Cell::default()
                        })
                        .collect()
                })
                .collect(),
            means: vec![Cell::default(); rows.len()],
        }
    }

    #[test]
    fn pairs_rank_and_holm_over_demsar_columns() {
        // Demšar (2006) Table 6, as classes x methods: the paper's ranking
        let t = [
            [0.763, 0.768, 0.771, 0.798],
            [0.599, 0.591, 0.590, 0.569],
            [0.954, 0.971, 0.968, 0.967],
            [0.628, 0.661, 0.654, 0.657],
            [0.882, 0.888, 0.886, 0.898],
            [0.936, 0.931, 0.916, 0.931],
            [0.661, 0.668, 0.609, 0.685],
            [0.583, 0.583, 0.563, 0.625],
            [0.775, 0.838, 0.866, 0.875],
            [1.000, 1.000, 1.000, 1.000],
            [0.940, 0.962, 0.965, 0.962],
            [0.619, 0.666, 0.614, 0.669],
            [0.972, 0.981, 0.975_01, 0.975],
            [0.957, 0.978, 0.946, 0.970],
        ];
        let cols: Vec<Vec<Option<f64>>> = (0..4)
            .map(|m| t.iter().map(|r| Some(r[m])).collect())
            .collect();
        let names = ["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"];
        let rows: Vec<(&str, &[Option<f64>])> = names
            .iter()
            .zip(&cols)
            .map(|(n, c)| (*n, c.as_slice()))
            .collect();
        let c = compare(&grid(&rows));
        assert_eq!(c.pairs.len(), 6);
        let r = c.ranking.as_ref().unwrap();
        assert!((r.cd - 1.25).abs() < 5e-3, "{}", r.cd);
        assert!((r.friedman.chi2 - 9.28).abs() < 5e-3);
        // C4.5+m vs C4.5 (pair 0 is C4.5 vs C4.5+m): scipy p 0.01075713311978963
        let p0 = &c.pairs[0];
        let w = p0.test.as_ref().unwrap();
        assert!((w.p - 0.010_757_133_119_789_63).abs() < 1e-9);
        assert!(w.effect < 0.0);
        // Holm: the smallest of six p-values is multiplied by six (at most)
        let ps: Vec<f64> = c.pairs.iter().map(|p| p.test.as_ref().unwrap().p).collect();
        let adj = stats::holm(&ps);
        for (p, a) in c.pairs.iter().zip(adj) {
            assert_eq!(p.p_holm, Some(a));
        }
        let md = markdown("demo", &c, 3);
        assert!(md.contains("CD = 1.25"), "{md}");
        assert!(md.contains("| C4.5+m+cf | 1.964 |"), "{md}");
    }

    #[test]
    fn missing_cells_are_left_out_not_zero() {
        let c = compare(&grid(&[
            ("a", &[Some(0.9), Some(0.8), None, Some(0.7)]),
            ("b", &[Some(0.6), Some(0.5), Some(0.4), Some(0.65)]),
            ("c", &[None, None, None, None]),
        ]));
        // a vs b on the three classes both have: a wins all three
        let ab = &c.pairs[0];
        assert_eq!(ab.classes, 3);
        assert!((ab.mean_diff.unwrap() - (0.3 + 0.3 + 0.05) / 3.0).abs() < 1e-12);
        let w = ab.test.as_ref().unwrap();
        assert_eq!((w.r_plus, w.r_minus, w.effect), (6.0, 0.0, 1.0));
        // exact: 2 / 2^3
        assert!((w.p - 0.25).abs() < 1e-12);
        assert_eq!(ab.better(), None);
        assert!(c.pairs[1].test.is_none() && c.pairs[1].p_holm.is_none());
        assert_eq!(c.unranked, vec!["c".to_string()]);
        let r = c.ranking.as_ref().unwrap();
        assert_eq!(r.classes, vec!["c0", "c1", "c3"]);
        assert_eq!(r.dropped, vec!["c2"]);
        assert_eq!(r.friedman.average_ranks, vec![1.0, 2.0]);
        let md = markdown("t", &c, 3);
        assert!(md.contains("no class with both results"), "{md}");
        assert!(md.contains("smallest possible p-value is 0.250"), "{md}");
        assert!(md.contains("no result there: c2"), "{md}");
        let df = frame(&c).unwrap();
        assert_eq!(df.height(), 3);
        assert_eq!(df.column("p_holm").unwrap().null_count(), 2);
    }

    #[test]
    fn one_row_or_one_class_has_no_ranking() {
        let c = compare(&grid(&[("a", &[Some(0.9), Some(0.8)])]));
        assert!(c.pairs.is_empty() && c.ranking.is_err());
        let c = compare(&grid(&[("a", &[Some(0.9)]), ("b", &[Some(0.8)])]));
        assert!(c.ranking.unwrap_err().contains("fewer than two classes"));
    }
}
