//! Which names a template may use at a given point of a runbook.

use std::collections::{BTreeSet, HashMap};

/// Names every template sees: `services` (base URLs by name), `today` (UTC, YYYY-MM-DD),
/// `now` (UTC, RFC 3339), `run_id`, and `runbook` (`name`, `title`, `digest`).
pub const BUILTINS: &[&str] = &["services", "today", "now", "run_id", "runbook"];

/// Names that exist only inside a step: `item` in a `for_each` step, `response` where a
/// response is being judged.
pub const STEP_LOCALS: &[&str] = &["item", "response"];

#[derive(Default)]
pub(crate) struct Names {
    pub services: BTreeSet<String>,
    /// Inputs and vars.
    pub values: BTreeSet<String>,
    /// Captured by a step before the one being checked.
    pub captured: BTreeSet<String>,
    /// Every step that captures a name: (step position, step id).
    pub capture_sites: HashMap<String, Vec<(usize, String)>>,
    /// The position of the step being checked.
    pub position: usize,
    /// Inputs, vars and captures (so far) that hold secrets.
    pub secrets: std::collections::HashSet<String>,
}

impl Names {
    /// The id of the step at or after the current one that captures `name`.
    pub fn captured_later(&self, name: &str) -> Option<&str> {
        self.capture_sites
            .get(name)?
            .iter()
            .find(|(position, _)| *position >= self.position)
            .map(|(_, id)| id.as_str())
    }

    pub fn is_capture(&self, name: &str) -> bool {
        self.capture_sites.contains_key(name)
    }

    pub fn is_known(&self, name: &str, locals: &StepLocals) -> bool {
        BUILTINS.contains(&name)
            || self.values.contains(name)
            || (!locals.value_template && self.captured.contains(name))
    }

    /// Every name that may be used here, for "did you mean" and the help text.
    pub fn candidates(&self, locals: &StepLocals) -> Vec<String> {
        let mut names: Vec<String> = BUILTINS.iter().map(|name| name.to_string()).collect();
        names.extend(self.values.iter().cloned());
        if !locals.value_template {
            names.extend(self.captured.iter().cloned());
        }
        names.extend(locals.names());
        names.sort();
        names.dedup();
        names
    }
}

/// The step-local names available to one template.
#[derive(Clone, Default)]
pub(crate) struct StepLocals {
    pub item: bool,
    pub response: bool,
    /// Captures of the step itself (visible to its own expectations and rollback note).
    pub own_captures: Vec<String>,
    /// A template of an input or var: resolved before any step, so no captures.
    pub value_template: bool,
}

impl StepLocals {
    pub fn values() -> StepLocals {
        StepLocals {
            value_template: true,
            ..StepLocals::default()
        }
    }

    pub fn allows(&self, name: &str) -> bool {
        (self.item && name == "item")
            || (self.response && name == "response")
            || self.own_captures.iter().any(|own| own == name)
    }

    pub fn is_value_template(&self) -> bool {
        self.value_template
    }

    fn names(&self) -> Vec<String> {
        let mut names = self.own_captures.clone();
        if self.item {
            names.push("item".into());
        }
        if self.response {
            names.push("response".into());
        }
        names
    }
}

/// Letters, digits and underscores, not starting with a digit: a name a template can use.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            name,
            "true" | "false" | "none" | "True" | "False" | "None" | "loop"
        )
        && !STEP_LOCALS.contains(&name)
}
