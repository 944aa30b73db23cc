//! The subcommands that are not roles: shell completions, the man page and the book's reference
//! pages. All three are generated from the clap definitions (so they cannot drift from
//! `--help`), print to stdout and never touch the broker.

use std::io::Write;

use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;

use super::{reference, Cli, Command};

/// `playground completions SHELL`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `playground reference PAGE`.
#[derive(Debug, Args)]
pub struct ReferenceArgs {
    /// The page to print.
    #[arg(value_enum, default_value_t = ReferencePage::Cli)]
    pub page: ReferencePage,
}

/// The generated pages of the book (docs/src/reference/).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReferencePage {
    /// Every subcommand's options: docs/src/reference/cli.md.
    Cli,
    /// Every metric's name, type and help: docs/src/reference/metrics.md.
    Metrics,
}

/// The output of a non-role subcommand, or `None` for a role.
pub fn output(command: &Command) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match command {
        Command::Completions(args) => {
            let mut cli = Cli::command();
            clap_complete::generate(args.shell, &mut cli, "playground", &mut out);
        }
        Command::Man => {
            // Rendering into a Vec cannot fail.
            let _ = clap_mangen::Man::new(Cli::command()).render(&mut out);
            man_subcommands(&mut out);
        }
        Command::Reference(args) => {
            let page = match args.page {
                ReferencePage::Cli => reference::cli_markdown(&Cli::command()),
                ReferencePage::Metrics => {
                    crate::metrics::reference::markdown(&role_names(), reference::REGENERATE)
                }
            };
            out.extend_from_slice(page.as_bytes());
        }
        _ => return None,
    }
    Some(out)
}

/// After the top-level page (global options, the list of subcommands): a section per
/// subcommand with its description, synopsis and own options.
fn man_subcommands(out: &mut Vec<u8>) {
    for sub in reference::visible_subcommands(&Cli::command()) {
        let title = format!("playground {}", sub.get_name());
        let sub = sub
            .clone()
            .bin_name(title.clone())
            .display_name(title.clone());
        let man = clap_mangen::Man::new(sub);
        let mut section = Vec::new();
        let _ = man.render_description_section(&mut section);
        let _ = man.render_synopsis_section(&mut section);
        let _ = man.render_options_section(&mut section);
        let section = String::from_utf8_lossy(&section);
        out.extend_from_slice(format!(".SH \"{}\"\n", title.to_uppercase()).as_bytes());
        for line in section.lines() {
            // The subcommand's own sections become subsections of its section.
            let line = match line.strip_prefix(".SH ") {
                Some(heading) => format!(".SS {}", heading.to_lowercase()),
                None => line.to_owned(),
            };
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
}

/// The roles, in the order `--help` lists them.
pub fn role_names() -> Vec<String> {
    reference::visible_subcommands(&Cli::command())
        .map(|sub| sub.get_name().to_owned())
        .filter(|name| !TOOLS.contains(&name.as_str()))
        .collect()
}

/// The visible subcommands that are not roles.
pub const TOOLS: [&str; 2] = ["completions", "man"];

/// Writes `bytes` to stdout; a closed pipe (`playground man | head`) is not an error.
pub fn print(bytes: &[u8]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
