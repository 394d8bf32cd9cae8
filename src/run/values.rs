//! The values templates see during a run: builtins, inputs, vars and captures.
//!
//! Secret values live here twice on purpose: as a [`SecretString`] (what the rest of the
//! program handles) and inside the template bindings, because rendering a header is the one
//! place the value must be spelled out. Every secret is registered with the redactor the moment
//! it is bound.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::Value;

use super::context::Context;
use crate::runbook::Runbook;
use crate::secret::{ExposeSecret, SecretString};
use crate::template::Scope;

#[derive(Clone, Default)]
pub struct Values {
    bindings: Arc<HashMap<String, Value>>,
    secrets: HashMap<String, SecretString>,
}

impl Values {
    /// The builtins: `services`, `today`, `now`, `run_id`, `runbook`.
    pub fn with_builtins(
        runbook: &Runbook,
        context: &Context,
        services: &IndexMap<String, String>,
    ) -> Values {
        let now = context.started_at;
        let mut bindings = HashMap::new();
        bindings.insert("services".to_string(), crate::template::to_value(services));
        bindings.insert(
            "today".to_string(),
            Value::from(now.strftime("%Y-%m-%d").to_string()),
        );
        bindings.insert(
            "now".to_string(),
            Value::from(now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
        bindings.insert("run_id".to_string(), Value::from(context.run_id.clone()));
        bindings.insert(
            "runbook".to_string(),
            crate::template::to_value(serde_json::json!({
                "name": runbook.name,
                "title": runbook.title,
                "digest": runbook.source.digest,
                "file": runbook.source.name(),
            })),
        );
        Values {
            bindings: Arc::new(bindings),
            secrets: HashMap::new(),
        }
    }

    pub fn scope(&self) -> Scope {
        Scope::new(self.bindings.clone())
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.bindings.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.bindings.contains_key(name)
    }

    pub fn set(&mut self, name: &str, value: Value) {
        Arc::make_mut(&mut self.bindings).insert(name.to_string(), value);
    }

    /// Binds a secret, registering it with the redactor first.
    pub fn set_secret(&mut self, name: &str, secret: SecretString, context: &Context) {
        context.redactor.register(&secret);
        // The one place a secret becomes template-visible text; see the module comment.
        let exposed = Value::from(secret.expose_secret().to_string());
        Arc::make_mut(&mut self.bindings).insert(name.to_string(), exposed);
        self.secrets.insert(name.to_string(), secret);
    }

    /// A secret's value by name.
    pub fn secret(&self, name: &str) -> Option<&SecretString> {
        self.secrets.get(name)
    }

    /// A copy with placeholders for the given names that have no value yet, for text that is
    /// shown rather than sent (rollback notes, plans).
    pub fn with_placeholders<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Values {
        let mut copy = self.clone();
        for name in names {
            let top = name.split('.').next().unwrap_or(name);
            if !copy.contains(top) {
                copy.set(top, Value::from(format!("<{top}>")));
            }
        }
        copy
    }
}
