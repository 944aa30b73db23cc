//! The book's checked examples (`docs/src/reference/examples.md`): every ```console block is a
//! list of `$ [NAME=value …] playground ARGS` commands, each followed by what it prints (stdout
//! then stderr; `...` matches any number of lines, trailing spaces are ignored) and an optional
//! `? CODE` line (0 when absent). Each runs the real binary with an empty environment, so no
//! example can depend on the broker, the host or the caller's variables.

use crate::helpers::BIN;

use super::repo_file;

const PAGE: &str = "docs/src/reference/examples.md";

/// One `$ ` command of a console block.
#[derive(Debug)]
struct Example {
    line: usize,
    env: Vec<(String, String)>,
    args: Vec<String>,
    expected: Vec<String>,
    code: i32,
}

#[test]
fn every_console_example_prints_what_the_binary_prints() {
    let page = std::fs::read_to_string(repo_file(PAGE)).unwrap();
    let examples = parse(&page);
    assert!(
        examples.len() >= 10,
        "{PAGE}: only {} examples",
        examples.len()
    );
    let mut failures = Vec::new();
    for example in &examples {
        let output = std::process::Command::new(BIN)
            .args(&example.args)
            .env_clear()
            .envs(example.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        let text = [output.stdout, output.stderr].concat();
        let actual: Vec<String> = String::from_utf8_lossy(&text)
            .lines()
            .map(|l| l.trim_end().to_owned())
            .collect();
        let code = output.status.code().unwrap_or(-1);
        if code != example.code || !matches(&example.expected, &actual) {
            failures.push(format!(
                "{PAGE}:{}: `playground {}` exited {code} (shown: {}) and printed:\n{}",
                example.line,
                example.args.join(" "),
                example.code,
                actual.join("\n")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} examples differ from the binary; update {PAGE}:\n\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n\n")
    );
}

/// The commands of every ```console block.
fn parse(page: &str) -> Vec<Example> {
    let mut examples: Vec<Example> = Vec::new();
    let mut in_block = false;
    for (index, line) in page.lines().enumerate() {
        let line = line.trim_end();
        if !in_block {
            in_block = line == "```console";
            continue;
        }
        if line == "```" {
            in_block = false;
        } else if let Some(command) = line.strip_prefix("$ ") {
            let mut words = split(command).into_iter().peekable();
            let mut env = Vec::new();
            while let Some((name, value)) = words.peek().and_then(|w| w.split_once('=')) {
                env.push((name.to_owned(), value.to_owned()));
                words.next();
            }
            assert_eq!(
                words.next().as_deref(),
                Some("playground"),
                "{PAGE}:{}",
                index + 1
            );
            examples.push(Example {
                line: index + 1,
                env,
                args: words.collect(),
                expected: Vec::new(),
                code: 0,
            });
        } else if let Some(example) = examples.last_mut() {
            match line.strip_prefix("? ").map(str::parse) {
                Some(Ok(code)) => example.code = code,
                Some(Err(_)) => panic!("{PAGE}:{}: `? CODE` needs a number", index + 1),
                None => example.expected.push(line.to_owned()),
            }
        }
    }
    examples
}

/// A command line split into words as a shell would, for plain words and quoted strings.
fn split(command: &str) -> Vec<String> {
    let (mut words, mut word, mut quote, mut started) = (Vec::new(), String::new(), None, false);
    for c in command.chars() {
        match (quote, c) {
            (None, '\'' | '"') => (quote, started) = (Some(c), true),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                }
                started = false;
            }
            (_, c) => (word, started) = (word + &c.to_string(), true),
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// `expected` matches `actual` line for line, a `...` line standing for any number of lines.
fn matches(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first == "..." => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(line, tail)| line == first && matches(rest, tail)),
    }
}

#[test]
fn the_console_parser_reads_environments_quotes_wildcards_and_codes() {
    let page = "```console\n$ A=1 playground send 'a b' \"c\"\nout\n...\n? 2\n```\n";
    let examples = parse(page);
    assert_eq!(examples.len(), 1);
    let example = &examples[0];
    assert_eq!(example.env, [("A".to_owned(), "1".to_owned())]);
    assert_eq!(example.args, ["send", "a b", "c"]);
    assert_eq!(example.code, 2);
    let lines = |text: &str| text.lines().map(str::to_owned).collect::<Vec<_>>();
    assert!(matches(&example.expected, &lines("out\nmore\nlines")));
    assert!(matches(&example.expected, &lines("out")));
    assert!(!matches(&example.expected, &lines("other")));
}
