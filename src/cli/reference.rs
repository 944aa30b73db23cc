//! The book's command-line reference (`docs/src/reference/cli.md`), written from the clap
//! definitions themselves: `playground reference cli`. A test regenerates it and fails when the
//! committed page differs, so the page cannot drift from `--help`.
//!
//! Nothing here depends on the terminal: help texts are taken unwrapped from the definitions,
//! subcommands in their declared order, options in their declared order within each heading.

use std::fmt::Write as _;

use clap::{Arg, ArgAction, Command};

/// The command that rewrites every generated reference page.
pub const REGENERATE: &str = "make docs-reference";

/// The options reference of `command` (the whole CLI) as Markdown: one `## playground` section
/// for the global options, then one `## playground <subcommand>` section per visible subcommand.
pub fn cli_markdown(command: &Command) -> String {
    let mut command = command.clone();
    command.build();
    let name = command.get_name().to_owned();
    let mut out = String::new();
    let _ = writeln!(out, "# Command line\n");
    let _ = writeln!(
        out,
        "<!-- Generated from the clap definitions by `playground reference cli`; do not edit. \
         Regenerate with `{REGENERATE}`. -->\n"
    );
    let _ = writeln!(
        out,
        "Every option is a flag with an environment variable: the flag wins over the variable, \
         the variable over the default. The options under [`{name}`](#{name}) are global: every \
         role takes them, before or after its name. This page is generated from the same \
         definitions as `--help`."
    );
    let subcommands: Vec<&Command> = visible_subcommands(&command).collect();
    out.push('\n');
    for sub in &subcommands {
        let sub_name = sub.get_name();
        let about = first_line(sub.get_about().map(ToString::to_string).unwrap_or_default());
        let _ = writeln!(
            out,
            "- [`{name} {sub_name}`](#{}): {}",
            anchor(&format!("{name} {sub_name}")),
            inline(&about)
        );
    }
    section(&mut out, &name, &command, true);
    for sub in subcommands {
        section(&mut out, &format!("{name} {}", sub.get_name()), sub, false);
    }
    out
}

/// The subcommands a user sees in `--help`, in declared order.
pub fn visible_subcommands(command: &Command) -> impl Iterator<Item = &Command> {
    command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
}

fn section(out: &mut String, title: &str, command: &Command, top: bool) {
    let _ = writeln!(out, "\n## {title}\n");
    let about = command
        .get_long_about()
        .or(command.get_about())
        .map(ToString::to_string)
        .unwrap_or_default();
    if !about.is_empty() {
        let _ = writeln!(out, "{}\n", paragraphs(&about));
    }
    let usage = command.clone().render_usage().to_string();
    let usage = usage.trim().trim_start_matches("Usage:").trim();
    let _ = writeln!(out, "```text\n{usage}\n```");
    // Global options are listed once, under the top-level command.
    let args: Vec<&Arg> = command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && (top || !a.is_global_set()))
        .filter(|a| !matches!(a.get_action(), ArgAction::Help | ArgAction::HelpShort))
        .filter(|a| !matches!(a.get_action(), ArgAction::Version))
        .collect();
    let mut headings: Vec<Option<&str>> = Vec::new();
    for arg in &args {
        let heading = arg.get_help_heading();
        if !headings.contains(&heading) {
            headings.push(heading);
        }
    }
    for heading in headings {
        let group: Vec<&&Arg> = args
            .iter()
            .filter(|a| a.get_help_heading() == heading)
            .collect();
        let title = match heading {
            Some(heading) => heading,
            None if group.iter().all(|a| a.is_positional()) => "Arguments",
            None => "Options",
        };
        let _ = writeln!(out, "\n**{title}**\n");
        let _ = writeln!(out, "| Option | Env | Default | Description |");
        let _ = writeln!(out, "| --- | --- | --- | --- |");
        for arg in group {
            let _ = writeln!(out, "{}", row(arg));
        }
    }
    if !top {
        let _ = writeln!(
            out,
            "\nAnd the [global options](#playground); `-h`/`--help` prints this as text."
        );
    }
}

fn row(arg: &Arg) -> String {
    let env = match arg.get_env() {
        Some(env) if !arg.is_hide_env_set() => format!("`{}`", env.to_string_lossy()),
        _ => String::new(),
    };
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let default = if defaults.is_empty() || arg.is_hide_default_value_set() || !takes_value(arg) {
        String::new()
    } else {
        code(&defaults.join(","))
    };
    let mut help = arg
        .get_long_help()
        .or(arg.get_help())
        .map(ToString::to_string)
        .unwrap_or_default();
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| match v.get_help() {
            Some(h) => format!("`{}` ({})", v.get_name(), first_line(h.to_string())),
            None => format!("`{}`", v.get_name()),
        })
        .collect();
    if !values.is_empty() && takes_value(arg) {
        help.push_str(&format!(" One of: {}.", values.join(", ")));
    }
    if arg.is_required_set() {
        help.push_str(" Required.");
    }
    format!(
        "| {} | {env} | {default} | {} |",
        code(&syntax(arg)),
        cell(&paragraphs(&help))
    )
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

/// `-n, --count <N>`, `--dead-letter`, `<MESSAGE>` as in `--help`.
fn syntax(arg: &Arg) -> String {
    let names: Vec<String> = arg
        .get_value_names()
        .map(|names| names.iter().map(|n| format!("<{n}>")).collect())
        .unwrap_or_else(|| vec![format!("<{}>", arg.get_id().as_str().to_uppercase())]);
    let value = names.join(" ");
    let many = matches!(arg.get_action(), ArgAction::Append)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
    let value = if many { format!("{value}...") } else { value };
    if arg.is_positional() {
        return value;
    }
    let mut out = String::new();
    if let Some(short) = arg.get_short() {
        out.push_str(&format!("-{short}"));
    }
    if let Some(long) = arg.get_long() {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(&format!("--{long}"));
    }
    if takes_value(arg) {
        out.push(' ');
        out.push_str(&value);
    }
    out
}

/// The heading anchor mdBook gives `## text`.
pub fn anchor(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn first_line(text: String) -> String {
    text.split("\n\n")
        .next()
        .unwrap_or_default()
        .replace('\n', " ")
}

/// Paragraphs joined into one line each, separated by a blank line, `<` escaped outside code.
fn paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(|p| inline(&p.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Escapes what Markdown would take for HTML, outside code spans.
fn inline(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                part.to_owned()
            } else {
                part.replace('<', "&lt;").replace('>', "&gt;")
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

/// A table cell: one line, pipes escaped (inside code spans too, as GitHub and mdBook expect).
fn cell(text: &str) -> String {
    text.replace("\n\n", "<br><br>").replace('|', "\\|")
}

fn code(text: &str) -> String {
    let text = text.replace('|', "\\|");
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_follow_mdbook() {
        assert_eq!(anchor("playground consume"), "playground-consume");
        assert_eq!(
            anchor("Retries and dead letters!"),
            "retries-and-dead-letters"
        );
        assert_eq!(anchor("`/send-burst` (POST)"), "send-burst-post");
    }

    #[test]
    fn every_visible_subcommand_has_its_section_and_every_option_its_row() {
        use clap::CommandFactory;
        let command = super::super::Cli::command();
        let page = cli_markdown(&command);
        for sub in visible_subcommands(&command) {
            let heading = format!("\n## playground {}\n", sub.get_name());
            assert!(page.contains(&heading), "no {heading:?}");
        }
        for needle in [
            "`--prefetch <PREFETCH>`",
            "`PREFETCH`",
            "`--amqp-url <URL>`",
            "`RABBITMQ_URL`",
        ] {
            assert!(page.contains(needle), "no {needle}");
        }
        assert!(
            !page.contains("## playground reference"),
            "hidden: not listed"
        );
    }
}
