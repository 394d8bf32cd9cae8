//! The engine: runs a checked runbook's steps in order and reports what happened as events.
//!
//! The order in which one step is evaluated is fixed:
//!
//! 1. `when`: if it is false the step is skipped.
//! 2. `for_each`: the items are worked out; the step then runs once per item.
//! 3. Confirmation: an irreversible step, and a manual step, need the operator's yes (or
//!    `--yes`); without a terminal to ask on, the step is refused.
//! 4. For each item, attempts (one, or `retry.attempts`):
//!    a. the request is rendered and sent;
//!    b. the status is checked; if it is wrong, nothing else is (the body is an error);
//!    c. the captures are taken (a secret is registered with the redactor at once);
//!    d. the `json`, `headers` and `that` assertions are checked, all of them;
//!    e. `retry.until` is evaluated;
//!    any failure in b-e makes the attempt fail; another attempt follows after the backoff.
//! 5. The captures of the last attempt become visible to later steps.
//!
//! A failed, refused or interrupted step stops the run; the summary then carries that step's
//! rollback note and those of the completed steps in reverse order, rendered with live values.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minijinja::Value;
use tokio::sync::watch;

use super::context::Context;
use super::durable::{Durability, Settlement};
use super::event::{
    CaptureRecord, Event, RequestRecord, RollbackNote, RunStatus, RunSummary, StepResult,
    StepStatus,
};
use super::inputs::Binding;
use super::values::Values;
use crate::journal::Record;
use crate::runbook::Runbook;
use crate::runbook::model::{Action, Body, CaptureSource, ForEach, HttpRequest, Step};
use crate::secret::{MASK, fingerprint};
use crate::step::http::{
    self, Client, RETRY_AFTER_CAP, Response, TRANSPORT_TRIES, TransportError, backoff, retry_after,
};
use crate::step::judge::{self, Captured, Judge};
use crate::template::Scope;

/// A note that could not be filled in with the run's values: shown as written, saying so
/// and why, so nobody takes `{{ … }}` for what to type.
fn unrendered(source: &str, error: &crate::template::TemplateError) -> String {
    format!(
        "{} (as written: its values could not be filled in: {error})",
        source.trim()
    )
}

/// Receives the run's events as they happen.
pub trait Reporter {
    fn event(&mut self, event: &Event);
}

/// A question for the operator before a step that needs confirmation.
#[derive(Clone, Debug)]
pub struct Question {
    pub step_id: String,
    pub title: String,
    pub kind: QuestionKind,
}

#[derive(Clone, Debug)]
pub enum QuestionKind {
    /// What cannot be undone, and the requests that will do it.
    Irreversible {
        reason: String,
        actions: Vec<String>,
    },
    /// The operator carried out the manual instructions.
    Manual { question: String },
    /// A crash left the step's request unanswered: repeat it (yes), count it as done (skip),
    /// or stop (no).
    InDoubt { facts: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    /// Only for [`QuestionKind::InDoubt`]: it took effect, do not repeat it.
    Skip,
}

/// A value a manual step asks the operator for.
#[derive(Clone, Debug)]
pub struct Request {
    pub step_id: String,
    pub name: String,
    pub description: Option<String>,
    pub secret: bool,
}

/// Asks the operator. Called on a blocking thread, so it may read a terminal.
pub trait Confirmer: Send + Sync {
    fn confirm(&self, question: &Question) -> Answer;
    /// A value typed in by the operator (hidden when secret); `None` when none was given.
    fn ask(&self, request: &Request) -> Option<String>;
}

/// Becomes `true` when the run must stop at the next safe point (Ctrl-C, SIGTERM).
pub type Interrupt = watch::Receiver<bool>;

/// Runs every step and returns the summary (also sent as the last event).
pub async fn run(
    runbook: &Runbook,
    context: &Context,
    binding: Binding,
    reporter: &mut dyn Reporter,
    confirmer: Arc<dyn Confirmer>,
    interrupt: Interrupt,
    durability: Durability,
) -> RunSummary {
    let started = Instant::now();
    reporter.event(&Event::RunStarted {
        run_id: context.run_id.clone(),
        runbook: runbook.name.clone(),
        title: runbook.title.clone(),
        file: runbook.source.name(),
        digest: runbook.source.digest.clone(),
        steps: runbook.steps.len(),
        started_at: context.started_at.to_string(),
    });
    let client = match Client::new(context.redactor.clone())
        .map(|client| client.reaching_only(context.reachable.clone()))
    {
        Ok(client) => client,
        Err(error) => {
            let summary = RunSummary {
                run_id: context.run_id.clone(),
                status: RunStatus::Failed,
                failed_step: None,
                duration_ms: 0,
                rollback: vec![RollbackNote {
                    step: String::new(),
                    title: String::new(),
                    failed: true,
                    note: format!("the HTTP client could not start: {error}"),
                }],
                mutated: false,
                journal: None,
                journal_problem: None,
            };
            reporter.event(&Event::RunFinished(summary.clone()));
            return summary;
        }
    };
    // Values the templates make of secrets are masked like the secrets themselves.
    // A generic store target reads the propagated value as `value`.
    let mut secrets = runbook.secrets.clone();
    let propagates_secret = runbook.steps.iter().any(|step| {
        matches!(&step.action, Action::Propagate(propagate) if propagate
            .targets
            .iter()
            .any(|target| target.values.iter().any(|value| value.secret)))
    });
    if propagates_secret {
        secrets.insert("value".to_string());
    }
    runbook
        .templates
        .watch_secrets(context.redactor.clone(), secrets);
    let mut engine = Engine {
        runbook,
        context,
        client,
        values: binding.values,
        services: binding.services,
        confirmer,
        interrupt,
        completed: Vec::new(),
        durability,
        mutated: false,
        deadline: context.deadline.map(|deadline| started + deadline),
        item_index: None,
    };
    let mut outcome = (RunStatus::Completed, None);
    for (index, step) in runbook.steps.iter().enumerate() {
        if engine.interrupted() {
            outcome = (RunStatus::Aborted, None);
            break;
        }
        reporter.event(&Event::StepStarted {
            index: index + 1,
            id: step.id.clone(),
            title: step.title.clone(),
            effect: step.effect(),
        });
        let done_before = engine
            .durability
            .resume
            .as_ref()
            .is_some_and(|plan| plan.done.contains(&step.id));
        let (mut result, items) = if done_before {
            (engine.done_earlier(index, step), Vec::new())
        } else {
            engine.step(index, step, reporter).await
        };
        if !done_before {
            let record = Record::StepFinished {
                step: step.id.clone(),
                status: status_name(result.status).into(),
                failures: result.failures.clone(),
                note: result.note.clone(),
                pending: result.in_doubt.clone(),
            };
            // Written now (a killed process loses nothing written) and on the disk with the
            // next sync: before the next change, before any wait, at the end. Only a machine
            // that goes down before then can turn a finished change back into one in doubt,
            // which a resume settles like any other.
            if let Err(error) = engine.journal(record, false) {
                result.failures.push(error);
                result.status = StepStatus::Failed;
            }
        }
        let status = result.status;
        reporter.event(&Event::StepFinished(result));
        match status {
            StepStatus::Ok => engine.completed.push((index, items)),
            StepStatus::Skipped => {}
            StepStatus::Failed => {
                outcome = (RunStatus::Failed, Some((index, items)));
                break;
            }
            StepStatus::Refused => {
                outcome = (RunStatus::Refused, Some((index, items)));
                break;
            }
            StepStatus::Interrupted => {
                outcome = (RunStatus::Aborted, Some((index, items)));
                break;
            }
        }
    }
    let (status, failed) = outcome;
    let rollback = if status == RunStatus::Completed {
        Vec::new()
    } else {
        engine.rollback_notes(failed.as_ref())
    };
    let failed_step = failed.map(|(index, _)| runbook.steps[index].id.clone());
    let finished = Record::RunFinished {
        status: run_status_name(status).into(),
        failed_step: failed_step.clone(),
        at: crate::journal::now(),
    };
    let mut journal_note = None;
    if let Err(error) = engine.journal(finished, true) {
        journal_note = Some(error);
    } else if status == RunStatus::Completed
        && let Some(journal) = engine.durability.journal.as_mut()
        && let Err(error) = journal.scrub_sealed()
    {
        journal_note = Some(format!(
            "the run completed, but its sealed values could not be removed from {} ({error}): remove the file once you no longer need it",
            journal.path().display()
        ));
    }
    let summary = RunSummary {
        run_id: context.run_id.clone(),
        status,
        failed_step,
        duration_ms: millis(started.elapsed()),
        rollback,
        mutated: engine.mutated,
        journal: engine
            .durability
            .journal
            .as_ref()
            .map(|journal| journal.path().display().to_string()),
        journal_problem: journal_note,
    };
    reporter.event(&Event::RunFinished(summary.clone()));
    summary
}

fn status_name(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Ok => "ok",
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "skipped",
        StepStatus::Refused => "refused",
        StepStatus::Interrupted => "interrupted",
    }
}

fn run_status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Completed => "completed",
        RunStatus::Failed => "failed",
        RunStatus::Refused => "refused",
        RunStatus::Aborted => "aborted",
    }
}

pub(super) struct Engine<'a> {
    pub(super) runbook: &'a Runbook,
    pub(super) context: &'a Context,
    pub(super) client: Client,
    pub(super) values: Values,
    /// Base URLs by service, with `--service` overrides applied.
    pub(super) services: indexmap::IndexMap<String, String>,
    pub(super) confirmer: Arc<dyn Confirmer>,
    pub(super) interrupt: Interrupt,
    /// Completed steps (index) with the items they ran for, for the rollback notes.
    completed: Vec<(usize, Vec<Option<serde_json::Value>>)>,
    pub(super) durability: Durability,
    /// Whether anything mutating was sent (a lock is kept when it was and the run stopped).
    pub(super) mutated: bool,
    /// When the run must stop (`--deadline`).
    deadline: Option<Instant>,
    /// The position of the `for_each` item being run, so its captures are journaled as that
    /// item's (a resume restores them as a list); `None` outside a loop.
    pub(super) item_index: Option<usize>,
}

/// What one attempt produced.
pub(super) struct Attempt {
    failures: Vec<String>,
    captures: Vec<(String, Captured)>,
    retryable: bool,
}

impl Engine<'_> {
    /// A step the earlier run finished, reported without running it again: as done, or as
    /// skipped when the earlier run skipped it (it changed nothing, so it has no rollback).
    fn done_earlier(&mut self, index: usize, step: &Step) -> StepResult {
        let skipped = self
            .durability
            .resume
            .as_ref()
            .is_some_and(|plan| plan.skipped.contains(&step.id));
        if skipped {
            return StepResult {
                status: StepStatus::Skipped,
                note: Some("skipped in the earlier run".into()),
                ..StepResult::new(index, step)
            };
        }
        // Counted among the completed steps (for the rollback notes) by the caller, like any
        // step that finished ok.
        StepResult {
            note: Some("done in the earlier run".into()),
            ..StepResult::new(index, step)
        }
    }

    /// Whether the run's deadline has passed.
    fn past_deadline(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Adds the step's hint for the status that made it fail, rendered with live values.
    fn add_hints(&self, step: &Step, scope: &Scope, result: &mut StepResult) {
        let Some(status) = result.requests.last().and_then(|request| request.status) else {
            return;
        };
        for (code, hint) in &step.hints {
            if *code == status {
                let text = hint
                    .render(&self.runbook.templates, scope)
                    .unwrap_or_else(|error| unrendered(hint.source(), &error));
                result.failures.push(format!("hint: {}", text.trim()));
            }
        }
    }

    pub(super) fn interrupted(&self) -> bool {
        *self.interrupt.borrow()
    }

    async fn step(
        &mut self,
        index: usize,
        step: &Step,
        reporter: &mut dyn Reporter,
    ) -> (StepResult, Vec<Option<serde_json::Value>>) {
        let started = Instant::now();
        let mut result = StepResult::new(index, step);
        let finish = |mut result: StepResult, status: StepStatus| {
            result.status = status;
            result.duration_ms = millis(started.elapsed());
            result
        };
        // Where a resumed loop goes on, and what its earlier items captured.
        let (mut first_item, mut earlier) = (0, Vec::new());
        match self.settle_earlier(step, &mut result).await {
            Settlement::Run => {}
            Settlement::Continue {
                from,
                earlier: captured,
            } => {
                (first_item, earlier) = (from, captured);
            }
            Settlement::Done(note) => {
                result.note = Some(note);
                return (finish(result, StepStatus::Ok), Vec::new());
            }
            Settlement::Stop(status) => return (finish(result, status), Vec::new()),
        }
        if self.past_deadline() {
            result
                .failures
                .push("the run's --deadline passed before this step".into());
            return (finish(result, StepStatus::Failed), Vec::new());
        }
        let scope = self.values.scope();
        if let Some(when) = &step.when {
            match when.is_true(&self.runbook.templates, &scope) {
                Ok(true) => {}
                Ok(false) => {
                    result.note = Some(format!("skipped: `{}` is false", when.source()));
                    return (finish(result, StepStatus::Skipped), Vec::new());
                }
                Err(error) => {
                    result.failures.push(format!(
                        "cannot evaluate `when: {}`: {error}",
                        when.source()
                    ));
                    return (finish(result, StepStatus::Failed), Vec::new());
                }
            }
        }
        let items = match self.items(step, &scope) {
            Ok(items) => items,
            Err(error) => {
                result.failures.push(error);
                return (finish(result, StepStatus::Failed), Vec::new());
            }
        };
        if let Some(status) = self.confirm(step, &items, &mut result, reporter).await {
            return (finish(result, status), items);
        }
        result.note = match first_item {
            0 => result.note,
            all if all >= items.len() => Some(format!(
                "the earlier run got all {} items through",
                items.len()
            )),
            1 => Some(format!(
                "continued at item 2 of {}: the earlier run got item 1 through",
                items.len()
            )),
            through => Some(format!(
                "continued at item {} of {}: the earlier run got items 1 to {through} through",
                through + 1,
                items.len()
            )),
        };
        let mut per_item_captures: Vec<Vec<(String, Captured)>> = Vec::new();
        for (position, item) in items.iter().enumerate().skip(first_item) {
            self.item_index = step.for_each.is_some().then_some(position);
            let item_scope = item_scope(&scope, item.as_ref());
            let outcome = match &step.action {
                Action::Http(request) => {
                    self.attempts(
                        step,
                        request,
                        &item_scope,
                        item.as_ref(),
                        &mut result,
                        reporter,
                    )
                    .await
                }
                Action::Manual(manual) => self.ask(step, manual, &mut result).await,
                Action::Propagate(propagate) => {
                    self.propagate(step, propagate, &item_scope, &mut result)
                        .await
                }
                Action::Audit(audit) => self.audit(step, audit, &item_scope, &mut result).await,
            };
            match outcome {
                Ok(captures) => {
                    per_item_captures.push(captures);
                    // Which items went through, for a resume to go on after them.
                    if step.for_each.is_some()
                        && let Err(error) = self.journal(
                            Record::ItemFinished {
                                step: step.id.clone(),
                                item: position,
                            },
                            false,
                        )
                    {
                        result.failures.push(error);
                        return (finish(result, StepStatus::Failed), items);
                    }
                }
                Err(status) => {
                    self.add_hints(step, &item_scope, &mut result);
                    return (finish(result, status), items);
                }
            }
        }
        // The bindings are shared with `scope` until it is gone; binding the captures after it
        // adds to them in place instead of copying them.
        drop(scope);
        self.commit_captures(step, earlier, per_item_captures, &mut result);
        (finish(result, StepStatus::Ok), items)
    }

    /// The items a step runs for: one `None` without `for_each`.
    pub(super) fn items(
        &self,
        step: &Step,
        scope: &Scope,
    ) -> Result<Vec<Option<serde_json::Value>>, String> {
        let Some(for_each) = &step.for_each else {
            return Ok(vec![None]);
        };
        let list = match for_each {
            ForEach::Items(items) => items
                .iter()
                .map(|item| judge::render_json(item, &self.runbook.templates, scope))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| format!("cannot render the `for_each` items: {error}"))?,
            ForEach::Expression(expression) => {
                let value = expression
                    .eval(&self.runbook.templates, scope)
                    .map_err(|error| {
                        format!(
                            "cannot evaluate `for_each: {}`: {error}",
                            expression.source()
                        )
                    })?;
                match serde_json::to_value(&value) {
                    Ok(serde_json::Value::Array(items)) => items,
                    _ => {
                        return Err(format!("`for_each: {}` is not a list", expression.source()));
                    }
                }
            }
        };
        Ok(list.into_iter().map(Some).collect())
    }

    /// Asks for confirmation where the step needs it. `Some(status)` ends the step.
    async fn confirm(
        &mut self,
        step: &Step,
        items: &[Option<serde_json::Value>],
        result: &mut StepResult,
        reporter: &mut dyn Reporter,
    ) -> Option<StepStatus> {
        let scope = self.values.scope();
        let mut questions = Vec::new();
        if let Some(reason) = &step.irreversible {
            let actions = match &step.action {
                Action::Http(request) => items
                    .iter()
                    .map(|item| {
                        match request
                            .url
                            .render(&self.runbook.templates, &item_scope(&scope, item.as_ref()))
                        {
                            Ok(url) => super::durable::describe_request(request.method, &url),
                            Err(_) => super::durable::describe_request(
                                request.method,
                                request.url.source(),
                            ),
                        }
                    })
                    .collect(),
                Action::Manual(_) => vec!["the manual instructions below".to_string()],
                Action::Propagate(propagate) => propagate
                    .targets
                    .iter()
                    .map(|target| format!("write to {}", target.kind.provider()))
                    .collect(),
                Action::Audit(audit) => vec![format!("record {}", audit.action)],
            };
            questions.push(QuestionKind::Irreversible {
                reason: reason.clone(),
                actions,
            });
        }
        let mut held_instructions: Option<String> = None;
        if let Action::Manual(manual) = &step.action {
            let instructions = match manual.instructions.render(&self.runbook.templates, &scope) {
                Ok(text) => text,
                Err(error) => {
                    result
                        .failures
                        .push(format!("cannot render the instructions: {error}"));
                    return Some(StepStatus::Failed);
                }
            };
            questions.push(QuestionKind::Manual {
                question: manual.confirm.clone(),
            });
            // Shown before the manual question, so the operator reads what they confirm: at
            // once, or, for an irreversible manual step, once the irreversible question (which
            // points at "the manual instructions below") has been answered yes.
            if step.irreversible.is_none() {
                reporter.event(&Event::ManualInstructions {
                    id: step.id.clone(),
                    instructions: instructions.clone(),
                });
            } else {
                held_instructions = Some(instructions);
            }
        }
        for (position, kind) in questions.into_iter().enumerate() {
            if position == 1
                && let Some(instructions) = held_instructions.take()
            {
                reporter.event(&Event::ManualInstructions {
                    id: step.id.clone(),
                    instructions,
                });
            }
            let irreversible = matches!(kind, QuestionKind::Irreversible { .. });
            if self.context.assume_yes {
                result.note = Some(if irreversible {
                    "irreversible: confirmed by --yes".into()
                } else {
                    "manual: confirmed by --yes".into()
                });
                continue;
            }
            if !self.context.interactive {
                result.failures.push(if irreversible {
                    format!(
                        "step `{}` is irreversible ({}) and there is no terminal to confirm it on; re-run with --yes to confirm it",
                        step.id,
                        step.irreversible.as_deref().unwrap_or("")
                    )
                } else {
                    format!(
                        "step `{}` is a manual step and there is no terminal to confirm it on; run at a terminal, or pass --yes once the instructions have been carried out",
                        step.id
                    )
                });
                return Some(StepStatus::Refused);
            }
            let answer = match self.ask_yes_no(step, kind, result).await {
                Ok(answer) => answer,
                Err(status) => return Some(status),
            };
            if answer == Answer::No {
                result.failures.push(if irreversible {
                    "the operator declined the irreversible step".into()
                } else {
                    "the operator did not confirm the manual step".into()
                });
                return Some(StepStatus::Refused);
            }
            result.note = Some(if irreversible {
                "irreversible: confirmed".into()
            } else {
                "manual: confirmed".into()
            });
        }
        None
    }

    /// Runs the attempts for one item. `Err` carries the status that ends the step.
    async fn attempts(
        &mut self,
        step: &Step,
        request: &HttpRequest,
        scope: &Scope,
        item: Option<&serde_json::Value>,
        result: &mut StepResult,
        reporter: &mut dyn Reporter,
    ) -> Result<Vec<(String, Captured)>, StepStatus> {
        let attempts = step.retry.as_ref().map_or(1, |retry| retry.attempts);
        let step_deadline = step.timeout.map(|timeout| Instant::now() + timeout);
        let mut attempt_number = 0;
        loop {
            attempt_number += 1;
            let sent = self
                .send_with_retries(step, request, scope, item, attempt_number, result, reporter)
                .await?;
            let (url, sent) = sent;
            // A server that says when to come back (429, 503 with Retry-After) is waited for,
            // up to the cap, if that is longer than the step's own interval.
            let asked = match &sent {
                Ok(response) if response.status == 429 || response.status >= 500 => {
                    retry_after(response).map(|asked| asked.min(RETRY_AFTER_CAP))
                }
                _ => None,
            };
            let attempt = match sent {
                Ok(response) => self.judge(step, &response, scope),
                Err(error) => Attempt {
                    failures: vec![error.describe(&url)],
                    captures: Vec::new(),
                    retryable: !matches!(error, TransportError::InvalidRequest(_)),
                },
            };
            if let Err(error) = self.journal_captures(step, &attempt.captures) {
                result.failures.push(error);
                return Err(StepStatus::Failed);
            }
            if attempt.failures.is_empty() {
                return Ok(attempt.captures);
            }
            let wait = step
                .retry
                .as_ref()
                .map_or(Duration::ZERO, |retry| retry.delay_after(attempt_number))
                .max(asked.unwrap_or_default());
            let out_of_time = self.out_of_time(step_deadline, wait);
            if attempt_number >= attempts || !attempt.retryable || out_of_time.is_some() {
                result.failures.extend(attempt.failures);
                if let Some(reason) = out_of_time {
                    result.failures.push(reason);
                } else if attempts > 1 {
                    result
                        .failures
                        .push(format!("gave up after {attempt_number} attempt(s)"));
                }
                return Err(StepStatus::Failed);
            }
            let reason = attempt.failures.join("; ");
            self.wait_to_retry(
                step,
                attempt_number,
                attempts,
                wait,
                reason,
                result,
                reporter,
            )
            .await?;
        }
    }

    /// The reason the step or the run cannot wait `wait` more, if it cannot.
    fn out_of_time(&self, step_deadline: Option<Instant>, wait: Duration) -> Option<String> {
        let after = Instant::now() + wait;
        if step_deadline.is_some_and(|deadline| after > deadline) {
            return Some("the step's timeout has passed".into());
        }
        if self.deadline.is_some_and(|deadline| after > deadline) {
            return Some("the run's --deadline has passed".into());
        }
        None
    }

    /// Announces a retry (output and journal) and waits for it, unless interrupted.
    #[allow(clippy::too_many_arguments)]
    async fn wait_to_retry(
        &mut self,
        step: &Step,
        attempt: u32,
        attempts: u32,
        wait: Duration,
        reason: String,
        result: &mut StepResult,
        reporter: &mut dyn Reporter,
    ) -> Result<(), StepStatus> {
        reporter.event(&Event::StepRetrying {
            id: step.id.clone(),
            attempt,
            attempts,
            wait_ms: millis(wait),
            reason: reason.clone(),
        });
        let record = Record::Retry {
            step: step.id.clone(),
            attempt,
            wait_ms: millis(wait),
            reason,
        };
        // On the disk before the wait, however long it is.
        if let Err(error) = self.journal(record, true) {
            result.failures.push(error);
            return Err(StepStatus::Failed);
        }
        let mut interrupt = self.interrupt.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => Ok(()),
            _ = interrupt.wait_for(|stop| *stop) => {
                result.failures.push("interrupted while waiting to retry".into());
                Err(StepStatus::Interrupted)
            }
        }
    }

    /// Sends one attempt's request: announced in the journal first when it changes something,
    /// sent again on connection errors, 429 and 5xx when that is safe (the idempotent methods,
    /// or a step marked `retryable`), honouring Retry-After up to a cap. A request that changes
    /// something is not abandoned on Ctrl-C: its answer is awaited, so the journal can say what
    /// happened.
    #[allow(clippy::too_many_arguments)]
    async fn send_with_retries(
        &mut self,
        step: &Step,
        request: &HttpRequest,
        scope: &Scope,
        item: Option<&serde_json::Value>,
        attempt_number: u32,
        result: &mut StepResult,
        reporter: &mut dyn Reporter,
    ) -> Result<(String, Result<Response, TransportError>), StepStatus> {
        let mut tries = 0;
        loop {
            tries += 1;
            let prepared = match self.prepare(request, scope) {
                Ok(prepared) => prepared,
                Err(error) => {
                    result.failures.push(error);
                    return Err(StepStatus::Failed);
                }
            };
            let url = prepared.url.clone();
            let mutating = !request.read_only;
            let mutated_before = self.mutated;
            if mutating {
                let action = || super::durable::describe_request(request.method, &url);
                if let Err(error) = self.intent(step, item, attempt_number, action) {
                    result.failures.push(error);
                    return Err(StepStatus::Failed);
                }
            }
            let started = Instant::now();
            let sent = if mutating {
                let send = self.client.send(prepared);
                tokio::pin!(send);
                let mut interrupt = self.interrupt.clone();
                tokio::select! {
                    sent = &mut send => sent,
                    _ = interrupt.wait_for(|stop| *stop) => {
                        reporter.event(&Event::FinishingRequest {
                            id: step.id.clone(),
                            request: super::durable::describe_request(request.method, &url),
                        });
                        send.await
                    }
                }
            } else {
                let mut interrupt = self.interrupt.clone();
                tokio::select! {
                    sent = self.client.send(prepared) => sent,
                    _ = interrupt.wait_for(|stop| *stop) => {
                        result.requests.push(record(request, &url, None, started, attempt_number, item));
                        result.failures.push("interrupted while waiting for the response".into());
                        return Err(StepStatus::Interrupted);
                    }
                }
            };
            let status = sent.as_ref().ok().map(|response| response.status);
            result
                .requests
                .push(record(request, &url, status, started, attempt_number, item));
            // Sent, but no usable answer: whether it took effect is unknown (a refused or
            // unresolvable connection never carried the request).
            result.in_doubt = match &sent {
                // An answer too large to read was still an answer: the change may have happened.
                Err(
                    TransportError::Timeout(_)
                    | TransportError::Other(_)
                    | TransportError::TooLarge,
                ) if mutating => Some(super::durable::describe_request(request.method, &url)),
                _ => None,
            };
            // A request that never left (refused, unresolvable, TLS, invalid) changed nothing.
            if mutating
                && matches!(
                    &sent,
                    Err(TransportError::Refused
                        | TransportError::Connect(_)
                        | TransportError::Dns(_)
                        | TransportError::Tls(_)
                        | TransportError::InvalidRequest(_))
                )
            {
                self.mutated = mutated_before;
            }
            // Not a status the step expects (a poll that waits for a 503 to end).
            let expected = |response: &Response| {
                step.expect
                    .status
                    .as_ref()
                    .is_some_and(|expected| expected.accepts(response.status))
            };
            let transient =
                http::transient(&sent, &url).filter(|_| !sent.as_ref().is_ok_and(expected));
            let Some((reason, asked)) = transient else {
                return Ok((url, sent));
            };
            // A step with its own `retry` is sent again by it, at its pace: retrying inside
            // each of its attempts as well multiplied the wait (a poll of 30 attempts against a
            // dead service took 30 × 4 requests and almost four minutes to give up).
            if tries >= TRANSPORT_TRIES
                || step.retry.is_some()
                || !step.retry_transport(request.method)
            {
                return Ok((url, sent));
            }
            let wait = match asked {
                Some(asked) if asked > RETRY_AFTER_CAP => {
                    result.failures.push(format!(
                        "the server asks to retry in {} (Retry-After), longer than the {} this run waits",
                        http::humanize(asked),
                        http::humanize(RETRY_AFTER_CAP)
                    ));
                    return Ok((url, sent));
                }
                Some(asked) => asked,
                None => backoff(tries),
            };
            if let Some(reason) = self.out_of_time(None, wait) {
                result.failures.push(reason);
                return Ok((url, sent));
            }
            let reason = format!("{reason}; request {tries} of {TRANSPORT_TRIES}");
            self.wait_to_retry(step, tries, TRANSPORT_TRIES, wait, reason, result, reporter)
                .await?;
        }
    }

    /// Renders the request with the values bound now.
    pub(super) fn prepare(
        &self,
        request: &HttpRequest,
        scope: &Scope,
    ) -> Result<http::Request, String> {
        let templates = &self.runbook.templates;
        let render_error = |what: &str, error: crate::template::TemplateError| {
            format!("cannot render the {what}: {error}")
        };
        let mut url = request
            .url
            .render(templates, scope)
            .map_err(|error| render_error("URL", error))?;
        if !request.query.is_empty() {
            let mut parsed = reqwest::Url::parse(&url)
                .map_err(|error| format!("the URL `{url}` is not valid: {error}"))?;
            {
                let mut pairs = parsed.query_pairs_mut();
                for (name, value) in &request.query {
                    let value = value.render(templates, scope).map_err(|error| {
                        render_error(&format!("query parameter `{name}`"), error)
                    })?;
                    pairs.append_pair(name, &value);
                }
            }
            url = parsed.to_string();
        }
        let mut headers = Vec::with_capacity(request.headers.len());
        for (name, value) in &request.headers {
            let value = value
                .render(templates, scope)
                .map_err(|error| render_error(&format!("header `{name}`"), error))?;
            headers.push((name.clone(), value));
        }
        let (body, content_type) = match &request.body {
            None => (None, None),
            Some(Body::Json(json)) => {
                let value = judge::render_json(json, templates, scope)
                    .map_err(|error| format!("cannot render the JSON body: {error}"))?;
                let bytes = serde_json::to_vec(&value).map_err(|error| error.to_string())?;
                (Some(bytes), Some("application/json"))
            }
            Some(Body::Form(fields)) => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                for (name, value) in fields {
                    let value = value
                        .render(templates, scope)
                        .map_err(|error| render_error(&format!("form field `{name}`"), error))?;
                    form.append_pair(name, &value);
                }
                (
                    Some(form.finish().into_bytes()),
                    Some("application/x-www-form-urlencoded"),
                )
            }
            Some(Body::Raw(text)) => {
                let text = text
                    .render(templates, scope)
                    .map_err(|error| render_error("body", error))?;
                (Some(text.into_bytes()), Some("text/plain; charset=utf-8"))
            }
        };
        Ok(http::Request {
            method: request.method,
            url,
            headers,
            body,
            content_type,
            timeout: request.timeout,
        })
    }

    /// Status, captures, assertions and `until`, in that order (see the module comment).
    fn judge(&self, step: &Step, response: &Response, scope: &Scope) -> Attempt {
        let mut attempt = Attempt {
            failures: Vec::new(),
            captures: Vec::new(),
            retryable: true,
        };
        let expected = judge::expected_status(&step.expect);
        // An unexpected status can still carry the secret the step captures (a 200 where a 201
        // was expected): masked from the message quoting the body, and kept (sealed) in the
        // journal, since the API may never show it again. Only those captures are taken then.
        let accepted = expected.accepts(response.status);
        for capture in &step.captures {
            if !accepted && !capture.secret.is_secret() {
                continue;
            }
            match judge::capture(capture, response) {
                Ok(captured) => {
                    if let Captured::Secret(secret) = &captured {
                        self.context.redactor.register(secret);
                    }
                    attempt.captures.push((capture.name.clone(), captured));
                }
                Err(failure) if accepted => attempt.failures.push(failure),
                Err(_) => {}
            }
        }
        if !accepted {
            attempt
                .failures
                .push(judge::status_failure(&expected, response));
            return attempt;
        }
        let needs_scope = !step.expect.that.is_empty()
            || step
                .retry
                .as_ref()
                .is_some_and(|retry| retry.until.is_some());
        let judged_scope = if needs_scope {
            let mut judged = scope.with("response", response_value(response));
            for (name, captured) in &attempt.captures {
                judged = judged.with(name, captured_value(captured));
            }
            judged
        } else {
            scope.clone()
        };
        // Where the secrets sit in the body, for quoting a failed assertion without them.
        let has_assertions = !step.expect.json.is_empty()
            || !step.expect.headers.is_empty()
            || !step.expect.that.is_empty();
        let secret_pointers = if has_assertions {
            secret_pointers(step, response)
        } else {
            Vec::new()
        };
        let judge = Judge {
            templates: &self.runbook.templates,
            scope: &judged_scope,
            secret_pointers: &secret_pointers,
            redactor: &self.context.redactor,
        };
        attempt
            .failures
            .extend(judge.assertions(&step.expect, response));
        if let Some(until) = step.retry.as_ref().and_then(|retry| retry.until.as_ref()) {
            match until.is_true(&self.runbook.templates, &judged_scope) {
                Ok(true) => {}
                Ok(false) => attempt
                    .failures
                    .push(format!("`{}` does not hold yet", until.source())),
                Err(error) => attempt.failures.push(format!(
                    "cannot evaluate `until: {}`: {error}",
                    until.source()
                )),
            }
        }
        attempt
    }

    /// Binds the captures for later steps; in a `for_each` step each becomes a list.
    fn commit_captures(
        &mut self,
        step: &Step,
        earlier: Vec<(String, Vec<Value>)>,
        per_item: Vec<Vec<(String, Captured)>>,
        result: &mut StepResult,
    ) {
        let looped = step.for_each.is_some();
        let mut lists: Vec<(String, Vec<Value>)> = earlier;
        for captures in per_item {
            for (name, captured) in captures {
                let secret = matches!(captured, Captured::Secret(_));
                result.captures.push(CaptureRecord {
                    name: name.clone(),
                    value: match &captured {
                        Captured::Plain(value) => value.clone(),
                        Captured::Secret(_) => serde_json::Value::String(MASK.into()),
                    },
                    secret,
                    fingerprint: match &captured {
                        Captured::Secret(value) => Some(fingerprint(value)),
                        Captured::Plain(_) => None,
                    },
                });
                if looped {
                    let value = captured_value(&captured);
                    match lists.iter_mut().find(|(existing, _)| *existing == name) {
                        Some((_, values)) => values.push(value),
                        None => lists.push((name, vec![value])),
                    }
                    continue;
                }
                match captured {
                    Captured::Plain(value) => {
                        self.values.set(&name, crate::template::to_value(&value))
                    }
                    Captured::Secret(secret) => self.values.set_secret(&name, secret, self.context),
                }
            }
        }
        for (name, values) in lists {
            self.values.set(&name, Value::from(values));
        }
    }

    /// The failed step's note, then the completed steps' in reverse order.
    fn rollback_notes(
        &self,
        failed: Option<&(usize, Vec<Option<serde_json::Value>>)>,
    ) -> Vec<RollbackNote> {
        let mut notes = Vec::new();
        let steps = failed
            .map(|(index, items)| (*index, items, true))
            .into_iter()
            .chain(
                self.completed
                    .iter()
                    .rev()
                    .map(|(index, items)| (*index, items, false)),
            );
        for (index, items, is_failed) in steps {
            let step = &self.runbook.steps[index];
            let Some(template) = &step.rollback else {
                continue;
            };
            let values = self
                .values
                .with_placeholders(template.uses().iter().map(String::as_str));
            let scope = values.scope();
            let mut rendered: Vec<String> = Vec::new();
            let item_list: Vec<Option<&serde_json::Value>> = if items.is_empty() {
                vec![None]
            } else {
                items.iter().map(Option::as_ref).collect()
            };
            for item in item_list {
                let item_scope = match item {
                    None if step.for_each.is_some() => scope.with("item", Value::from("<item>")),
                    item => item_scope(&scope, item),
                };
                let text = template
                    .render(&self.runbook.templates, &item_scope)
                    .unwrap_or_else(|error| unrendered(template.source(), &error));
                let text = text.trim().to_string();
                if !rendered.contains(&text) {
                    rendered.push(text);
                }
            }
            notes.push(RollbackNote {
                step: step.id.clone(),
                title: step.title.clone(),
                failed: is_failed,
                note: rendered.join("\n"),
            });
        }
        notes
    }
}

impl Engine<'_> {
    /// Sends one request outside a step's own attempts (a resume check, an undo, a generic
    /// propagate target, an audit callback) and records it on the step's result.
    pub(super) async fn send_recorded(
        &self,
        request: &HttpRequest,
        prepared: http::Request,
        result: &mut StepResult,
    ) -> (String, Result<Response, TransportError>) {
        let url = prepared.url.clone();
        let started = Instant::now();
        let sent = self.client.send(prepared).await;
        let status = sent.as_ref().ok().map(|response| response.status);
        result
            .requests
            .push(record(request, &url, status, started, 1, None));
        (url, sent)
    }
}

pub(super) fn record(
    request: &HttpRequest,
    url: &str,
    status: Option<u16>,
    started: Instant,
    attempt: u32,
    item: Option<&serde_json::Value>,
) -> RequestRecord {
    RequestRecord {
        method: request.method.as_str(),
        url: url.to_string(),
        status,
        duration_ms: millis(started.elapsed()),
        attempt,
        item: item.cloned(),
    }
}

/// `response` as templates see it: `status`, `headers` (lowercase names), `json`, `body`.
pub(super) fn response_value(response: &Response) -> Value {
    let headers: std::collections::BTreeMap<&str, &str> = response
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let json = response
        .json()
        .ok()
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    crate::template::to_value(serde_json::json!({
        "status": response.status,
        "headers": headers,
        "json": json,
        "body": response.text(),
    }))
}

fn captured_value(captured: &Captured) -> Value {
    match captured {
        Captured::Plain(value) => crate::template::to_value(value),
        Captured::Secret(secret) => {
            use crate::secret::ExposeSecret;
            Value::from(secret.expose_secret().to_string())
        }
    }
}

/// JSON pointers, in this response, of the values the step captures as secrets.
fn secret_pointers(step: &Step, response: &Response) -> Vec<String> {
    let mut pointers = BTreeSet::new();
    let Ok(json) = response.json() else {
        return Vec::new();
    };
    for capture in &step.captures {
        if let (true, CaptureSource::Json(path)) = (capture.secret.is_secret(), &capture.source) {
            for node in path.path.query_located(json).all() {
                pointers.insert(node.location().to_json_pointer());
            }
        }
    }
    pointers.into_iter().collect()
}

/// `scope` with a `for_each` step's current item bound as `item`.
fn item_scope(scope: &Scope, item: Option<&serde_json::Value>) -> Scope {
    match item {
        Some(item) => scope.with("item", crate::template::to_value(item)),
        None => scope.clone(),
    }
}

pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
