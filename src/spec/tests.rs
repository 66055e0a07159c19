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
            "planned_method",
            "name: x\ndataset: mnist\nmethods:\n  - ocgan: {}\n",
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
