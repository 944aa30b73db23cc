//! The book's metrics reference (`docs/src/reference/metrics.md`): every family a fresh registry
//! of each role exports, read back from its own text exposition, so the page lists exactly what
//! `GET /metrics` serves. `playground reference metrics` prints it; a test keeps the committed
//! page equal to it.

use std::fmt::Write as _;

use std::time::Duration;

use super::{AttemptLabels, FailureLabels, Metrics, OutcomeLabels, RejectLabels, UnroutedLabels};

/// One family as the exposition's `# TYPE`/`# HELP` lines and samples describe it.
struct Family {
    name: String,
    kind: String,
    help: String,
    labels: Vec<String>,
    roles: Vec<String>,
}

/// A fresh registry of `role` with one sample in every labelled family: an empty family is left
/// out of the exposition, and its samples are where the label names show.
fn sampled(role: &str) -> Metrics {
    let metrics = Metrics::new(role);
    let label = |value: &str| value.to_owned();
    let _ = metrics.unrouted.get_or_create(&UnroutedLabels {
        to: label("nowhere"),
    });
    let reason = label("timeout");
    let _ = metrics
        .publish_failures
        .get_or_create(&FailureLabels { reason });
    metrics.request("/metrics", "GET", 200, Duration::ZERO);
    let requeue = label("true");
    let _ = metrics.rejected.get_or_create(&RejectLabels { requeue });
    metrics.set_connection_state("connected", "127.0.0.1:5672");
    let attempt = label("1");
    let _ = metrics.retries.get_or_create(&AttemptLabels { attempt });
    for family in [&metrics.rpc.calls, &metrics.rpc.requests] {
        let _ = family.get_or_create(&OutcomeLabels {
            outcome: label("replied"),
        });
    }
    metrics
}

/// The metrics page for `roles` (every role's registry is rendered and merged); its header
/// names `regenerate`, the command that rewrites it.
pub fn markdown(roles: &[String], regenerate: &str) -> String {
    let mut families: Vec<Family> = Vec::new();
    for role in roles {
        for family in families_of(&sampled(role).render()) {
            match families.iter_mut().find(|f| f.name == family.name) {
                Some(known) => known.roles.push(role.clone()),
                None => families.push(Family {
                    roles: vec![role.clone()],
                    ..family
                }),
            }
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "# Metrics\n");
    let _ = writeln!(
        out,
        "<!-- Generated from the metrics registry by `playground reference metrics`; do not \
         edit. Regenerate with `{}`. -->\n",
        regenerate
    );
    let _ = writeln!(
        out,
        "Every role keeps its own registry; the roles with an HTTP port serve it as Prometheus \
         text at `GET /metrics`. Histograms are exported as `_bucket` (with `le`), `_sum` and \
         `_count` series. A family with labels has no series until its first sample.\n"
    );
    let _ = writeln!(out, "| Metric | Type | Labels | Roles | Help |");
    let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
    for family in &families {
        let roles = if family.roles.len() == roles.len() {
            "every role".to_owned()
        } else {
            list(&family.roles)
        };
        let name = match family.kind.as_str() {
            "counter" => format!("{}_total", family.name),
            "info" => format!("{}_info", family.name),
            _ => family.name.clone(),
        };
        let _ = writeln!(
            out,
            "| `{name}` | {} | {} | {roles} | {} |",
            family.kind,
            list(&family.labels),
            family.help.replace('|', "\\|")
        );
    }
    out
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every family in an exposition, in its order, with the label names of its samples.
fn families_of(text: &str) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push(Family {
                name: name.to_owned(),
                kind: String::new(),
                help: help.to_owned(),
                labels: Vec::new(),
                roles: Vec::new(),
            });
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some(family) = out.iter_mut().find(|f| f.name == name) {
                kind.clone_into(&mut family.kind);
            }
        } else if let (Some(family), Some((_, labels))) = (out.last_mut(), line.split_once('{')) {
            let labels = labels.split('}').next().unwrap_or_default();
            for pair in labels.split(',') {
                let key = pair.split('=').next().unwrap_or_default().to_owned();
                if !key.is_empty() && key != "le" && !family.labels.contains(&key) {
                    family.labels.push(key);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_gauges_belong_to_stream_sub_alone() {
        let roles = ["consume".to_owned(), "stream-sub".to_owned()];
        let page = markdown(&roles, "make docs-reference");
        let lag = "| `playground_stream_lag` | gauge |  | `stream-sub` |";
        assert!(page.contains(lag), "{page}");
        let acked = "| `playground_messages_acked_total` | counter |  | every role |";
        assert!(page.contains(acked), "{page}");
    }

    /// A family registered without a sample in [`sampled`] would be missing from the page.
    #[test]
    fn every_registered_family_is_on_the_page() {
        let sources = [
            include_str!("../metrics.rs"),
            include_str!("rpc.rs"),
            include_str!("stream.rs"),
            include_str!("published_to.rs"),
        ];
        let registered: usize = sources
            .iter()
            .map(|s| s.matches("registry.register(").count())
            .sum();
        let page = markdown(&["stream-sub".to_owned()], "");
        let rows = page
            .lines()
            .filter(|l| l.starts_with("| `playground_"))
            .count();
        assert_eq!(
            rows, registered,
            "add a sample to `sampled` for the new family: {page}"
        );
    }
}
