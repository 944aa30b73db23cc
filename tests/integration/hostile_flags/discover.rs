//! The options of every role, read from `ROLE --help`, and the runs (cases) made of them.

use std::sync::OnceLock;

use super::{Bounds, Want, BOUNDS, DEAD_BROKER, DURATIONS, GLOBALS, ROLES, SHORT_STRINGS};
use crate::helpers::BIN;

use super::runner::shorten;

/// An option of one role as `--help` shows it (`value: None`: a switch with an env var).
#[derive(Debug)]
pub(super) struct Opt {
    pub role: &'static str,
    pub flag: String,
    pub value: Option<String>,
    pub env: Option<String>,
    choices: bool,
}

impl Opt {
    pub fn bounds(&self) -> Option<&'static Bounds> {
        for (role, flag, bounds) in BOUNDS {
            if (role.is_empty() || *role == self.role) && *flag == self.flag {
                return Some(bounds);
            }
        }
        let value = self.value.as_deref().unwrap_or("");
        value.starts_with("DURATION").then_some(&DURATIONS)
    }

    pub fn short_string(&self) -> bool {
        !self.choices && SHORT_STRINGS.contains(&self.flag.as_str())
    }

    /// Group C's value: `maybe` for an env boolean, 256 × 'a' for durations, IPs, choices, URLs.
    pub fn garbage(&self) -> Option<String> {
        match self.value.as_deref() {
            None => Some("maybe".to_owned()),
            Some("IP" | "DURATION" | "DURATION|off") => Some(long('a', 256)),
            _ => (self.choices || self.flag == "--http").then(|| long('a', 256)),
        }
    }

    pub fn classified(&self) -> bool {
        let own_group = ["--amqp-url", "--amqp-password"].contains(&self.flag.as_str());
        own_group || self.short_string() || self.garbage().is_some() || self.bounds().is_some()
    }
}

pub(super) fn long(c: char, n: usize) -> String {
    c.to_string().repeat(n)
}

/// Every role's options, read once from `ROLE --help` run with a clean environment.
pub(super) fn options() -> &'static [Opt] {
    static OPTIONS: OnceLock<Vec<Opt>> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut all = Vec::new();
        for role in ROLES {
            let mut help = std::process::Command::new(BIN);
            let help = help.args([role, "--help"]).env_clear().output();
            let opts = parse_help(role, &String::from_utf8_lossy(&help.unwrap().stdout));
            for global in GLOBALS {
                let found = opts.iter().any(|o| o.flag == global);
                assert!(found, "`{role} --help`: no {global} in {opts:#?}");
            }
            all.extend(opts);
        }
        all
    })
}

fn parse_help(role: &'static str, help: &str) -> Vec<Opt> {
    let mut opts: Vec<Opt> = Vec::new();
    for line in help.lines() {
        let text = line.trim_start();
        let indent = line.len() - text.len();
        if (2..=6).contains(&indent) && text.starts_with('-') {
            // `  -n, --count <N>`, `      --queue <QUEUE>` or `      --dead-letter`
            let text = match text.split_once(", ") {
                Some((short, long)) if short.len() == 2 => long,
                _ => text,
            };
            let (flag, value) = text.split_once(' ').unwrap_or((text, ""));
            let value = (!value.is_empty()).then(|| value.trim_matches(['<', '>']).to_owned());
            let (flag, env, choices) = (flag.to_owned(), None, false);
            opts.push(Opt {
                role,
                flag,
                value,
                env,
                choices,
            });
        } else if let Some(last) = opts.last_mut() {
            if let Some(env) = text.strip_prefix("[env: ") {
                last.env = env.split(['=', ']']).next().map(str::to_owned);
            }
            last.choices |= text.starts_with("[possible values:");
            last.choices |= text.starts_with("Possible values:");
        }
    }
    opts.retain(|o| o.value.is_some() || o.env.is_some());
    opts
}

/// One run: label, arguments, environment, the names its error must say, what it must do.
pub(super) struct Case(
    pub String,
    pub Vec<String>,
    pub Env,
    pub Vec<String>,
    pub Want,
);
pub(super) type Env = Vec<(String, String)>;

/// `o` set to `value` as `--flag=value`, and separately through its env var (the flag absent).
pub(super) fn cases(o: &Opt, value: &str, want: Want) -> Vec<Case> {
    let (role, flag, fails) = (o.role, o.flag.as_str(), want != Want::Valid);
    // What the role needs to start; a role that must fail but starts stays off broker and ports.
    #[rustfmt::skip]
    let needs = [
        (role == "topic-sub" && flag != "--pattern" && flag != "--header", "--pattern=#"),
        (role == "topic-sub" && flag == "--header", "--exchange-type=headers"),
        (role == "send" && flag == "--header", "--exchange=headers"),
        (flag == "--unrouted-queue", "--alternate-exchange=lab.ae"),
        (flag == "--alternate-exchange", "--unrouted-queue=unrouted"),
        (flag == "--routing-key", "--exchange=topic"),
        (role == "stream-sub" && flag != "--stream", "--stream=hostile-stream"),
        (role == "stream-sub" && flag == "--pattern", "--bind-exchange=lab.topic"),
        (flag == "--delivery-limit", "--queue-type=quorum"),
        (flag == "--retry-delays", "--dead-letter"),
        (!fails, "--check-config"),
        (fails && flag != "--amqp-url", DEAD_BROKER),
        (fails && flag != "--port" && role == "produce-server", "--port=0"),
        (fails && flag != "--bind" && role == "produce-server", "--bind=127.0.0.1"),
        (fails && flag != "--health-port" && (role == "consume" || role == "rpc-server" || role.ends_with("-sub")), "--health-port=0"),
    ];
    let mut args = vec![role.to_owned()];
    args.extend(needs.iter().filter(|n| n.0).map(|n| n.1.to_owned()));
    let names: Vec<String> = [&o.flag].into_iter().chain(&o.env).cloned().collect();
    let shown = shorten(value);
    let mut out = Vec::new();
    if o.value.is_some() {
        let flag_args = [args.clone(), vec![format!("{flag}={value}")]].concat();
        let label = format!("{role} {flag}={shown}");
        out.push(Case(label, flag_args, vec![], names.clone(), want));
    }
    if let Some(env) = &o.env {
        let label = format!("{role} {env}={shown}");
        let envs = vec![(env.clone(), value.to_owned())];
        out.push(Case(label, args, envs, names, want));
    }
    out
}
