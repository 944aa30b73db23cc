//! Running one case as a process (at most 10 s, cut short once it broke the contract) and judging
//! what it printed.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::task::{JoinHandle, JoinSet};

use super::discover::{long, Case};
use super::{Want, SLOTS};
use crate::helpers::BIN;

/// Non-empty output lines, `true` for stderr.
type Lines = Arc<Mutex<Vec<(bool, String)>>>;

fn read_lines<R>(pipe: R, stderr: bool, into: &Lines) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let into = into.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if !line.trim().is_empty() {
                into.lock().unwrap().push((stderr, line));
            }
        }
    })
}

/// Runs a case for at most 10 s: exit code (`None`: killed while running) and output lines. A
/// usage-error case is cut short once its output broke the contract (a second line, a line on
/// stdout, a line not starting with `error: `).
async fn run(Case(_, args, envs, _, want): &Case) -> (Option<i32>, Vec<(bool, String)>) {
    let _slot = SLOTS.acquire().await.expect("semaphore");
    let mut command = tokio::process::Command::new(BIN);
    command.args(args).env_clear().envs(envs.clone());
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    command.stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = command.spawn().expect("spawn playground");
    let lines = Lines::default();
    let out = read_lines(child.stdout.take().unwrap(), false, &lines);
    let err = read_lines(child.stderr.take().unwrap(), true, &lines);
    let error_line = |(on_stderr, text): &(bool, String)| *on_stderr && text.starts_with("error: ");
    let mut deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Ok(status) = tokio::time::timeout(Duration::from_millis(20), child.wait()).await {
            break Some(status.expect("wait").code().unwrap_or(-1));
        }
        let so_far = lines.lock().unwrap().clone();
        if *want != Want::Valid && (so_far.len() > 1 || !so_far.iter().all(error_line)) {
            deadline = deadline.min(Instant::now() + Duration::from_millis(500));
        }
        if Instant::now() >= deadline {
            let _ = child.kill().await;
            break None;
        }
    };
    for reader in [out, err] {
        let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
    }
    let lines = std::mem::take(&mut *lines.lock().unwrap());
    (code, lines)
}

/// What went wrong, as one readable line; `None` when the case passed.
fn verdict(case: &Case, code: Option<i32>, lines: &[(bool, String)]) -> Option<String> {
    let Case(label, _, _, names, want) = case;
    let all: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    let first = lines.first().map_or("", |(_, l)| l.as_str());
    let mut why = Vec::new();
    if all.contains("panicked") {
        why.push("panicked".to_owned());
    }
    if *want == Want::Valid && code != Some(0) {
        why.push("valid value refused".to_owned());
    }
    if let Want::Usage(say, never) = *want {
        let checks = [
            (code == Some(2), "not exit 2"),
            (lines.len() == 1 && lines[0].0, "not one line on stderr"),
            (first.starts_with("error: "), "no `error: `"),
        ];
        why.extend(checks.iter().filter(|c| !c.0).map(|c| c.1.to_owned()));
        // `<QUEUE>` in clap's `--queue <QUEUE>` is not the env var QUEUE_NAME.
        let text: String = first.split('<').map(after_value_name).collect();
        let words = names.iter().map(String::as_str).chain(say.iter().copied());
        let missing: Vec<&str> = words.filter(|word| !text.contains(word)).collect();
        if !missing.is_empty() {
            why.push(format!("does not say {}", missing.join(", ")));
        }
        let said = never.iter().filter(|word| all.contains(*word));
        why.extend(said.map(|word| format!("says {word}")));
    }
    let code = code.map_or("none (killed, still running)".to_owned(), |c| c.to_string());
    let (why, n, first) = (why.join("; "), lines.len(), shorten(first));
    let report = format!("{label}: {why} — exit {code}, {n} line(s), first: {first}");
    (!why.is_empty()).then_some(report)
}

fn after_value_name(part: &str) -> &str {
    part.split_once('>').map_or(part, |(_, rest)| rest)
}

/// A line for a report: runs of 255 or 256 letters abbreviated, at most 200 characters.
pub(super) fn shorten(line: &str) -> String {
    let mut line = line.to_owned();
    for (c, n) in "asctm".chars().flat_map(|c| [(c, 256), (c, 255)]) {
        line = line.replace(&long(c, n), &format!("<{n}×{c}>"));
    }
    line.chars().take(200).collect()
}

/// Runs every case (8 processes at once) and asserts once, listing every failure.
pub(super) async fn check(
    group: &str,
    cases: Vec<Case>,
    at_least: usize,
    mut failures: Vec<String>,
) {
    let total = cases.len();
    assert!(total >= at_least, "{group}: only {total} cases");
    let mut set = JoinSet::new();
    for case in cases {
        set.spawn(async move {
            let (code, lines) = run(&case).await;
            verdict(&case, code, &lines)
        });
    }
    while let Some(verdict) = set.join_next().await {
        failures.extend(verdict.expect("case task"));
    }
    failures.sort();
    let (n, list) = (failures.len(), failures.join("\n"));
    assert!(n == 0, "{group}: {n} of {total} cases failed:\n{list}");
    eprintln!("{group}: all {total} cases passed");
}
