//! Spec parsing: a good spec, and every kind of bad spec with its message
//! (snapshotted, so a change of wording is a visible diff).

use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<ValidSpec, SpecError> {
    ExperimentSpec::parse(text, Path::new("spec.yaml"), Path::new("/base"), &[])
}

fn err(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const GOOD: &str = "\
name: mnist
dataset: {name: mnist, path: data/mnist}
protocol: one-class
classes: [0, 3, seven]
seeds: [0, 1, 2]
train_limit: 1000
methods:
  - kde: {}
  - ganomaly:
      w_con: {sweep: [10, 50]}
      lr: {sweep: [0.0001, 0.0002]}
";

#[test]
fn good_spec_is_fully_resolved() {
    let s = parse(GOOD).unwrap();
    assert_eq!(s.name, "mnist");
    assert_eq!(s.protocol, Protocol::OneClass);
    assert_eq!(
        s.dataset.path.as_deref(),
        Some(Path::new("/base/data/mnist"))
    );
    assert_eq!(
        s.classes,
        ClassSelection::List(vec![
            ClassRef::Index(0),
            ClassRef::Index(3),
            ClassRef::Name("seven".into())
        ])
    );
    assert_eq!(
        s.limits,
        Limits {
            train: Some(1000),
            test: None
        }
    );
    assert_eq!(s.methods.len(), 2);
    let labels: Vec<String> = s.methods[1].variants.iter().map(|v| v.label()).collect();
    assert_eq!(
        labels,
        [
            "ganomaly (lr=0.0001, w_con=10)",
            "ganomaly (lr=0.0002, w_con=10)",
            "ganomaly (lr=0.0001, w_con=50)",
            "ganomaly (lr=0.0002, w_con=50)"
        ]
    );
    let MethodConfig::Ganomaly(p) = &s.methods[1].variants[3].config else {
        panic!("not ganomaly")
    };
    assert_eq!((p.w_con, p.lr, p.epochs), (50.0, 0.0002, 15));
}

#[test]
fn defaults_make_a_minimal_spec_complete() {
    let s = parse("name: q\ndataset: digits\nmethods: [kde, {ganomaly: {}}]\n").unwrap();
    assert_eq!(s.seeds, vec![0, 1, 2]);
    assert_eq!(s.classes, ClassSelection::All);
    assert_eq!(s.protocol, Protocol::AnomalyClass);
    assert_eq!(
        s.methods[1].variants[0].config,
        MethodConfig::Ganomaly(methods::GanomalyParams::default())
    );
}

#[test]
fn overrides_apply_before_checks() {
    let sets = [
        "methods.ganomaly.epochs=1".to_string(),
        "seeds=[7]".to_string(),
    ];
    let s = ExperimentSpec::parse(GOOD, Path::new("spec.yaml"), Path::new("."), &sets).unwrap();
    assert_eq!(s.seeds, vec![7]);
    for v in &s.methods[1].variants {
        let MethodConfig::Ganomaly(p) = &v.config else {
            panic!()
        };
        assert_eq!(p.epochs, 1);
    }
    let bad = ["methods.ganomaly.epochs=-1".to_string()];
    let e = ExperimentSpec::parse(GOOD, Path::new("spec.yaml"), Path::new("."), &bad).unwrap_err();
    insta::assert_snapshot!("override_negative_epochs", e.to_string());
}

#[test]
fn an_override_reaches_an_external_method_by_its_name() {
    let spec = "name: x\ndataset: digits\nmethods:\n  - kde\n  - external: {name: pca, command: [sh, -c, 'exit 0'], params: {k: 1}}\n";
    let sets = ["methods.pca.params.k={sweep: [2, 3]}".to_string()];
    let s = ExperimentSpec::parse(spec, Path::new("spec.yaml"), Path::new("."), &sets).unwrap();
    let ks: Vec<String> = s.methods[1]
        .variants
        .iter()
        .map(|v| match &v.config {
            MethodConfig::External(p) => p.params["k"].to_string(),
            other => panic!("not external: {other:?}"),
        })
        .collect();
    assert_eq!(ks, ["2", "3"]);
}

#[test]
fn bad_specs_have_clear_messages() {
    let cases: &[(&str, &str)] = &[
        ("yaml_syntax", "name: x\ndataset: [mnist\nmethods: []\n"),
        ("not_a_mapping", "- just\n- a list\n"),
        (
            "unknown_top_key",
            "name: x\ndataset: mnist\nseed: [1]\nmethods: [kde]\n",
        ),
        ("missing_methods", "name: x\ndataset: mnist\n"),
        (
            "wrong_type_seeds",
            "name: x\ndataset: mnist\nseeds: first\nmethods: [kde]\n",
        ),
        (
            "empty_seeds",
            "name: x\ndataset: mnist\nseeds: []\nmethods: [kde]\n",
        ),
        (
            "duplicate_seed",
            "name: x\ndataset: mnist\nseeds: [1, 2, 1]\nmethods: [kde]\n",
        ),
        (
            "unknown_method",
            "name: x\ndataset: mnist\nmethods:\n  - kde: {}\n  - ganomally: {}\n",
        ),
        (
            "unknown_param",
            "name: x\ndataset: mnist\nmethods:\n  - kde: {}\n  - kde: {}\n  - ganomaly:\n      w_cn: 10\n",
        ),
        (
            "wrong_param_type",
            "name: x\ndataset: mnist\nmethods:\n  - ganomaly: {epochs: many}\n",
        ),
        (
            "negative_epochs",
            "name: x\ndataset: mnist\nmethods:\n  - ganomaly: {epochs: -3}\n",
        ),
        (
            "zero_lr",
            "name: x\ndataset: mnist\nmethods:\n  - ganomaly:\n      lr: 0\n",
        ),
        (
            "bad_swept_value",
            "name: x\ndataset: mnist\nmethods:\n  - ganomaly:\n      lr: {sweep: [0.001, -1]}\n",
        ),
        (
            "empty_sweep",
            "name: x\ndataset: mnist\nmethods:\n  - ganomaly: {w_con: {sweep: []}}\n",
        ),
        (
            "duplicate_entries",
            "name: x\ndataset: mnist\nmethods:\n  - kde: {}\n  - kde: {cv_folds: 5}\n",
        ),
        (
            "duplicate_sweep_values",
            "name: x\ndataset: mnist\nmethods:\n  - ganomaly: {w_con: {sweep: [10, 10.0]}}\n",
        ),
        (
            "duplicate_class",
            "name: x\ndataset: mnist\nclasses: [1, 1]\nmethods: [kde]\n",
        ),
        (
            "bad_classes",
            "name: x\ndataset: mnist\nclasses: some\nmethods: [kde]\n",
        ),
        (
            "bad_protocol",
            "name: x\ndataset: mnist\nprotocol: two-class\nmethods: [kde]\n",
        ),
        (
            "unknown_dataset_key",
            "name: x\ndataset: {name: mnist, pth: /x}\nmethods: [kde]\n",
        ),
        (
            "zero_limit",
            "name: x\ndataset: mnist\ntest_limit: 0\nmethods: [kde]\n",
        ),
        ("bad_name", "name: ../up\ndataset: mnist\nmethods: [kde]\n"),
        (
            "method_not_a_mapping",
            "name: x\ndataset: mnist\nmethods:\n  - {kde: {}, ganomaly: {}}\n",
        ),
    ];
    for (name, text) in cases {
        insta::assert_snapshot!(*name, format!("{text}---\n{}", err(text)));
    }
}

#[test]
fn unknown_class_names_list_the_valid_ones() {
    let s = parse("name: x\ndataset: cifar10\nclasses: [cat, doge]\nmethods: [kde]\n").unwrap();
    let names: Vec<String> = [
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
    ]
    .map(String::from)
    .to_vec();
    let e = grid::resolve_classes(&s, &names).unwrap_err();
    insta::assert_snapshot!("unknown_class", e.to_string());
    let s = parse("name: x\ndataset: cifar10\nclasses: [cat, 3]\nmethods: [kde]\n").unwrap();
    assert!(
        grid::resolve_classes(&s, &names)
            .unwrap_err()
            .to_string()
            .contains("selected twice")
    );
    let s = parse("name: x\ndataset: cifar10\nclasses: [frog, 0]\nmethods: [kde]\n").unwrap();
    assert_eq!(grid::resolve_classes(&s, &names).unwrap(), vec![6, 0]);
}

/// `n` sweep values `a..a+n` as a YAML list.
fn values(from: usize, n: usize) -> String {
    let v: Vec<String> = (from..from + n).map(|i| i.to_string()).collect();
    format!("[{}]", v.join(", "))
}

#[test]
fn a_sweep_grid_beyond_the_job_limit_is_refused_before_expanding() {
    // 5 x 400 x 200 x 300 = 120 million variants: refused at once, with the count.
    let spec = format!(
        "name: big\ndataset: digits\nseeds: [0]\nmethods:\n  - kde:\n      gcn: {{sweep: [true, false, true, false, true]}}\n      bandwidth_count: {{sweep: {}}}\n      cv_folds: {{sweep: {}}}\n      cv_max_samples: {{sweep: {}}}\n",
        values(2, 400),
        values(2, 200),
        values(100, 300)
    );
    let t = std::time::Instant::now();
    let e = err(&spec);
    assert!(t.elapsed().as_secs() < 5, "took {:?}", t.elapsed());
    assert!(e.contains("expand to 120,000,000 variants"), "{e}");
    assert!(e.contains("RUNNER_MAX_JOBS"), "{e}");
}

#[test]
fn a_grid_of_many_small_sweeps_is_counted_with_classes_and_seeds() {
    // 2 x 900 variants x 10 classes x 6 seeds = 108,000 jobs > 100,000.
    let spec = format!(
        "name: big\ndataset: digits\nseeds: [0, 1, 2, 3, 4, 5]\nmethods:\n  - kde: {{bandwidth_count: {{sweep: {}}}}}\n  - kde: {{gcn: true, cv_folds: {{sweep: {}}}}}\n",
        values(2, 900),
        values(2, 900)
    );
    let s = parse(&spec).expect("each entry is under the limit");
    let classes: Vec<usize> = (0..10).collect();
    let e = grid::count_jobs(&s, &classes).expect_err("over the limit");
    let msg = e.to_string();
    assert!(
        msg.contains("108000 jobs (1800 method variants x 10 classes x 6 seeds)"),
        "{msg}"
    );
    assert_eq!(grid::count_jobs(&s, &classes[..9]), Ok(97_200));
}

#[test]
fn brackets_nested_100000_deep_are_refused_at_once() {
    let n = 100_000;
    let spec = format!(
        "name: x\ndataset: digits\nmethods: {}{}\n",
        "[".repeat(n),
        "]".repeat(n)
    );
    let t = std::time::Instant::now();
    let e = err(&spec);
    assert!(t.elapsed().as_secs() < 2, "took {:?}", t.elapsed());
    assert!(
        e.contains("spec.yaml:3:1: not a spec: brackets nested 100000 deep"),
        "{e}"
    );
    // ordinary flow collections still parse
    parse("name: x\ndataset: digits\nseeds: [0]\nmethods: [{kde: {gcn: true}}]\n").expect("ok");
}

proptest::proptest! {
    /// Any text: a spec or an error with a message, never a panic.
    #[test]
    fn any_text_parses_or_fails_with_a_message(text in "(?s).{0,300}") {
        if let Err(e) = parse(&text) {
            proptest::prop_assert!(!e.to_string().is_empty());
        }
    }

    /// A good spec with bytes changed, cut or inserted: the same.
    #[test]
    fn a_mangled_spec_parses_or_fails_with_a_message(
        at in 0usize..GOOD.len(),
        cut in 0usize..20,
        insert in "[\\[\\]{}:, \n\t'\"&*!|>#0-9a-z-]{0,12}",
    ) {
        let mut text = GOOD.as_bytes()[..at].to_vec();
        text.extend(insert.as_bytes());
        text.extend(&GOOD.as_bytes()[(at + cut).min(GOOD.len())..]);
        let text = String::from_utf8_lossy(&text);
        if let Err(e) = parse(&text) {
            proptest::prop_assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn report_section_picks_the_cell_format() {
    use super::CellFormat;
    let s = parse("name: x\ndataset: mnist\nmethods: [kde]\n").unwrap();
    assert_eq!(s.report.cell, CellFormat::MeanCi);
    let s = parse("name: x\ndataset: mnist\nmethods: [kde]\nreport: {cell: mean_std}\n").unwrap();
    assert_eq!(s.report.cell, CellFormat::MeanStd);
    let e = err("name: x\ndataset: mnist\nmethods: [kde]\nreport: {cel: mean_std}\n");
    assert!(e.contains("report.cel") && e.contains("cell"), "{e}");
    let e = err("name: x\ndataset: mnist\nmethods: [kde]\nreport: {cell: median}\n");
    assert!(e.contains("report.cell") && e.contains("mean_ci"), "{e}");
}

/// A spec folder with an external method's script, `methods/det.py`.
fn external_folder() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(d.path().join("methods")).expect("dir");
    std::fs::write(d.path().join("methods/det.py"), "print('det')\n").expect("write");
    d
}

fn parse_in(dir: &Path, text: &str) -> Result<ValidSpec, SpecError> {
    ExperimentSpec::parse(text, Path::new("spec.yaml"), dir, &[])
}

#[test]
fn external_methods_resolve_their_files_and_sweep_their_params() {
    let d = external_folder();
    let text = "\
name: x
dataset: digits
methods:
  - kde: {}
  - external:
      name: det
      command: [sh, methods/det.py]
      params: {k: {sweep: [1, 2]}, fixed: {a: [1, 2]}}
      score_params: {steps: {sweep: [5, 6]}}
";
    let s = parse_in(d.path(), text).expect("valid");
    let labels: Vec<String> = s.methods[1].variants.iter().map(|v| v.label()).collect();
    assert_eq!(
        labels,
        [
            "det (k=1, steps=5)",
            "det (k=1, steps=6)",
            "det (k=2, steps=5)",
            "det (k=2, steps=6)"
        ]
    );
    let MethodConfig::External(p) = &s.methods[1].variants[3].config else {
        panic!("not external")
    };
    assert_eq!(p.params["k"], 2);
    assert_eq!(
        p.params["fixed"]["a"][1], 2,
        "a mapping that is no sweep stays"
    );
    assert_eq!(p.score_params["steps"], 6);
    assert_eq!(
        p.inputs.as_deref(),
        Some(&["methods/det.py".to_string()][..])
    );
    assert_eq!(p.workdir.as_deref(), Some(d.path()));
    assert!(p.inputs_digest.is_some());
    // score parameters key the result only: the sweep over them shares models
    let (a, b) = (
        &s.methods[1].variants[0].config,
        &s.methods[1].variants[1].config,
    );
    assert_eq!(a.model_params(), b.model_params());
    assert_ne!(a.score_params(), b.score_params());
    // the label, time limits and the folder key nothing
    let model = a.model_params();
    for unhashed in ["name", "fit_timeout", "score_timeout", "workdir", "threads"] {
        assert!(model.get(unhashed).is_none(), "{unhashed} is hashed");
    }
    for hashed in [
        "command",
        "inputs_digest",
        "params",
        "version",
        "protocol",
        "env",
    ] {
        assert!(model.get(hashed).is_some(), "{hashed} is not hashed");
    }
}

#[test]
fn bad_external_methods_are_refused_with_file_line_and_column() {
    let d = external_folder();
    let cases: &[(&str, &str, &str)] = &[
        (
            "      command: [sh, methods/gone.py]\n",
            "spec.yaml:6:21: `methods[0].external.command[1]`: `methods/gone.py` does not exist",
            "relative to the spec's folder",
        ),
        (
            "      command: [no-such-program-xyz, methods/det.py]\n",
            "spec.yaml:6:17: `methods[0].external.command[0]`: program `no-such-program-xyz` is not found on PATH",
            "give its path",
        ),
        (
            "      command: [sh, methods/det.py]\n      inputs: [methods/det.py, data/none]\n",
            "spec.yaml:7:32: `methods[0].external.inputs[1]`: `data/none`: does not exist",
            "relative to the spec's folder",
        ),
        (
            "      command: [sh, methods/det.py]\n      comand: [x]\n",
            "spec.yaml:7:7: `methods[0].external.comand`: unknown key `comand`",
            "did you mean `command`?",
        ),
        (
            "      command: [sh, methods/det.py]\n      protocol: 2\n",
            "spec.yaml:7:7: `methods[0].external.protocol`: this runner speaks protocol 1",
            "",
        ),
        (
            "      command: [sh, methods/det.py]\n      fit_timeout: soon\n",
            "spec.yaml:7:7: `methods[0].external.fit_timeout`: `soon` is not a time limit",
            "",
        ),
    ];
    for (lines, want, help) in cases {
        let text =
            format!("name: x\ndataset: digits\nmethods:\n  - external:\n      name: det\n{lines}");
        let e = parse_in(d.path(), &text).expect_err(lines).to_string();
        assert!(e.starts_with(want), "{lines}\n{e}");
        assert!(e.contains(help), "{lines}\n{e}");
    }
    let e = parse_in(
        d.path(),
        "name: x\ndataset: digits\nmethods:\n  - external:\n      name: kde\n      command: [sh, methods/det.py]\n",
    )
    .expect_err("a built-in name")
    .to_string();
    assert!(
        e.starts_with(
            "spec.yaml:5:7: `methods[0].external.name`: `kde` is the name of a built-in method"
        ),
        "{e}"
    );
    let e = parse_in(
        d.path(),
        "name: x\ndataset: digits\nmethods:\n  - external:\n      name: Det\n      command: [sh, methods/det.py]\n",
    )
    .expect_err("a bad name")
    .to_string();
    assert!(e.contains("`Det` is not a method name"), "{e}");
    let twice = "\
name: x
dataset: digits
methods:
  - external: {name: det, command: [sh, methods/det.py]}
  - external: {name: det, command: [sh, methods/det.py], params: {k: 1}}
";
    let e = parse_in(d.path(), twice)
        .expect_err("one name twice")
        .to_string();
    assert!(
        e.starts_with(
            "spec.yaml:5:16: `methods[1].external.name`: the name `det` is taken by methods[0]"
        ),
        "{e}"
    );
}

#[test]
fn what_keys_an_external_model() {
    let d = external_folder();
    let model = |extra: &str| {
        let text = format!(
            "name: x\ndataset: digits\nmethods:\n  - external:\n      name: det\n      command: [sh, methods/det.py]\n{extra}"
        );
        let s = parse_in(d.path(), &text).expect("valid");
        s.methods[0].variants[0].config.model_params()
    };
    let base = model("");
    // explicit defaults, another name, other limits, threads: the same model
    for same in [
        "      version: 1\n      protocol: 1\n      params: {}\n      inputs: [methods/det.py]\n",
        "      fit_timeout: 5m\n      score_timeout: 60\n      threads: 1\n      uses_device: true\n",
    ] {
        assert_eq!(model(same), base, "{same}");
    }
    let renamed = parse_in(
        d.path(),
        "name: x\ndataset: digits\nmethods:\n  - external:\n      name: other\n      command: [sh, methods/det.py]\n",
    )
    .expect("valid");
    assert_eq!(renamed.methods[0].variants[0].config.model_params(), base);
    for changed in [
        "      version: 2\n",
        "      params: {k: 1}\n",
        "      image_size: 16\n",
        "      env: {A: b}\n",
        "      inputs: [methods]\n",
    ] {
        assert_ne!(
            model(changed),
            base,
            "{changed} did not change the model key"
        );
    }
    // the script's content keys it, its modification time does not
    std::fs::write(d.path().join("methods/det.py"), "print('det')\n").expect("write");
    assert_eq!(model(""), base);
    std::fs::write(d.path().join("methods/det.py"), "print('changed')\n").expect("write");
    assert_ne!(model(""), base);
}
