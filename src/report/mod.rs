//! Reports: every result of a spec aggregated with polars into paper-style
//! tables (Markdown, CSV, LaTeX), per-job and per-image data (CSV, Parquet),
//! and plots (ROC per class, summary), under `reports/<experiment>/`.

mod aggregate;
mod compare;
mod export;
#[cfg(test)]
mod fixture;
mod html;
mod latex;
mod markdown_html;
mod plot;
mod reference;
mod side_by_side;
mod stats;
mod table;
mod training;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;
use thiserror::Error;

use crate::spec::{CellFormat, Protocol, Reference};
use crate::store::{JobResult, Scores, TrainingLog};

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("report {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("report: aggregating the results failed: {0}")]
    Aggregate(String),
}

impl ReportError {
    fn write(path: &Path, e: impl std::fmt::Display) -> ReportError {
        ReportError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

impl From<polars::error::PolarsError> for ReportError {
    fn from(e: polars::error::PolarsError) -> ReportError {
        ReportError::Aggregate(e.to_string())
    }
}

/// What became of one job of the spec.
#[derive(Clone, Debug)]
pub enum Outcome {
    Done { result: JobResult, scores: Scores },
    Failed { error: String },
    Missing,
}

/// One job of the spec, in grid order.
#[derive(Clone, Debug)]
pub struct Record {
    /// Row label: `ganomaly` or `ganomaly (w_con=10)`.
    pub label: String,
    pub method: String,
    pub key: String,
    pub sweep: BTreeMap<String, String>,
    pub class: usize,
    pub class_name: String,
    pub seed: u64,
    pub outcome: Outcome,
    /// The training log stored with the job's model (neural methods).
    pub training: Option<TrainingLog>,
}

/// Everything a report is made from.
#[derive(Clone, Debug)]
pub struct ReportInput {
    pub experiment: String,
    pub dataset: String,
    /// The data is a lossy copy: label every table as approximate.
    pub approximate: bool,
    pub protocol: Protocol,
    /// Selected classes (index, name), in column order.
    pub classes: Vec<(usize, String)>,
    /// Row labels in spec order.
    pub rows: Vec<String>,
    pub records: Vec<Record>,
    pub reference: Option<Reference>,
    /// What a table cell shows beside the mean (the spec's `report.cell`).
    pub cell: CellFormat,
    pub provenance: Provenance,
}

/// Where a report comes from, for its page: the spec as written.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    /// The spec file, as given on the command line.
    pub spec_file: String,
    /// The spec's text (empty when it could not be read).
    pub spec_text: String,
    /// The environments the spec's external methods run in.
    pub environments: Vec<EnvironmentUse>,
}

/// An environment external methods ran in, as its record in the store says.
#[derive(Clone, Debug, Default)]
pub struct EnvironmentUse {
    pub methods: Vec<String>,
    pub requirements: String,
    /// `cpython 3.11.7 on linux-x86_64, installed by uv`; empty when the
    /// environment is not built.
    pub made_with: String,
    /// Every package and its version.
    pub packages: Vec<(String, String)>,
}

/// What `write` produced.
#[derive(Clone, Debug)]
pub struct ReportSummary {
    pub dir: PathBuf,
    /// The Markdown table, to print at the end of a run.
    pub table_markdown: String,
    pub files: Vec<PathBuf>,
    pub done: usize,
    pub failed: usize,
    pub missing: usize,
}

/// Writes the AUROC tables of several specs side by side into `dir`
/// (`table.md`, `table.csv`, `table.tex`; see [`side_by_side`]); returns the
/// Markdown.
pub fn write_side_by_side(
    inputs: &[ReportInput],
    name: &str,
    dir: &Path,
) -> Result<String, ReportError> {
    let (md, numbers, tex) = side_by_side::render(inputs, name)?;
    std::fs::create_dir_all(dir).map_err(|e| ReportError::write(dir, e))?;
    for (file, text) in [("table.md", &md), ("table.tex", &tex)] {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|e| ReportError::write(&path, e))?;
    }
    export::write_csv(&numbers, &dir.join("table.csv"), Some(4))?;
    Ok(md)
}

/// Writes every report file of `input` into `dir` (created if needed):
/// `table.md|csv|tex` (AUROC, with the reference comparison in `table.md`),
/// `table-auprc.md|csv|tex`, `comparisons.md|csv` (Wilcoxon per pair with
/// Holm, Friedman ranking; [`compare`]), `training.md|csv` (how the
/// trainings went, when jobs logged any; [`training`]), `results.csv|parquet` (one row per job) and
/// `scores.parquet` (one row per test image of every finished job), and the
/// plots `roc/<class>.png|svg`, `summary.png|svg` and
/// `training/<row label>.png|svg`.
pub fn write(input: &ReportInput, dir: &Path) -> Result<ReportSummary, ReportError> {
    std::fs::create_dir_all(dir).map_err(|e| ReportError::write(dir, e))?;
    let results = aggregate::results_frame(input)?;
    let auroc = aggregate::grid(input, &results, aggregate::Metric::Auroc)?;
    let auprc = aggregate::grid(input, &results, aggregate::Metric::Auprc)?;
    let comparisons = compare::compare(&auroc);

    let (texts, mut files) = write_texts(input, dir, [&auroc, &auprc], &comparisons)?;
    let data_files = write_data(input, dir, &results, [&auroc, &auprc], &comparisons, &texts)?;
    let data_names: Vec<String> = data_files
        .iter()
        .chain(&files)
        .filter(|f| f.extension().is_some_and(|e| e != "png" && e != "svg"))
        .map(|f| html::relative(dir, f))
        .collect();
    files.extend(data_files);
    let plots = plot::write_plots(input, &auroc, dir)?;
    let roc_pngs: Vec<(String, String)> = plots
        .pngs
        .iter()
        .map(|(class, png)| (class.clone(), html::relative(dir, png)))
        .collect();
    files.extend(plots.files);
    let training = plot::write_training(input, dir)?;
    files.extend(training.files);
    let training_pngs: Vec<(String, String)> = training
        .pngs
        .iter()
        .map(|(label, png)| (label.clone(), html::relative(dir, png)))
        .collect();
    let cd = match &comparisons.ranking {
        Ok(ranking) => {
            files.extend(plot::write_cd(&input.experiment, ranking, dir)?);
            Ok("cd.png")
        }
        Err(why) => {
            // no stale diagram from an earlier report of the same folder
            let _ = std::fs::remove_file(dir.join("cd.png"));
            let _ = std::fs::remove_file(dir.join("cd.svg"));
            Err(why.as_str())
        }
    };
    let page = html::page(
        input,
        &html::Page {
            table_markdown: &texts.table,
            comparisons_markdown: &texts.comparisons,
            training_markdown: texts.training.as_ref().map(|t| t.markdown.as_str()),
            training_per_job: texts.training.as_ref().map(|t| t.per_job.as_str()),
            training_pngs: &training_pngs,
            summary_png: "summary.png",
            cd_png: cd,
            roc_pngs: &roc_pngs,
            data_files: &data_names,
        },
    );
    let path = dir.join("index.html");
    std::fs::write(&path, page).map_err(|e| ReportError::write(&path, e))?;
    files.push(path);

    let (done, failed, missing) = table::counts(input);
    Ok(ReportSummary {
        dir: dir.to_path_buf(),
        table_markdown: texts.table,
        files,
        done,
        failed,
        missing,
    })
}

/// The report's Markdown, which the page shows too.
struct Texts {
    /// `table.md`: the AUROC table, then the reference comparison.
    table: String,
    comparisons: String,
    /// `training.md`, the per-job table and the numbers of `training.csv`,
    /// when jobs logged trainings.
    training: Option<training::Trainings>,
}

/// Writes the text files (`table.md|tex`, `table-auprc.md|tex`,
/// `comparisons.md`, `training.md`); returns their Markdown and paths.
fn write_texts(
    input: &ReportInput,
    dir: &Path,
    [auroc, auprc]: [&aggregate::Grid; 2],
    comparisons: &compare::Comparisons,
) -> Result<(Texts, Vec<PathBuf>), ReportError> {
    let mut files = Vec::new();
    let mut put = |name: &str, text: &str| -> Result<(), ReportError> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| ReportError::write(&path, e))?;
        files.push(path);
        Ok(())
    };
    let mut table = table::markdown(input, auroc);
    if let Some(reference) = reference::reference_markdown(input, auroc) {
        table.push('\n');
        table.push_str(&reference);
    }
    put("table.md", &table)?;
    put("table.tex", &latex::latex(input, auroc))?;
    put("table-auprc.md", &table::markdown(input, auprc))?;
    put("table-auprc.tex", &latex::latex(input, auprc))?;
    let comparisons = compare::markdown(&input.experiment, comparisons, table::seeds(input).len());
    put("comparisons.md", &comparisons)?;
    let training = training::render(input)?;
    if let Some(t) = &training {
        put("training.md", &t.markdown)?;
    }
    let texts = Texts {
        table,
        comparisons,
        training,
    };
    Ok((texts, files))
}

/// Writes the numbers: `table.csv`, `table-auprc.csv`, `comparisons.csv`,
/// `training.csv` (when there are trainings), `results.csv|parquet` and
/// `scores.parquet`; returns their paths.
fn write_data(
    input: &ReportInput,
    dir: &Path,
    results: &DataFrame,
    grids: [&aggregate::Grid; 2],
    comparisons: &compare::Comparisons,
    texts: &Texts,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut data_files = Vec::new();
    for (name, grid) in ["table.csv", "table-auprc.csv"].into_iter().zip(grids) {
        let path = dir.join(name);
        let (values, printed) = reference::columns(input, grid);
        let refs = table::RefColumns {
            values: &values,
            printed: &printed,
        };
        export::write_csv(&table::frame(input, grid, &refs)?, &path, Some(6))?;
        data_files.push(path);
    }
    let path = dir.join("comparisons.csv");
    export::write_csv(&compare::frame(comparisons)?, &path, Some(6))?;
    data_files.push(path);
    if let Some(t) = &texts.training {
        let path = dir.join("training.csv");
        export::write_csv(&t.numbers, &path, Some(6))?;
        data_files.push(path);
    }
    let per_job = results.drop("row")?;
    let path = dir.join("results.csv");
    export::write_csv(&per_job, &path, None)?;
    data_files.push(path);
    let path = dir.join("results.parquet");
    export::write_parquet(&per_job, &path)?;
    data_files.push(path);
    let path = dir.join("scores.parquet");
    export::write_scores(input, &path)?;
    data_files.push(path);
    Ok(data_files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written() -> (tempfile::TempDir, ReportSummary) {
        let tmp = tempfile::tempdir().unwrap();
        let summary = write(&fixture::input(), &tmp.path().join("demo")).unwrap();
        (tmp, summary)
    }

    fn read(summary: &ReportSummary, name: &str) -> String {
        std::fs::read_to_string(summary.dir.join(name)).unwrap()
    }

    #[test]
    fn tables_snapshot() {
        let (_tmp, summary) = written();
        assert_eq!((summary.done, summary.failed, summary.missing), (16, 1, 1));
        assert_eq!(summary.table_markdown, read(&summary, "table.md"));
        insta::assert_snapshot!("table_md", read(&summary, "table.md"));
        insta::assert_snapshot!("table_csv", read(&summary, "table.csv"));
        insta::assert_snapshot!("table_tex", read(&summary, "table.tex"));
        insta::assert_snapshot!("table_auprc_md", read(&summary, "table-auprc.md"));
        insta::assert_snapshot!("comparisons_md", read(&summary, "comparisons.md"));
        insta::assert_snapshot!("comparisons_csv", read(&summary, "comparisons.csv"));
    }

    #[test]
    fn results_have_one_row_per_job() {
        let (_tmp, summary) = written();
        let csv = read(&summary, "results.csv");
        let header = csv.lines().next().unwrap();
        assert_eq!(
            header,
            "method,label,key,sweep,class,class_name,seed,status,auroc,auprc,n_train,n_test,\
             train_seconds,score_seconds,trained,device,error"
        );
        let back = polars_io::prelude::CsvReadOptions::default()
            .try_into_reader_with_file_path(Some(summary.dir.join("results.csv")))
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(back.height(), 18);
        // the failed job's two-line message survives quoting
        let errors = back.column("error").unwrap().str().unwrap();
        assert_eq!(errors.null_count(), 17);
        assert!(csv.contains(r#""{""w_con"":""10""}""#), "{csv}");
        assert_eq!(csv.matches(",failed,").count(), 1);
        assert_eq!(csv.matches(",missing,").count(), 1);

        let file = std::fs::File::open(summary.dir.join("results.parquet")).unwrap();
        use polars_io::SerReader;
        let df = polars_io::prelude::ParquetReader::new(file)
            .finish()
            .unwrap();
        assert_eq!(df.height(), 18);
        let auroc = df.column("auroc").unwrap().f64().unwrap();
        assert_eq!(auroc.null_count(), 2);
    }

    #[test]
    fn scores_hold_every_image_of_every_done_job() {
        use polars::prelude::*;
        use polars_io::SerReader;
        use polars_io::prelude::ParquetReader;
        let (_tmp, summary) = written();
        let file = std::fs::File::open(summary.dir.join("scores.parquet")).unwrap();
        let df = ParquetReader::new(file).finish().unwrap();
        assert_eq!(df.height(), 16 * 40);
        let input = fixture::input();
        // the third done job's scores, in test-set order
        let (record, scores) = input
            .records
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Done { scores, .. } => Some((r, scores)),
                _ => None,
            })
            .nth(2)
            .unwrap();
        let rows = df
            .lazy()
            .filter(col("key").eq(lit(record.key.as_str())))
            .collect()
            .unwrap();
        assert_eq!(rows.height(), 40);
        let got: Vec<f32> = rows
            .column("score")
            .unwrap()
            .f32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(got, scores.scores);
        let labels: Vec<u32> = rows
            .column("anomaly")
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(
            labels,
            scores.labels.iter().map(|&l| l as u32).collect::<Vec<_>>()
        );
        let image: Vec<u32> = rows
            .column("image")
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(image, (0..40).collect::<Vec<u32>>());
        assert_eq!(
            rows.column("seed").unwrap().u64().unwrap().get(0),
            Some(record.seed)
        );
    }

    #[test]
    fn plots_are_written() {
        let (_tmp, summary) = written();
        for (name, size) in [
            ("roc/zero.png", (960, 640)),
            ("roc/one.png", (960, 640)),
            ("roc/seven.png", (960, 640)),
        ] {
            let img = image::open(summary.dir.join(name)).unwrap();
            assert_eq!((img.width(), img.height()), size, "{name}");
            // not a blank canvas: the curves' colours are there
            let rgb = img.to_rgb8();
            let blue = rgb.pixels().filter(|p| p.0 == [31, 119, 180]).count();
            let orange = rgb.pixels().filter(|p| p.0 == [255, 127, 14]).count();
            assert!(blue > 300 && orange > 300, "{name}: {blue} {orange}");
        }
        let img = image::open(summary.dir.join("cd.png")).unwrap().to_rgb8();
        assert_eq!(img.width(), 960);
        // both methods' lines (Tableau blue and orange) and the group bar
        let blue = img.pixels().filter(|p| p.0 == [31, 119, 180]).count();
        let orange = img.pixels().filter(|p| p.0 == [255, 127, 14]).count();
        assert!(blue > 100 && orange > 100, "{blue} {orange}");
        let svg = read(&summary, "cd.svg");
        assert!(
            svg.contains("CD = 1.13") && svg.contains("kde (2.00)"),
            "{svg}"
        );
        let img = image::open(summary.dir.join("summary.png")).unwrap();
        assert!(img.width() >= 500 && img.height() > 150);
        let svg = read(&summary, "roc/seven.svg");
        assert!(svg.contains("kde: 0."), "{svg}");
        assert!(svg.contains("ganomaly (w_con=10): 0."));
        assert!(svg.contains("False positive rate"));
        assert!(svg.contains("Curves: vertical average over"), "{svg}");
        let svg = read(&summary, "summary.svg");
        assert!(svg.contains("ganomaly (w_con=10)") && svg.contains("Mean"));
        assert!(summary.files.contains(&summary.dir.join("roc/zero.png")));
        // GANomaly's training curves: four panels (g, d, con, seconds) in two
        // rows, three notes (how the curves were made, the failed job)
        let img = image::open(summary.dir.join("training/ganomaly--w_con-10.png")).unwrap();
        assert_eq!(
            (img.width(), img.height()),
            (3 * 380 + 200, 44 + 2 * 250 + 12 + 3 * 20)
        );
        let rgb = img.to_rgb8();
        for (i, c) in [[31, 119, 180], [255, 127, 14], [44, 160, 44]]
            .iter()
            .enumerate()
        {
            let n = rgb.pixels().filter(|p| &p.0 == c).count();
            assert!(n > 200, "class {i}: {n}");
        }
        let svg = read(&summary, "training/ganomaly--w_con-10.svg");
        for text in [
            "loss g",
            "loss con",
            "seconds per epoch",
            "zero (3)",
            "one (2)",
        ] {
            assert!(svg.contains(text), "{text}: {svg}");
        }
        assert!(svg.contains("one seed 2: training diverged"), "{svg}");
        assert!(!summary.dir.join("training/kde.png").exists());
    }

    #[test]
    fn page_shows_tables_figures_jobs_and_provenance() {
        let (_tmp, summary) = written();
        let html = read(&summary, "index.html");
        assert!(html.starts_with("<!DOCTYPE html>"));
        // the AUROC table with intervals and best marks, the reference, the tests
        assert!(
            html.contains("<strong>0.846</strong><span class=\"spread\"> ± 0.095</span>"),
            "{html}"
        );
        assert!(html.contains("vs reference"));
        assert!(html.contains("is A better than B?"));
        // every image is a file beside the page
        let mut images = 0;
        for part in html.split("<img src=\"").skip(1) {
            let src = part.split('"').next().unwrap();
            assert!(summary.dir.join(src).is_file(), "{src}");
            images += 1;
        }
        assert_eq!(
            images,
            2 + 3 + 1,
            "heat map, CD diagram, three ROC figures, GANomaly's training curves"
        );
        // the trainings: one row per method, every job folded, the curves
        assert!(
            html.contains(
                "<th class=\"text\">ganomaly (w_con=10)</th><td class=\"num\">8 of 9, 1 failed</td>"
            ),
            "{html}"
        );
        assert!(html.contains("<details><summary>Every job's training (8)</summary>"));
        assert!(html.contains("src=\"training/ganomaly--w_con-10.png\""));
        // the failed and the missing job with their reasons, provenance
        assert!(html.contains("training diverged: the generator loss is NaN"));
        assert!(html.contains("not run yet"));
        assert!(html.contains(env!("CARGO_PKG_VERSION")) && html.contains("burn="));
        assert!(html.contains("<a href=\"comparisons.csv\">"));
        // no script, nothing from the network
        assert!(!html.contains("<script") && !html.contains("http"));
        assert!(summary.files.contains(&summary.dir.join("index.html")));
    }

    #[test]
    fn each_class_shows_its_own_roc_figure() {
        // "a/b" and "a-b" share the file stem `a-b`; "?" has none of its own
        let names = [(0, "a/b"), (1, "a-b"), (7, "?")];
        let mut input = fixture::input();
        input.classes = names.iter().map(|&(c, n)| (c, n.to_string())).collect();
        for r in &mut input.records {
            r.class_name = names.iter().find(|(c, _)| *c == r.class).unwrap().1.into();
        }
        let tmp = tempfile::tempdir().unwrap();
        let summary = write(&input, tmp.path()).unwrap();
        let html = read(&summary, "index.html");
        let mut srcs = Vec::new();
        for (_, name) in names {
            let caption = format!("<figcaption>{}</figcaption>", markdown_html::escape(name));
            let figure = html
                .split("<figure>")
                .find(|f| f.contains(&caption))
                .unwrap_or_else(|| panic!("no figure for {name}: {html}"));
            let src = figure
                .split("src=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            // the figure's file is the one drawn for that class
            let svg = read(&summary, &src.replace(".png", ".svg"));
            assert!(
                svg.contains(&format!("anomaly class {name} (")),
                "{name}: {src}"
            );
            srcs.push(src.to_string());
        }
        assert_eq!(srcs, ["roc/a-b.png", "roc/a-b-1.png", "roc/class-7.png"]);
    }

    #[test]
    fn plots_without_a_font_have_no_text_but_are_written() {
        let input = fixture::input();
        let tmp = tempfile::tempdir().unwrap();
        let results = aggregate::results_frame(&input).unwrap();
        let grid = aggregate::grid(&input, &results, aggregate::Metric::Auroc).unwrap();
        let plots = plot::write_plots_with(&input, &grid, tmp.path(), false).unwrap();
        assert_eq!(plots.files.len(), 2 * (3 + 1));
        let img = image::open(tmp.path().join("roc/one.png"))
            .unwrap()
            .to_rgb8();
        assert_eq!(img.dimensions(), (960, 640));
        let blue = img.pixels().filter(|p| p.0 == [31, 119, 180]).count();
        assert!(blue > 300, "{blue}");
        // no text: the legend panel holds only the colour keys, no dark glyphs
        let dark = (640..960)
            .flat_map(|x| (0..640).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 60))
            .count();
        assert_eq!(dark, 0);
    }

    #[test]
    fn plots_name_rows_without_results() {
        let tmp = tempfile::tempdir().unwrap();
        let summary = write(&fixture::hand_input(), tmp.path()).unwrap();
        let svg = read(&summary, "roc/one.svg");
        assert!(
            svg.contains("a: 0.600") && svg.contains("b: failed"),
            "{svg}"
        );
        let svg = read(&summary, "summary.svg");
        assert!(
            svg.contains("0.900†") && svg.contains("\nfailed\n"),
            "{svg}"
        );
    }

    #[test]
    fn approximate_data_is_labelled() {
        let mut input = fixture::input();
        input.approximate = true;
        let tmp = tempfile::tempdir().unwrap();
        let summary = write(&input, tmp.path()).unwrap();
        assert!(summary.table_markdown.contains("AUROC (APPROXIMATE)"));
        assert!(summary.table_markdown.contains("lossy JPEG copy"));
        let tex = read(&summary, "table.tex");
        assert!(tex.contains("approximate: a lossy JPEG copy"), "{tex}");
    }

    #[test]
    fn one_seed_shows_the_mean_alone() {
        let mut input = fixture::input();
        input.records.retain(|r| r.seed == 0);
        input.reference = None;
        let tmp = tempfile::tempdir().unwrap();
        let summary = write(&input, tmp.path()).unwrap();
        let md = &summary.table_markdown;
        let row = md.lines().find(|l| l.starts_with("| kde")).unwrap();
        assert!(!row.contains('±') && !row.contains('*'), "{row}");
        assert!(!md.contains("vs reference"));
    }
}

/// A report of the study's size: 6 methods x 10 classes x 3 seeds, 10,000
/// test images per job. `cargo test --release --lib report::large -- --ignored --nocapture`
#[cfg(test)]
mod large {
    use super::*;

    #[test]
    #[ignore]
    fn study_sized_report_is_fast() {
        let names = [
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ];
        let methods = ["kde", "alad", "anogan", "fence_gan", "ganomaly", "ocgan"];
        let mut records = Vec::new();
        for (m, method) in methods.iter().enumerate() {
            for (c, name) in names.iter().enumerate() {
                for seed in 0..3u64 {
                    let s = fixture::scores_n(
                        10_000,
                        0.1 + 0.08 * m as f32 + 0.02 * c as f32,
                        seed * 1000 + (m * 10 + c) as u64,
                    );
                    records.push(fixture::record(
                        method,
                        method,
                        (c, name),
                        seed,
                        fixture::done(s),
                    ));
                }
            }
        }
        let input = ReportInput {
            experiment: "large".into(),
            dataset: "cifar10-jpeg".into(),
            approximate: true,
            protocol: Protocol::AnomalyClass,
            classes: names
                .iter()
                .enumerate()
                .map(|(i, n)| (i, n.to_string()))
                .collect(),
            rows: methods.iter().map(|m| m.to_string()).collect(),
            records,
            reference: None,
            cell: Default::default(),
            provenance: Default::default(),
        };
        let dir = std::env::var_os("RUNNER_REPORT_OUT")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("runner-large-report"));
        let t = std::time::Instant::now();
        let summary = write(&input, &dir).unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{} jobs x 10,000 scores: report in {secs:.2} s -> {}",
            summary.done,
            dir.display()
        );
        assert_eq!(summary.done, 180);
        assert!(secs < 30.0, "{secs}");
    }
}
