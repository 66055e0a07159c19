//! `index.html`: the whole report as one static page (no script, no network,
//! the plots beside it): the spec, the dataset and protocol, the AUROC table
//! with intervals and best marks, the reference comparison, the pairwise
//! tests and ranking, the heat map, the critical-difference diagram, the ROC
//! curves per class, the trainings (one row per method, every job folded)
//! and their curves, the jobs that failed or are missing, and provenance.
//!
//! The tables come from the report's own Markdown (one source for both),
//! turned into HTML by [`super::markdown_html`].

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use super::markdown_html::{escape, markdown_to_html};
use super::{Outcome, ReportInput};

const STYLE: &str = "
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif;
  color: #1d1d1f; margin: 0 auto; max-width: 1180px; padding: 1.2rem 1.5rem 3rem; }
h1 { font-size: 1.7rem; margin: .2rem 0 .4rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 .6rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
h3 { font-size: 1.1rem; margin: 1.4rem 0 .5rem; }
nav { font-size: .9rem; margin: .4rem 0 1rem; }
nav a { margin-right: .8rem; }
.meta { color: #555; margin: 0 0 .8rem; }
.warn { background: #fff4e5; border-left: 4px solid #f0a020; padding: .5rem .8rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .4rem 0 .8rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d6d6d6; padding: .25rem .55rem; }
thead th { background: #f3f4f6; }
.num { text-align: right; white-space: nowrap; }
.spread { display: block; font-size: .78em; color: #555; line-height: 1.2; }
.text { text-align: left; }
tbody th { font-weight: 600; background: #fafafa; }
blockquote { margin: .6rem 0; padding: .4rem .8rem; border-left: 4px solid #9aa5b1; background: #f6f8fa; }
blockquote p { margin: 0; }
code, pre { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; font-size: .88em; }
pre { background: #f6f8fa; padding: .6rem .8rem; overflow-x: auto; border: 1px solid #e1e4e8; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
figure { margin: .6rem 0 1rem; }
figcaption { color: #555; font-size: .9rem; }
.rocs { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: .8rem; }
details { margin: .4rem 0; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  nav { display: none; }
  h2 { break-after: avoid; }
  figure, table { break-inside: avoid; }
  .rocs { grid-template-columns: 1fr 1fr; }
  details > * { display: block; }
}
";

/// Everything the page shows besides the input.
pub struct Page<'a> {
    /// `table.md` (with the reference comparison) and `comparisons.md`.
    pub table_markdown: &'a str,
    pub comparisons_markdown: &'a str,
    /// `training.md` and the per-job table, when jobs logged their trainings.
    pub training_markdown: Option<&'a str>,
    pub training_per_job: Option<&'a str>,
    /// Per row label with a logged training: its training curves' PNG.
    pub training_pngs: &'a [(String, String)],
    /// Files beside the page, relative to its folder: the heat map, the CD
    /// diagram (None with no ranking, and why), the ROC figure per class.
    pub summary_png: &'a str,
    pub cd_png: Result<&'a str, &'a str>,
    pub roc_pngs: &'a [(String, String)],
    /// Data files beside the page, for links.
    pub data_files: &'a [String],
}

/// The first 16 hex digits of the blake3 hash of the spec's text.
fn spec_key(input: &ReportInput) -> String {
    let key = blake3::hash(input.provenance.spec_text.as_bytes()).to_hex();
    key.as_str()[..16].to_string()
}

fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}

/// `index.html` of `input`.
pub fn page(input: &ReportInput, p: &Page) -> String {
    let mut s = String::new();
    let title = format!("{}: report", input.experiment);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let _ = writeln!(s, "<h1>{}</h1>", escape(&input.experiment));
    intro(&mut s, input);
    s.push_str(
        "<nav><a href=\"#results\">Results</a><a href=\"#comparisons\">Comparisons</a>\
         <a href=\"#figures\">Figures</a><a href=\"#roc\">ROC curves</a>",
    );
    if p.training_markdown.is_some() {
        s.push_str(
            "<a href=\"#training\">Training</a><a href=\"#training-curves\">Training curves</a>",
        );
    }
    s.push_str("<a href=\"#jobs\">Jobs</a><a href=\"#provenance\">Provenance</a></nav>\n");
    tables(&mut s, p);
    figures(&mut s, p);
    training(&mut s, p);
    absent_jobs(&mut s, input);
    provenance(&mut s, input, p);
    s.push_str("</body>\n</html>\n");
    s
}

/// The lines under the title: what was run, where the spec is, and the
/// warnings (approximate data, few seeds).
fn intro(s: &mut String, input: &ReportInput) {
    let (done, failed, missing) = super::table::counts(input);
    let seeds = super::table::seeds(input);
    let _ = writeln!(
        s,
        "<p class=\"meta\">Dataset <code>{}</code>, {} protocol, {} classes, {} seed{} ({}); \
         {} row{}. Jobs: {done} done, {failed} failed, {missing} missing.</p>",
        escape(&input.dataset),
        input.protocol.as_str(),
        input.classes.len(),
        seeds.len(),
        if seeds.len() == 1 { "" } else { "s" },
        seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        input.rows.len(),
        if input.rows.len() == 1 { "" } else { "s" },
    );
    if !input.provenance.spec_file.is_empty() {
        let _ = writeln!(
            s,
            "<p class=\"meta\">Spec <code>{}</code> (blake3 of its text <code>{}</code>; the \
             text is under <a href=\"#provenance\">Provenance</a>).</p>",
            escape(&input.provenance.spec_file),
            spec_key(input)
        );
    }
    if input.approximate {
        s.push_str(
            "<p class=\"warn\"><strong>Approximate numbers</strong>: this dataset is a lossy \
             copy, not the official pixels.</p>\n",
        );
    }
    if seeds.len() < 5 {
        let _ = writeln!(
            s,
            "<p class=\"warn\">{} seed{} per cell is few: a 95% interval over n seeds uses \
             t(0.975, n-1) = {:.2}, so intervals are wide, and a standard deviation from {} \
             values is itself uncertain. Differences within the intervals are not evidence.</p>",
            seeds.len(),
            if seeds.len() == 1 { "" } else { "s" },
            if seeds.len() > 1 {
                super::stats::t_quantile(0.975, (seeds.len() - 1) as f64)
            } else {
                f64::INFINITY
            },
            seeds.len()
        );
    }
}

/// The report's own Markdown: the tables and the comparisons.
fn tables(s: &mut String, p: &Page) {
    s.push_str("<section id=\"results\">\n");
    s.push_str(&markdown_to_html(p.table_markdown, 0));
    s.push_str("</section>\n<section id=\"comparisons\">\n");
    s.push_str(&markdown_to_html(p.comparisons_markdown, 0));
    s.push_str("</section>\n");
}

/// The trainings, when jobs logged any: one row per method, the per-job
/// table folded, then the training curves of each method.
fn training(s: &mut String, p: &Page) {
    let Some(training) = p.training_markdown else {
        return;
    };
    s.push_str("<section id=\"training\">\n");
    s.push_str(&markdown_to_html(training, 0));
    if let Some(per_job) = p.training_per_job {
        let jobs = per_job.lines().count().saturating_sub(2);
        let _ = writeln!(
            s,
            "<details><summary>Every job's training ({jobs})</summary>\n{}</details>",
            markdown_to_html(per_job, 0)
        );
    }
    s.push_str("</section>\n<section id=\"training-curves\">\n<h2>Training curves</h2>\n");
    s.push_str(
        "<p>Per method, each logged loss and the seconds per epoch over the epochs: with up to \
         ten classes the median over seeds of each class (thick) and each seed (thin); with more, \
         the median over all jobs with a band from the lowest to the highest. Red crosses: \
         values that are not finite; failed jobs are named under the panels.</p>\n",
    );
    for (label, png) in p.training_pngs {
        let _ = writeln!(
            s,
            "<figure><img src=\"{}\" alt=\"training curves of {}\"><figcaption>{}</figcaption></figure>",
            escape(png),
            escape(label),
            escape(label)
        );
    }
    s.push_str("</section>\n");
}

/// The heat map, the critical-difference diagram (or why there is none) and
/// the ROC figure of every class.
fn figures(s: &mut String, p: &Page) {
    s.push_str("<section id=\"figures\">\n<h2>Figures</h2>\n");
    let _ = writeln!(
        s,
        "<figure><img src=\"{}\" alt=\"heat map of mean AUROC per method and class\">\
         <figcaption>Mean AUROC per method and class (white: chance).</figcaption></figure>",
        escape(p.summary_png)
    );
    match p.cd_png {
        Ok(cd) => {
            let _ = writeln!(
                s,
                "<figure><img src=\"{}\" alt=\"critical-difference diagram\"><figcaption>\
                 Critical-difference diagram (Demšar 2006): average rank over classes (1 = \
                 best, on the left); methods joined by a thick bar are not significantly \
                 different (Nemenyi, α = 0.05).</figcaption></figure>",
                escape(cd)
            );
        }
        Err(why) => {
            let _ = writeln!(s, "<p>No critical-difference diagram: {}.</p>", escape(why));
        }
    }
    s.push_str(
        "</section>\n<section id=\"roc\">\n<h2>ROC curves per class</h2>\n<div class=\"rocs\">\n",
    );
    for (name, png) in p.roc_pngs {
        let _ = writeln!(
            s,
            "<figure><img src=\"{}\" alt=\"ROC curves, class {}\"><figcaption>{}</figcaption></figure>",
            escape(png),
            escape(name),
            escape(name)
        );
    }
    s.push_str("</div>\n</section>\n");
}

/// The jobs that failed or are missing, with why (folded beyond 20).
fn absent_jobs(s: &mut String, input: &ReportInput) {
    s.push_str("<section id=\"jobs\">\n<h2>Failed and missing jobs</h2>\n");
    let absent: Vec<_> = input
        .records
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Done { .. }))
        .collect();
    if absent.is_empty() {
        s.push_str("<p>Every job finished.</p>\n</section>\n");
        return;
    }
    let folded = absent.len() > 20;
    if folded {
        let _ = writeln!(
            s,
            "<details><summary>{} jobs failed or missing</summary>",
            absent.len()
        );
    }
    s.push_str(
        "<div class=\"scroll\"><table><thead><tr><th class=\"text\">Method</th>\
         <th class=\"text\">Class</th><th class=\"num\">Seed</th><th class=\"text\">Status</th>\
         <th class=\"text\">Key</th><th class=\"text\">Reason</th></tr></thead><tbody>\n",
    );
    for r in absent {
        let (status, reason) = match &r.outcome {
            Outcome::Failed { error } => ("failed", error.as_str()),
            _ => (
                "missing",
                "not run yet (or its result is not in this store)",
            ),
        };
        let _ = writeln!(
            s,
            "<tr><th class=\"text\">{}</th><td class=\"text\">{}</td><td class=\"num\">{}</td>\
             <td class=\"text\">{status}</td><td class=\"text\"><code>{}</code></td>\
             <td class=\"text\"><pre>{}</pre></td></tr>",
            escape(&r.label),
            escape(&r.class_name),
            r.seed,
            short(&r.key),
            escape(reason)
        );
    }
    s.push_str("</tbody></table></div>\n");
    if folded {
        s.push_str("</details>\n");
    }
    s.push_str("</section>\n");
}

/// Where the numbers come from: versions, devices, the spec, the data files,
/// the time per row, every job's key and the spec's text.
fn provenance(s: &mut String, input: &ReportInput, p: &Page) {
    s.push_str("<section id=\"provenance\">\n<h2>Provenance</h2>\n<ul>\n");
    let _ = writeln!(
        s,
        "<li>runner {} ({})</li>",
        env!("CARGO_PKG_VERSION"),
        escape(&env!("RUNNER_LIB_VERSIONS").replace(',', ", "))
    );
    let devices: BTreeSet<&str> = input
        .records
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Done { result, .. } => Some(result.device.as_str()),
            _ => None,
        })
        .collect();
    let _ = writeln!(
        s,
        "<li>Devices: {}</li>",
        if devices.is_empty() {
            "none (no finished job)".to_string()
        } else {
            devices
                .iter()
                .map(|d| format!("<code>{}</code>", escape(d)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    for e in &input.provenance.environments {
        let packages = if e.packages.is_empty() {
            "not built yet".to_string()
        } else {
            e.packages
                .iter()
                .map(|(n, v)| format!("<code>{}=={}</code>", escape(n), escape(v)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "<li>Environment of {} (<code>{}</code>{}): {packages}</li>",
            e.methods
                .iter()
                .map(|m| format!("<code>{}</code>", escape(m)))
                .collect::<Vec<_>>()
                .join(", "),
            escape(&e.requirements),
            if e.made_with.is_empty() {
                String::new()
            } else {
                format!(", {}", escape(&e.made_with))
            }
        );
    }
    if !input.provenance.spec_file.is_empty() {
        let _ = writeln!(
            s,
            "<li>Spec <code>{}</code>, blake3 of its text <code>{}</code></li>",
            escape(&input.provenance.spec_file),
            spec_key(input)
        );
    }
    let _ = writeln!(
        s,
        "<li>Data files: {}</li>",
        p.data_files
            .iter()
            .map(|f| format!("<a href=\"{0}\">{0}</a>", escape(f)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s.push_str("</ul>\n");
    durations(s, input);
    every_job(s, input);
    if !input.provenance.spec_text.is_empty() {
        let _ = writeln!(
            s,
            "<h3>The spec</h3>\n<pre>{}</pre>",
            escape(&input.provenance.spec_text)
        );
    }
    s.push_str("</section>\n");
}

/// Per row label: jobs done, training and scoring seconds, jobs trained here.
fn durations(s: &mut String, input: &ReportInput) {
    s.push_str(
        "<h3>Durations</h3>\n<div class=\"scroll\"><table><thead><tr><th class=\"text\">Method</th>\
         <th class=\"num\">jobs done</th><th class=\"num\">train s (sum)</th>\
         <th class=\"num\">score s (sum)</th><th class=\"num\">trained here</th></tr></thead><tbody>\n",
    );
    for label in &input.rows {
        let (mut n, mut train, mut score, mut trained) = (0, 0.0, 0.0, 0);
        for r in input.records.iter().filter(|r| &r.label == label) {
            if let Outcome::Done { result, .. } = &r.outcome {
                n += 1;
                train += result.train_seconds;
                score += result.score_seconds;
                trained += result.trained as usize;
            }
        }
        let _ = writeln!(
            s,
            "<tr><th class=\"text\">{}</th><td class=\"num\">{n}</td><td class=\"num\">{train:.1}</td>\
             <td class=\"num\">{score:.1}</td><td class=\"num\">{trained}</td></tr>",
            escape(label)
        );
    }
    s.push_str("</tbody></table></div>\n");
}

/// Every job of the spec with its status, AUROC, device and store key (folded).
fn every_job(s: &mut String, input: &ReportInput) {
    let _ = writeln!(
        s,
        "<details><summary>Every job and its store key ({})</summary>\n\
         <div class=\"scroll\"><table><thead><tr><th class=\"text\">Method</th>\
         <th class=\"text\">Class</th><th class=\"num\">Seed</th><th class=\"text\">Status</th>\
         <th class=\"num\">AUROC</th><th class=\"text\">Device</th><th class=\"num\">train s</th>\
         <th class=\"text\">Key</th></tr></thead><tbody>",
        input.records.len()
    );
    for r in &input.records {
        let (status, auroc, device, train) = match &r.outcome {
            Outcome::Done { result, .. } => (
                "done",
                format!("{:.3}", result.auroc),
                result.device.as_str(),
                format!("{:.2}", result.train_seconds),
            ),
            Outcome::Failed { .. } => ("failed", String::new(), "", String::new()),
            Outcome::Missing => ("missing", String::new(), "", String::new()),
        };
        let _ = writeln!(
            s,
            "<tr><th class=\"text\">{}</th><td class=\"text\">{}</td><td class=\"num\">{}</td>\
             <td class=\"text\">{status}</td><td class=\"num\">{auroc}</td><td class=\"text\">{}</td>\
             <td class=\"num\">{train}</td><td class=\"text\"><code>{}</code></td></tr>",
            escape(&r.label),
            escape(&r.class_name),
            r.seed,
            escape(device),
            escape(&r.key)
        );
    }
    s.push_str("</tbody></table></div></details>\n");
}

/// A file path relative to `dir`, with `/` separators, for a link.
pub fn relative(dir: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(dir).unwrap_or(file);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}
