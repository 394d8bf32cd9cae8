//! The operator's view of a run and of a plan: one line per step, details indented under it,
//! and, when a run stops early, the rollback notes in the order to carry them out.

use std::fmt::Write as _;

use super::output::{Output, Style};
use crate::plan::Plan;
use crate::run::event::{RunStatus, RunSummary, StepResult, StepStatus, TargetStatus};
use crate::run::inputs::Source;
use crate::run::{Event, Reporter};
use crate::runbook::Runbook;
use crate::runbook::model::Effect;
use crate::step::http::humanize;

pub struct HumanReporter {
    output: Output,
    id_width: usize,
    steps: usize,
}

impl HumanReporter {
    pub fn new(output: Output, runbook: &Runbook) -> HumanReporter {
        HumanReporter {
            output,
            id_width: runbook
                .steps
                .iter()
                .map(|step| step.id.len())
                .max()
                .unwrap_or(0),
            steps: runbook.steps.len(),
        }
    }

    fn step_line(&self, result: &StepResult) -> String {
        let (label, style) = match result.status {
            StepStatus::Ok => ("ok", Style::Good),
            StepStatus::Failed => ("FAILED", Style::Bad),
            StepStatus::Skipped => ("skipped", Style::Dim),
            StepStatus::Refused => ("REFUSED", Style::Bad),
            StepStatus::Interrupted => ("STOPPED", Style::Warn),
        };
        // Written into one string: a run prints one of these per step.
        let mut line = String::with_capacity(64 + self.id_width);
        // The counter right-aligned as `index/steps` in the width of `steps/steps`.
        let pad = digits(self.steps).saturating_sub(digits(result.index));
        line.extend(std::iter::repeat_n(' ', pad));
        let _ = write!(line, "{}/{}  ", result.index, self.steps);
        if self.output.color {
            line.push_str(&self.output.paint(style, &format!("{label:<8}")));
        } else {
            let _ = write!(line, "{label:<8}");
        }
        let _ = write!(line, "  {:<id$}", result.id, id = self.id_width);
        if result.status != StepStatus::Skipped {
            let _ = write!(
                line,
                "  {:>6}",
                humanize(std::time::Duration::from_millis(result.duration_ms))
            );
        }
        if let Some(first) = result.requests.first() {
            let _ = write!(line, "  {}", first.method);
            for request in &result.requests {
                match request.status {
                    Some(status) => {
                        let _ = write!(line, " {status}");
                    }
                    None => line.push_str(" -"),
                }
            }
        } else if result.effect == Effect::Manual && result.status == StepStatus::Ok {
            line.push_str("  manual");
        }
        if let Some(note) = &result.note {
            line.push_str("  ");
            line.push_str(note);
        }
        line.truncate(line.trim_end().len());
        line
    }

    fn indent(&self) -> String {
        " ".repeat(self.steps.to_string().len() * 2 + 3)
    }

    fn summary(&self, summary: &RunSummary) -> String {
        let mut text = String::new();
        let took = humanize(std::time::Duration::from_millis(summary.duration_ms));
        let headline = match summary.status {
            RunStatus::Completed => self
                .output
                .paint(Style::Good, &format!("completed in {took}")),
            RunStatus::Failed => self.output.paint(
                Style::Bad,
                &format!(
                    "FAILED at step {} after {took}",
                    summary.failed_step.as_deref().unwrap_or("?")
                ),
            ),
            RunStatus::Refused => self.output.paint(
                Style::Bad,
                &format!(
                    "STOPPED before step {}: not confirmed",
                    summary.failed_step.as_deref().unwrap_or("?")
                ),
            ),
            RunStatus::Aborted => self.output.paint(
                Style::Warn,
                &format!(
                    "ABORTED{} after {took}",
                    summary
                        .failed_step
                        .as_deref()
                        .map(|step| format!(" during step {step}"))
                        .unwrap_or_default()
                ),
            ),
        };
        let _ = writeln!(text, "\n{headline} (run {})", summary.run_id);
        if summary.rollback.is_empty() {
            if summary.status != RunStatus::Completed {
                let _ = writeln!(text, "No step so far has a rollback note.");
            }
            return text;
        }
        let _ = writeln!(text, "\nRollback notes, in the order to carry them out:");
        for (number, note) in summary.rollback.iter().enumerate() {
            let marker = if note.failed {
                " (the step that stopped)"
            } else {
                ""
            };
            let _ = writeln!(
                text,
                "  {}. {}{marker}: {}",
                number + 1,
                note.step,
                note.title
            );
            for line in note.note.lines() {
                let _ = writeln!(text, "       {line}");
            }
        }
        text
    }
}

impl Reporter for HumanReporter {
    fn event(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                runbook,
                title,
                run_id,
                file,
                ..
            } => {
                self.output.out(&format!(
                    "{} {runbook}: {title}\n{}\n\n",
                    self.output.paint(Style::Bold, "runbook"),
                    self.output
                        .paint(Style::Dim, &format!("run {run_id} · {file}"))
                ));
            }
            Event::StepStarted { .. } => {}
            Event::ManualInstructions { id, instructions } => {
                let indent = self.indent();
                let mut text = format!("{indent}--- manual step {id}: do this, then confirm ---\n");
                for line in instructions.trim_end().lines() {
                    let _ = writeln!(text, "{indent}{line}");
                }
                let _ = writeln!(text, "{indent}---");
                // The operator must read them to confirm: on stderr once stdout is gone
                // (before this write or by it).
                self.output.out(&text);
                if self.output.stdout_failure().is_some() {
                    self.output.err(&text);
                }
            }
            Event::StepRetrying {
                id,
                attempt,
                attempts,
                wait_ms,
                reason,
            } => {
                self.output.out(&format!(
                    "{}{}\n",
                    self.indent(),
                    self.output.paint(
                        Style::Dim,
                        &format!(
                            "{id}: attempt {attempt}/{attempts} failed ({reason}); retrying in {}",
                            humanize(std::time::Duration::from_millis(*wait_ms))
                        )
                    )
                ));
            }
            Event::FinishingRequest { id, request } => {
                self.output.err(&format!(
                    "{}{id}: stopping once {request} is answered (a change in flight is let \
                     finish, so that the run knows whether it happened)\n",
                    self.indent()
                ));
            }
            Event::StepFinished(result) => {
                let mut text = self.step_line(result);
                text.push('\n');
                if result.targets.is_empty() && result.audit.is_none() && result.failures.is_empty()
                {
                    self.output.out(&text);
                    return;
                }
                let indent = self.indent();
                for target in &result.targets {
                    let status = match target.status {
                        TargetStatus::Written => "written",
                        TargetStatus::Failed => "FAILED",
                        TargetStatus::NotReached => "not reached",
                    };
                    let names = if target.names.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", target.names.join(", "))
                    };
                    let _ = writeln!(text, "{indent}{status:<11} {}:{names}", target.target);
                    if target.status == TargetStatus::Written {
                        let _ = writeln!(text, "{indent}            {}", target.detail);
                    }
                }
                if let Some(audit) = &result.audit {
                    let _ = writeln!(text, "{indent}audit record appended to {}:", audit.file);
                    let _ = writeln!(text, "{indent}{}", audit.record);
                }
                for failure in &result.failures {
                    let _ = writeln!(text, "{indent}{failure}");
                }
                self.output.out(&text);
            }
            Event::RunFinished(summary) => {
                self.output.out(&self.summary(summary));
            }
        }
    }
}

/// The plan, as text.
pub fn render_plan(plan: &Plan, output: &Output) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} {}: {}",
        output.paint(Style::Bold, "plan"),
        plan.runbook,
        plan.title
    );
    let _ = writeln!(
        text,
        "{}",
        output.paint(Style::Dim, &format!("{} ({})", plan.file, plan.digest))
    );
    if !plan.inputs.is_empty() {
        let _ = writeln!(text, "\nInputs:");
        let name_width = plan
            .inputs
            .iter()
            .map(|input| input.name.len())
            .max()
            .unwrap_or(0);
        let value_width = plan
            .inputs
            .iter()
            .map(|input| input.display.chars().count())
            .max()
            .unwrap_or(0)
            .min(48);
        for input in &plan.inputs {
            let origin = match &input.source {
                Source::Argument => "from --var".to_string(),
                Source::Env(name) => format!("from ${name}"),
                Source::Default => "default".to_string(),
                Source::Prompt => "asked".to_string(),
                Source::Computed => "computed".to_string(),
                Source::Unset => "optional, not set".to_string(),
                Source::Missing => {
                    let tried: Vec<String> =
                        input.tried.iter().map(|name| format!("${name}")).collect();
                    let ways = if input.secret {
                        tried
                    } else {
                        std::iter::once(format!("--var {}", input.name))
                            .chain(tried)
                            .collect()
                    };
                    format!("MISSING: set {}", ways.join(" or "))
                }
            };
            let secret = if input.secret { "secret, " } else { "" };
            let _ = writeln!(
                text,
                "  {:<name_width$}  {:<value_width$}  {secret}{origin}",
                input.name, input.display
            );
        }
    }
    let _ = writeln!(text, "\nSteps:");
    for step in &plan.steps {
        let effect = match step.effect {
            Effect::Irreversible => output.paint(Style::Bad, "IRREVERSIBLE"),
            Effect::Mutating => output.paint(Style::Warn, "mutating"),
            Effect::ReadOnly => "read-only".to_string(),
            Effect::Manual => "manual".to_string(),
        };
        let _ = writeln!(
            text,
            "  {}. {} [{effect}] {}",
            step.index, step.id, step.title
        );
        let pad = "       ";
        if let Some(reason) = &step.irreversible {
            let _ = writeln!(text, "{pad}cannot be undone: {reason}");
            let _ = writeln!(text, "{pad}asks for confirmation before it runs");
        }
        if let Some(when) = &step.when {
            let verdict = match when.holds {
                Some(true) => "runs",
                Some(false) => "skipped",
                None => "decided at run time",
            };
            let _ = writeln!(text, "{pad}when {} ({verdict})", when.expression);
        }
        for request in &step.requests {
            let _ = writeln!(text, "{pad}{request}");
        }
        if let Some(manual) = &step.manual {
            let _ = writeln!(text, "{pad}the operator does, then confirms:");
            for line in manual.trim_end().lines() {
                let _ = writeln!(text, "{pad}  | {line}");
            }
        }
        if !step.uses.is_empty() {
            let uses: Vec<String> = step
                .uses
                .iter()
                .map(|used| {
                    let mut text = used.name.clone();
                    let mut notes = Vec::new();
                    if used.kind == "capture" {
                        notes.push("captured");
                    }
                    if used.secret {
                        notes.push("secret");
                    }
                    if !notes.is_empty() {
                        text.push_str(&format!(" ({})", notes.join(", ")));
                    }
                    text
                })
                .collect();
            let _ = writeln!(text, "{pad}uses: {}", uses.join(", "));
        }
        if !step.captures.is_empty() {
            let captures: Vec<String> = step
                .captures
                .iter()
                .map(|capture| match capture.secret.describe() {
                    None => capture.name.clone(),
                    Some(kind) => format!("{} ({kind})", capture.name),
                })
                .collect();
            let _ = writeln!(text, "{pad}captures: {}", captures.join(", "));
        }
        if let Some(retry) = &step.retry {
            let _ = writeln!(text, "{pad}retries: {retry}");
        }
    }
    text
}

/// How many decimal digits `number` has.
fn digits(number: usize) -> usize {
    number.checked_ilog10().map_or(1, |log| log as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::digits;

    #[test]
    fn digits_counts_decimal_digits() {
        for (number, expected) in [(0, 1), (9, 1), (10, 2), (99, 2), (600, 3), (1000, 4)] {
            assert_eq!(digits(number), expected, "{number}");
        }
    }
}
