//! Comparing things by name, field by field: inputs, vars and services, and the runbook's own
//! fields (title, description, metadata, applies-to, rollback, gotchas).

use std::collections::{BTreeSet, HashMap, HashSet};

use super::comparison::{Change, ItemChange, ItemStatus};
use super::fields::{self, Field};
use crate::render::source::{normalize_prose, normalize_template};
use crate::runbook::Runbook;
use crate::runbook::model::Var;

/// Changes between two lists of fields, matched by key: in the new order, removals last.
pub fn field_changes(old: &[Field], new: &[Field]) -> Vec<Change> {
    let old_by_key: HashMap<&str, &Field> = old
        .iter()
        .map(|field| (field.key.as_str(), field))
        .collect();
    let new_keys: HashSet<&str> = new.iter().map(|field| field.key.as_str()).collect();
    let mut changes = Vec::new();
    for field in new {
        match old_by_key.get(field.key.as_str()) {
            Some(before) if before.value == field.value => {}
            before => changes.push(Change {
                field: field.key.clone(),
                old: before.map(|before| before.value.clone()),
                new: Some(field.value.clone()),
            }),
        }
    }
    for field in old {
        if !new_keys.contains(field.key.as_str()) {
            changes.push(Change {
                field: field.key.clone(),
                old: Some(field.value.clone()),
                new: None,
            });
        }
    }
    changes
}

/// Named items (inputs, vars, services) compared by name.
pub fn items<'a>(
    old: impl Iterator<Item = (&'a str, Vec<Field>)>,
    new: impl Iterator<Item = (&'a str, Vec<Field>)>,
) -> Vec<ItemChange> {
    let old: Vec<(&str, Vec<Field>)> = old.collect();
    let new: Vec<(&str, Vec<Field>)> = new.collect();
    let mut changes = Vec::new();
    for (name, fields) in &new {
        match old.iter().find(|(old_name, _)| old_name == name) {
            None => changes.push(ItemChange {
                name: name.to_string(),
                status: ItemStatus::Added,
                changes: field_changes(&[], fields),
            }),
            Some((_, old_fields)) => {
                let field_changes = field_changes(old_fields, fields);
                if !field_changes.is_empty() {
                    changes.push(ItemChange {
                        name: name.to_string(),
                        status: ItemStatus::Changed,
                        changes: field_changes,
                    });
                }
            }
        }
    }
    for (name, fields) in &old {
        if !new.iter().any(|(new_name, _)| new_name == name) {
            changes.push(ItemChange {
                name: name.to_string(),
                status: ItemStatus::Removed,
                changes: field_changes(fields, &[]),
            });
        }
    }
    changes
}

pub fn var_fields(var: &Var) -> Vec<Field> {
    vec![
        plain("template", &normalize_template(var.template.source())),
        plain("secret", if var.secret { "yes" } else { "no" }),
    ]
}

pub fn plain(key: &str, value: &str) -> Field {
    Field {
        key: key.to_string(),
        value: value.to_string(),
        uses: BTreeSet::new(),
        place: fields::Place::Other,
    }
}

pub fn runbook_changes(old: &Runbook, new: &Runbook) -> Vec<Change> {
    let mut changes = field_changes(&runbook_fields(old), &runbook_fields(new));
    let old_gotchas: Vec<String> = old
        .gotchas
        .iter()
        .map(|text| normalize_prose(text))
        .collect();
    let new_gotchas: Vec<String> = new
        .gotchas
        .iter()
        .map(|text| normalize_prose(text))
        .collect();
    for gotcha in &new_gotchas {
        if !old_gotchas.contains(gotcha) {
            changes.push(Change {
                field: "gotcha".into(),
                old: None,
                new: Some(gotcha.clone()),
            });
        }
    }
    for gotcha in &old_gotchas {
        if !new_gotchas.contains(gotcha) {
            changes.push(Change {
                field: "gotcha".into(),
                old: Some(gotcha.clone()),
                new: None,
            });
        }
    }
    changes
}

fn runbook_fields(runbook: &Runbook) -> Vec<Field> {
    let mut list = vec![
        plain("name", &runbook.name),
        plain("title", &normalize_prose(&runbook.title)),
    ];
    let optional = [
        ("description", &runbook.description),
        ("mode", &runbook.metadata.mode),
        ("last validated", &runbook.metadata.last_validated),
        ("validation method", &runbook.metadata.validation_method),
        ("average duration", &runbook.metadata.average_duration),
        ("required role", &runbook.metadata.required_role),
        ("rollback", &runbook.rollback),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            list.push(plain(key, &normalize_prose(value)));
        }
    }
    for entry in &runbook.applies_to {
        let mut value = if entry.legacy.is_empty() {
            "no legacy names".to_string()
        } else {
            format!("legacy {}", entry.legacy.join(", "))
        };
        if let Some(description) = &entry.description {
            value.push_str(&format!("; {}", normalize_prose(description)));
        }
        list.push(plain(&format!("applies to `{}`", entry.name), &value));
    }
    for (code, reason) in &runbook.allow {
        list.push(plain(&format!("allows {code}"), &normalize_prose(reason)));
    }
    list
}
