//! The comparison as Markdown for a pull request: what needs attention first, then steps,
//! inputs, vars, services, the runbook's own fields and where secrets newly go.

use std::fmt::Write as _;

use super::comparison::{Change, Comparison, ItemChange, ItemStatus};
use crate::render::markdown::code;

pub fn markdown(comparison: &Comparison) -> String {
    let mut out = format!(
        "## Runbook diff: {} → {}\n\n",
        code(&comparison.old),
        code(&comparison.new)
    );
    if !comparison.changed {
        out.push_str("No semantic changes.\n");
        return out;
    }
    if !comparison.attention.is_empty() {
        out.push_str("### Needs attention\n\n");
        for attention in &comparison.attention {
            let _ = writeln!(
                out,
                "- **{}:** {}",
                attention.kind.headline(),
                attention.message
            );
        }
        out.push('\n');
    }
    let steps = &comparison.steps;
    if !(steps.added.is_empty()
        && steps.removed.is_empty()
        && steps.moved.is_empty()
        && steps.changed.is_empty())
    {
        out.push_str("### Steps\n\n");
        for step in &steps.added {
            let _ = writeln!(
                out,
                "- Added {} at position {}: {}",
                code(&step.id),
                step.position,
                step.title
            );
        }
        for step in &steps.removed {
            let _ = writeln!(
                out,
                "- Removed {} (was at position {}): {}",
                code(&step.id),
                step.position,
                step.title
            );
        }
        for moved in &steps.moved {
            let _ = writeln!(
                out,
                "- Moved {} from position {} to {}",
                code(&moved.id),
                moved.from,
                moved.to
            );
        }
        if !(steps.added.is_empty() && steps.removed.is_empty() && steps.moved.is_empty()) {
            out.push('\n');
        }
        for step in &steps.changed {
            let _ = writeln!(out, "#### Step {}: {}\n", code(&step.id), step.title);
            out.push_str(&changes(&step.changes));
            out.push('\n');
        }
    }
    for (title, kind, items) in [
        ("Inputs", "input", &comparison.inputs),
        ("Vars", "var", &comparison.vars),
        ("Services", "service", &comparison.services),
    ] {
        if !items.is_empty() {
            let _ = writeln!(out, "### {title}\n");
            out.push_str(&item_changes(kind, items));
            out.push('\n');
        }
    }
    if !comparison.runbook.is_empty() {
        out.push_str("### The runbook\n\n");
        out.push_str(&changes(&comparison.runbook));
        out.push('\n');
    }
    if !comparison.secret_flows.is_empty() {
        out.push_str("### Secrets in new places\n\n");
        for flow in &comparison.secret_flows {
            let secrets: Vec<String> = flow.secrets.iter().map(|name| code(name)).collect();
            let risk = if flow.risk { " (**risk**)" } else { "" };
            let _ = writeln!(
                out,
                "- Step {}, {}: {}{risk}",
                code(&flow.step),
                flow.field,
                secrets.join(", ")
            );
        }
        out.push('\n');
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

fn changes(changes: &[Change]) -> String {
    let mut out = String::new();
    for change in changes {
        let line = match (&change.old, &change.new) {
            (Some(old), Some(new)) => format!("{}: {} → {}", change.field, value(old), value(new)),
            (None, Some(new)) => format!("{}: added {}", change.field, value(new)),
            (Some(old), None) => format!("{}: removed (was {})", change.field, value(old)),
            (None, None) => continue,
        };
        let _ = writeln!(out, "- {line}");
    }
    out
}

fn item_changes(kind: &str, items: &[ItemChange]) -> String {
    let mut out = String::new();
    for item in items {
        match item.status {
            ItemStatus::Added => {
                let details: Vec<String> = item
                    .changes
                    .iter()
                    .filter_map(|change| {
                        change
                            .new
                            .as_ref()
                            .map(|new| format!("{} {}", change.field, value(new)))
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "- Added {kind} {}: {}",
                    code(&item.name),
                    details.join("; ")
                );
            }
            ItemStatus::Removed => {
                let _ = writeln!(out, "- Removed {kind} {}", code(&item.name));
            }
            ItemStatus::Changed => {
                let _ = writeln!(out, "- Changed {kind} {}:", code(&item.name));
                for line in changes(&item.changes).lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
    }
    out
}

/// A value in code, or "(empty)".
fn value(text: &str) -> String {
    if text.is_empty() {
        "(empty)".to_string()
    } else {
        code(text)
    }
}
