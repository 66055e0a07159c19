//! Every `runner` command shown in a shell block of README.md and docs/
//! still works as written. Commands that read only what this machine has
//! (`data ls`, `devices`, `schema`, `plan`, `status`, `cache ls`, and `data
//! verify` / `data fetch` of a dataset found locally) run for real and must
//! succeed; the others (a full training, a Slurm submission) are parsed by
//! the real command line with `--help` appended, so a renamed or removed
//! flag, or a value the flag no longer takes, fails here.

use std::path::{Path, PathBuf};

mod common;

use assert_cmd::Command;

/// The `runner` command lines of the fenced `sh` blocks of `text`, with
/// continuation lines joined and trailing comments removed.
fn shell_commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(lang) = t.strip_prefix("```") {
            in_sh = !in_sh && matches!(lang, "sh" | "bash" | "shell");
            continue;
        }
        if !in_sh {
            continue;
        }
        let code = match t.find(" #") {
            Some(i) => t[..i].trim_end(),
            None => t,
        };
        if let Some(head) = code.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(code);
        let command = std::mem::take(&mut pending);
        if command.starts_with("runner ") {
            out.push(command);
        }
    }
    out
}

/// README.md and every page of docs/.
fn documents() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    files.extend(pages);
    files
}

/// Whether the command only reads what this machine has, so it can run here.
fn runs_here(args: &[String], mnist: Option<&Path>) -> bool {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["data", "ls"] | ["devices"] | ["schema"] | ["cache", "ls"] => true,
        ["plan" | "status", ..] => true,
        ["data", "verify" | "fetch", "mnist"] => mnist.is_some(),
        _ => false,
    }
}

fn runner(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("runner").expect("the runner binary");
    c.current_dir(dir).env("RUNNER_STORE", dir.join("cache"));
    c
}

#[test]
fn every_runner_command_in_the_docs_works_as_written() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mnist = common::real_mnist();
    let tmp = tempfile::tempdir().expect("tempdir");
    // The shown paths are relative to the checkout: its specs are copied.
    let status = std::process::Command::new("cp")
        .args(["-r"])
        .arg(root.join("experiments"))
        .arg(tmp.path())
        .status()
        .expect("cp");
    assert!(status.success());
    let mut seen = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).expect("read");
        for line in shell_commands(&text) {
            seen += 1;
            let args: Vec<String> = line
                .split_whitespace()
                .skip(1)
                .map(|w| w.replace("$USER", "user"))
                .collect();
            let mut cmd = runner(tmp.path());
            if let Some(dir) = mnist.as_ref().and_then(|m| m.parent()) {
                cmd.env("RUNNER_DATA", dir);
            }
            if runs_here(&args, mnist.as_deref()) {
                cmd.args(&args);
            } else {
                cmd.args(&args).arg("--help");
            }
            let out = cmd.output().expect("run");
            assert!(
                out.status.success(),
                "{}: `{line}` failed: {}",
                doc.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // README's own example lines and the pages' (data, devices, GPU, Slurm).
    assert!(
        seen >= 5,
        "only {seen} commands found: the block parser broke"
    );
}

#[test]
fn the_block_parser_finds_continued_commands_and_ignores_other_blocks() {
    let text = "intro `runner plan x`\n```sh\nrunner run a.yaml \\\n    --store /s   # note\ncargo test\n```\n```text\nrunner plan SPEC\n```\n";
    assert_eq!(shell_commands(text), vec!["runner run a.yaml --store /s"]);
}
