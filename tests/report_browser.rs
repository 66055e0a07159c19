//! The report page in a real browser: a tiny spec is run end to end, then
//! headless Chromium loads `index.html` from disk and the test checks that
//! it renders with no console or load errors, that every image loads, that
//! the AUROC table has the expected cells, and that the training section
//! has one row per GAN and its training curves load at their full size.
//!
//! Chromium is the Debian package `chromium` (or `RUNNER_CHROMIUM=<binary>`).
//! Without it the test skips with a message, except where `CI=true` or
//! `RUNNER_REQUIRE_BROWSER=1`: there it fails. `RUNNER_SCREENSHOT=<file.png>`
//! also saves a screenshot of the page there (the README's `docs/report.png`).

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;

/// The spec: KDE and a KDE variant (a sweep), and a tiny two-epoch GANomaly,
/// on two digits, two seeds.
const SPEC: &str = "\
name: browser
dataset: digits
classes: [0, 1]
seeds: [0, 1]
methods:
  - kde: {bandwidth_count: 3, cv_folds: 2}
  - kde: {bandwidth_count: 3, cv_folds: 2, gcn: {sweep: [true]}}
  - ganomaly: {image_size: 16, latent: 8, generator_width: 8, discriminator_width: 8, batch_size: 32, epochs: 2}
";

/// The size of GANomaly's training-curve figure: 3 panels a row (`g`, `d`,
/// `con` and the seconds per epoch: two rows of 250 px) beside a 200 px
/// legend, a 44 px title, and one 20 px note under the panels (all done).
const CURVES_SIZE: (u64, u64) = (3 * 380 + 200, 44 + 2 * 250 + 12 + 20);

/// Installed before anything else on a copy of the page: records load and
/// script errors and, once the page has loaded, writes what it found into a
/// `<pre id="browser-check">` that `--dump-dom` prints.
const PROBE: &str = r#"<script>
window.__problems = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  window.__problems.push(t && t.getAttribute && t.getAttribute('src')
    ? 'failed to load ' + t.getAttribute('src') : 'error: ' + e.message);
}, true);
var __error = console.error;
console.error = function () {
  window.__problems.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
  __error.apply(console, arguments);
};
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
    .map(function (i) { return i.getAttribute('src'); });
  var curves = Array.prototype.slice.call(document.querySelectorAll('#training-curves img'))
    .map(function (i) { return [i.getAttribute('src'), i.naturalWidth, i.naturalHeight,
      i.getBoundingClientRect().width]; });
  var training = Array.prototype.slice.call(document.querySelectorAll('#training > .scroll table tr'))
    .map(function (r) { return r.children[0].textContent.trim(); });
  var table = document.querySelector('#results table');
  var rows = table ? Array.prototype.slice.call(table.querySelectorAll('tr')) : [];
  var cells = rows.map(function (r) {
    return Array.prototype.slice.call(r.children).map(function (c) { return c.textContent.trim(); });
  });
  var out = document.createElement('pre');
  out.id = 'browser-check';
  out.textContent = JSON.stringify({images: images.length, broken: broken,
    problems: window.__problems, cells: cells, curves: curves, training: training,
    width: document.documentElement.scrollWidth});
  document.body.appendChild(out);
});
</script>"#;

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RUNNER_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
    .find(|p| p.is_file())
}

fn browser_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v.trim() == "true" || v.trim() == "1")
        || std::env::var("RUNNER_REQUIRE_BROWSER").is_ok_and(|v| v.trim() == "1")
}

fn headless(browser: &Path) -> Process {
    let mut c = Process::new(browser);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        "--allow-file-access-from-files",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
    ]);
    c
}

/// The JSON text of `<pre id="browser-check">` in a dumped DOM.
fn probe_result(dom: &str) -> serde_json::Value {
    let start = dom
        .find("<pre id=\"browser-check\">")
        .unwrap_or_else(|| panic!("the probe wrote nothing; the DOM:\n{dom}"));
    let rest = &dom[start + "<pre id=\"browser-check\">".len()..];
    let text = &rest[..rest.find("</pre>").expect("closed pre")];
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn report_page_renders_in_chromium() {
    let Some(browser) = chromium() else {
        if browser_required() {
            panic!(
                "CI=true or RUNNER_REQUIRE_BROWSER=1 but no Chromium was found (install the \
                 Debian package `chromium`, or set RUNNER_CHROMIUM)"
            );
        }
        eprintln!(
            "skipped: no Chromium on this machine (apt-get install chromium, or set \
             RUNNER_CHROMIUM); the report page was not checked in a browser"
        );
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("browser.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    Command::cargo_bin("runner")
        .unwrap()
        .current_dir(d.path())
        .env_remove("RUNNER_STORE")
        .env_remove("RUNNER_DATA")
        .env("NO_COLOR", "1")
        .args(["--store", "store", "run", "-q", "-j", "2", "browser.yaml"])
        .assert()
        .success();
    let report = d.path().join("reports/browser");
    let page = std::fs::read_to_string(report.join("index.html")).expect("index.html");
    let head = page.find("<head>").expect("a head") + "<head>".len();
    let probed = format!("{}{PROBE}{}", &page[..head], &page[head..]);
    let check = report.join("index.check.html");
    std::fs::write(&check, probed).unwrap();

    let out = headless(&browser)
        .arg("--window-size=1280,1800")
        .arg("--dump-dom")
        .arg(format!("file://{}", check.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    let got = probe_result(&dom);

    // no load or script errors, in the page or in Chromium's console log
    assert_eq!(got["problems"], serde_json::json!([]), "{got}");
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    // every image loads: the heat map, the CD diagram, one ROC figure per
    // class and GANomaly's training curves
    assert_eq!(got["broken"], serde_json::json!([]), "{got}");
    assert_eq!(got["images"], 5, "{got}");
    // the training section: one row per method that trains, the curves of
    // each at their full size, shown no wider than the page
    assert_eq!(
        got["training"],
        serde_json::json!(["Method", "ganomaly"]),
        "{got}"
    );
    let curves = got["curves"].as_array().expect("curves");
    assert_eq!(curves.len(), 1, "{got}");
    assert_eq!(curves[0][0], "training/ganomaly.png", "{got}");
    assert_eq!(
        (curves[0][1].as_u64(), curves[0][2].as_u64()),
        (Some(CURVES_SIZE.0), Some(CURVES_SIZE.1)),
        "{got}"
    );
    let shown = curves[0][3].as_f64().expect("shown width");
    assert!(shown > 600.0 && shown <= 1280.0, "{got}");
    // the AUROC table: header, then one row per method with an interval per class
    let cells = got["cells"].as_array().expect("cells");
    assert_eq!(
        cells[0],
        serde_json::json!(["Method", "0", "1", "Mean"]),
        "{got}"
    );
    let labels: Vec<&str> = cells[1..]
        .iter()
        .map(|r| r[0].as_str().unwrap_or(""))
        .collect();
    assert_eq!(labels, ["kde", "kde (gcn=true)", "ganomaly"], "{got}");
    for row in &cells[1..] {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 4, "{row:?}");
        for c in &row[1..] {
            let c = c.as_str().unwrap();
            let (m, h) = c.split_once(" ± ").unwrap_or_else(|| panic!("{c}"));
            let m: f64 = m.parse().unwrap_or_else(|_| panic!("{c}"));
            let h: f64 = h.parse().unwrap_or_else(|_| panic!("{c}"));
            assert!((0.0..=1.0).contains(&m) && h >= 0.0, "{c}");
        }
    }
    // readable on a laptop screen: no sideways scrolling of the page itself
    assert!(got["width"].as_u64().expect("width") <= 1280, "{got}");

    // a screenshot: not blank
    let shot = std::env::var_os("RUNNER_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| d.path().join("shot.png"));
    let out = headless(&browser)
        .arg("--window-size=1280,1800")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", report.join("index.html").display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&shot).expect("a PNG").to_rgb8();
    assert_eq!(img.dimensions(), (1280, 1800));
    let dark = img
        .pixels()
        .filter(|p| p.0.iter().all(|&c| c < 100))
        .count();
    assert!(
        dark > 5_000,
        "the screenshot looks blank ({dark} dark pixels)"
    );
}
