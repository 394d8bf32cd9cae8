//! Comparing two checked runbooks: steps by id (added, removed, moved, changed field by field),
//! what a reviewer must not miss (lost confirmations, secrets headed somewhere risky, service
//! URLs), and where secrets newly flow. Named items are compared in [`super::items`].

use std::collections::{BTreeSet, HashMap, HashSet};

use super::comparison::{
    Attention, AttentionKind, ChangedStep, Comparison, ItemStatus, Move, SecretFlow, StepChanges,
    StepRef,
};
use super::fields::{self, Field};
use super::items::{field_changes, items, plain, runbook_changes, var_fields};
use crate::render::source::normalize_prose;
use crate::runbook::Runbook;
use crate::runbook::model::{Action, SecretKind, Step};

pub fn compare(old: &Runbook, new: &Runbook) -> Comparison {
    let mut comparison = Comparison {
        old: old.source.name(),
        new: new.source.name(),
        changed: false,
        attention: Vec::new(),
        steps: StepChanges::default(),
        inputs: items(
            old.inputs
                .iter()
                .map(|input| (input.name.as_str(), fields::input(input))),
            new.inputs
                .iter()
                .map(|input| (input.name.as_str(), fields::input(input))),
        ),
        vars: items(
            old.vars
                .iter()
                .map(|var| (var.name.as_str(), var_fields(var))),
            new.vars
                .iter()
                .map(|var| (var.name.as_str(), var_fields(var))),
        ),
        services: items(
            old.services
                .iter()
                .map(|(name, url)| (name.as_str(), vec![plain("URL", url)])),
            new.services
                .iter()
                .map(|(name, url)| (name.as_str(), vec![plain("URL", url)])),
        ),
        runbook: runbook_changes(old, new),
        secret_flows: Vec::new(),
    };
    compare_steps(old, new, &mut comparison);
    attend_to_values(&mut comparison);
    comparison.attention.sort_by_key(|attention| attention.kind);
    comparison.changed = !(comparison.attention.is_empty()
        && comparison.steps.added.is_empty()
        && comparison.steps.removed.is_empty()
        && comparison.steps.moved.is_empty()
        && comparison.steps.changed.is_empty()
        && comparison.inputs.is_empty()
        && comparison.vars.is_empty()
        && comparison.services.is_empty()
        && comparison.runbook.is_empty()
        && comparison.secret_flows.is_empty());
    comparison
}

fn compare_steps(old: &Runbook, new: &Runbook, comparison: &mut Comparison) {
    let (old_secrets, new_secrets) = (&old.secrets, &new.secrets);
    let old_by_id: HashMap<&str, (usize, &Step)> = old
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| (step.id.as_str(), (index + 1, step)))
        .collect();
    let new_ids: HashSet<&str> = new.steps.iter().map(|step| step.id.as_str()).collect();
    for (index, step) in old.steps.iter().enumerate() {
        if !new_ids.contains(step.id.as_str()) {
            comparison.steps.removed.push(step_ref(step, index + 1));
        }
    }
    let common_old: Vec<&str> = old
        .steps
        .iter()
        .map(|step| step.id.as_str())
        .filter(|id| new_ids.contains(id))
        .collect();
    let common_new: Vec<&str> = new
        .steps
        .iter()
        .map(|step| step.id.as_str())
        .filter(|id| old_by_id.contains_key(id))
        .collect();
    let kept = longest_common_subsequence(&common_old, &common_new);
    for (index, step) in new.steps.iter().enumerate() {
        let position = index + 1;
        let new_fields = fields::step(step);
        let Some(&(old_position, old_step)) = old_by_id.get(step.id.as_str()) else {
            comparison.steps.added.push(step_ref(step, position));
            if let Some(reason) = &step.irreversible {
                comparison.attention.push(Attention {
                    kind: AttentionKind::NewIrreversibleStep,
                    subject: step.id.clone(),
                    message: format!(
                        "step `{}`: \"{}\" `runbook exec` asks for confirmation before it.",
                        step.id,
                        normalize_prose(reason)
                    ),
                });
            }
            flows(
                &step.id,
                &[],
                &new_fields,
                old_secrets,
                new_secrets,
                comparison,
            );
            continue;
        };
        if !kept.contains(step.id.as_str()) {
            comparison.steps.moved.push(Move {
                id: step.id.clone(),
                from: old_position,
                to: position,
            });
        }
        confirmation(old_step, step, comparison);
        let old_fields = fields::step(old_step);
        let changes = field_changes(&old_fields, &new_fields);
        if !changes.is_empty() {
            comparison.steps.changed.push(ChangedStep {
                id: step.id.clone(),
                title: step.title.trim().to_string(),
                changes,
            });
        }
        for capture in &step.captures {
            let was_secret = old_step
                .captures
                .iter()
                .any(|old| old.name == capture.name && old.secret.is_secret());
            if was_secret && capture.secret == SecretKind::No {
                no_longer_secret(comparison, "capture", &capture.name);
            }
        }
        if let (Action::Manual(old_manual), Action::Manual(new_manual)) =
            (&old_step.action, &step.action)
        {
            for ask in &new_manual.ask {
                let was_secret = old_manual
                    .ask
                    .iter()
                    .any(|old| old.name == ask.name && old.secret.is_secret());
                if was_secret && !ask.secret.is_secret() {
                    no_longer_secret(comparison, "asked value", &ask.name);
                }
            }
        }
        flows(
            &step.id,
            &old_fields,
            &new_fields,
            old_secrets,
            new_secrets,
            comparison,
        );
    }
}

/// A step that stops being irreversible or manual runs without the operator's confirmation.
fn confirmation(old: &Step, new: &Step, comparison: &mut Comparison) {
    let id = &new.id;
    match (&old.irreversible, &new.irreversible) {
        (Some(reason), None) => comparison.attention.push(Attention {
            kind: AttentionKind::LostConfirmation,
            subject: id.clone(),
            message: format!(
                "step `{id}` is no longer marked irreversible (it was: \"{}\"); `runbook exec` now runs it without asking.",
                normalize_prose(reason)
            ),
        }),
        (None, Some(reason)) => comparison.attention.push(Attention {
            kind: AttentionKind::BecameIrreversible,
            subject: id.clone(),
            message: format!(
                "step `{id}`: \"{}\" `runbook exec` now asks for confirmation before it.",
                normalize_prose(reason)
            ),
        }),
        _ => {}
    }
    let was_manual = matches!(old.action, Action::Manual(_));
    let is_manual = matches!(new.action, Action::Manual(_));
    if was_manual && !is_manual && new.irreversible.is_none() {
        comparison.attention.push(Attention {
            kind: AttentionKind::LostConfirmation,
            subject: id.clone(),
            message: format!(
                "step `{id}` was a manual step the operator confirmed; it now runs unattended."
            ),
        });
    }
}

/// Secrets a step's fields read now that the same fields did not read before.
fn flows(
    step: &str,
    old_fields: &[Field],
    new_fields: &[Field],
    old_secrets: &BTreeSet<String>,
    new_secrets: &BTreeSet<String>,
    comparison: &mut Comparison,
) {
    for field in new_fields {
        let before: BTreeSet<&String> = old_fields
            .iter()
            .filter(|old| old.key == field.key)
            .flat_map(|old| old.uses.iter().filter(|name| old_secrets.contains(*name)))
            .collect();
        let secrets: Vec<String> = field
            .uses
            .iter()
            .filter(|name| new_secrets.contains(*name) && !before.contains(name))
            .cloned()
            .collect();
        if secrets.is_empty() {
            continue;
        }
        let risk = field.place.is_risk();
        if risk {
            let names: Vec<String> = secrets.iter().map(|name| format!("`{name}`")).collect();
            comparison.attention.push(Attention {
                kind: AttentionKind::SecretAtRisk,
                subject: step.to_string(),
                message: format!(
                    "step `{step}` now puts {} in its {}; {}.",
                    names.join(", "),
                    field.key,
                    risk_reason(field.place)
                ),
            });
        }
        comparison.secret_flows.push(SecretFlow {
            step: step.to_string(),
            field: field.key.clone(),
            secrets,
            risk,
        });
    }
}

fn risk_reason(place: fields::Place) -> &'static str {
    use fields::Place;
    match place {
        Place::Url | Place::Query => "URLs end up in server, proxy and history logs",
        Place::Manual | Place::Hint => "it is shown to the operator",
        Place::Rollback => "rollback notes are shown to the operator when a run fails",
        Place::Audit => "audit records are kept and shared",
        _ => "check that it belongs there",
    }
}

/// Inputs and vars that stopped being secret, and services whose URL changed.
fn attend_to_values(comparison: &mut Comparison) {
    let mut found = Vec::new();
    for (kind, items) in [("input", &comparison.inputs), ("var", &comparison.vars)] {
        for item in items {
            let lost = item.changes.iter().any(|change| {
                change.field == "secret"
                    && change.old.as_deref() == Some("yes")
                    && change.new.as_deref() == Some("no")
            });
            if lost {
                found.push((kind, item.name.clone()));
            }
        }
    }
    for (kind, name) in found {
        no_longer_secret(comparison, kind, &name);
    }
    for service in &comparison.services {
        if service.status != ItemStatus::Changed {
            continue;
        }
        for change in &service.changes {
            comparison.attention.push(Attention {
                kind: AttentionKind::ServiceUrlChanged,
                subject: service.name.clone(),
                message: format!(
                    "`{}`: `{}` → `{}`; every request to it, credentials included, now goes there.",
                    service.name,
                    change.old.as_deref().unwrap_or(""),
                    change.new.as_deref().unwrap_or("")
                ),
            });
        }
    }
}

fn no_longer_secret(comparison: &mut Comparison, kind: &str, name: &str) {
    comparison.attention.push(Attention {
        kind: AttentionKind::NoLongerSecret,
        subject: name.to_string(),
        message: format!(
            "{kind} `{name}`: its value will now be shown, logged and written unmasked."
        ),
    });
}

fn step_ref(step: &Step, position: usize) -> StepRef {
    StepRef {
        id: step.id.clone(),
        title: step.title.trim().to_string(),
        position,
    }
}

/// The ids kept in order between two sequences of the same ids; the others moved.
///
/// Both hold each id once, so this is the longest increasing run of the old ids' new
/// positions: found by patience sorting in O(n log n) time and O(n) memory (a table of
/// the two lengths grew to gigabytes for a runbook of 20,000 steps).
fn longest_common_subsequence<'a>(old: &[&'a str], new: &[&'a str]) -> HashSet<&'a str> {
    let position: HashMap<&str, usize> = new
        .iter()
        .enumerate()
        .map(|(index, id)| (*id, index))
        .collect();
    let positions: Vec<usize> = old
        .iter()
        .filter_map(|id| position.get(id).copied())
        .collect();
    // `tails[k]`: the index in `positions` of the smallest end of a run of length k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut previous: Vec<Option<usize>> = vec![None; positions.len()];
    for (index, &value) in positions.iter().enumerate() {
        let length = tails.partition_point(|&tail| positions[tail] < value);
        previous[index] = length.checked_sub(1).map(|before| tails[before]);
        if length == tails.len() {
            tails.push(index);
        } else {
            tails[length] = index;
        }
    }
    let mut kept = HashSet::new();
    let mut at = tails.last().copied();
    while let Some(index) = at {
        kept.insert(new[positions[index]]);
        at = previous[index];
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::longest_common_subsequence;

    /// The ids kept are in the same order in both, and as many as can be.
    #[test]
    fn the_ids_kept_are_a_longest_run_in_the_same_order() {
        for (old, new, longest) in [
            ("abcde", "abcde", 5),
            ("abcde", "edcba", 1),
            ("abcde", "bacED", 3),
            ("abcdef", "fabcde", 5),
            ("abcdef", "acebdf", 4),
            ("", "", 0),
        ] {
            let new = new.to_lowercase();
            let old: Vec<String> = old.chars().map(String::from).collect();
            let new: Vec<String> = new.chars().map(String::from).collect();
            let old: Vec<&str> = old.iter().map(String::as_str).collect();
            let new: Vec<&str> = new.iter().map(String::as_str).collect();
            let kept = longest_common_subsequence(&old, &new);
            assert_eq!(kept.len(), longest, "{old:?} {new:?}: {kept:?}");
            let in_old: Vec<&str> = old.iter().copied().filter(|id| kept.contains(id)).collect();
            let in_new: Vec<&str> = new.iter().copied().filter(|id| kept.contains(id)).collect();
            assert_eq!(in_old, in_new, "{old:?} {new:?}");
        }
    }
}
