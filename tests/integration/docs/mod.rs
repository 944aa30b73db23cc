//! The book's generated reference pages and checked examples stay what the binary and the
//! Makefile say now. A page that differs fails with the command that rewrites it; with
//! `UPDATE_DOCS=1` (what `make docs-reference` sets) the tests write the fresh page instead.
//!
//! - [`examples`]: the ```console blocks of `docs/src/reference/examples.md`, run for real.

mod examples;

use std::path::{Path, PathBuf};

use crate::helpers::BIN;

/// The command that rewrites every generated page.
const REGENERATE: &str = "make docs-reference";

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Compares `path` with `fresh`, or writes it when UPDATE_DOCS is set.
fn check_page(path: &str, fresh: &str, how: &str) {
    let file = repo_file(path);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&file, fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    if committed != fresh {
        let first = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(fresh.lines().count()));
        let line = |text: &str| {
            text.lines()
                .nth(first)
                .unwrap_or("<end of file>")
                .to_owned()
        };
        panic!(
            "{path} is out of date ({how}); regenerate it with `{REGENERATE}`.\n\
             First difference, line {}:\n  committed: {}\n  now:       {}",
            first + 1,
            line(&committed),
            line(fresh)
        );
    }
}

/// What `playground ARGS` prints on stdout with a clean environment; it must exit 0.
fn stdout_of(args: &[&str]) -> String {
    let output = std::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .output()
        .unwrap();
    assert!(output.status.success(), "playground {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_command_line_reference_is_generated_from_the_clap_definitions() {
    let fresh = stdout_of(&["reference", "cli"]);
    check_page(
        "docs/src/reference/cli.md",
        &fresh,
        "`playground reference cli`",
    );
}

#[test]
fn the_metrics_reference_is_generated_from_the_registry() {
    let fresh = stdout_of(&["reference", "metrics"]);
    check_page(
        "docs/src/reference/metrics.md",
        &fresh,
        "`playground reference metrics`",
    );
}

#[test]
fn the_make_targets_reference_is_generated_from_the_makefile() {
    let makefile = std::fs::read_to_string(repo_file("Makefile")).unwrap();
    check_page(
        "docs/src/reference/make-targets.md",
        &make_targets(&makefile),
        "the Makefile's `## ` comments",
    );
}

/// The targets `make help` lists (`target: … ## what it does`), as a table.
fn make_targets(makefile: &str) -> String {
    let mut out = String::from("# Make targets\n\n");
    out.push_str(&format!(
        "<!-- Generated from the Makefile's `## ` comments (what `make help` prints); do not \
         edit. Regenerate with `{REGENERATE}`. -->\n\n"
    ));
    out.push_str(
        "`make` alone lists these targets. Variables are given on the command line, e.g. \
         `make test TEST_ARGS='-- --nocapture'`; the Makefile's top lists them with their \
         defaults. CI runs `make lint`, `make test`, `make docs` and `make test-browser` \
         through `.ci/run`.\n\n",
    );
    out.push_str("| Target | What it does |\n| --- | --- |\n");
    for line in makefile.lines() {
        let Some((head, help)) = line.split_once("## ") else {
            continue;
        };
        let Some((target, _)) = head.split_once(':') else {
            continue;
        };
        let is_target = !target.is_empty()
            && target
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if is_target {
            let help = help.trim().replace('|', "\\|").replace('<', "&lt;");
            out.push_str(&format!("| `make {target}` | {help} |\n"));
        }
    }
    out
}
