//! What the emulated Heroku account holds: apps with config vars, the releases every config
//! change creates, and dynos that spend a restart window `starting` after each release.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::emulator::http::seconds;
use crate::emulator::random;

/// A release: a numbered snapshot of the app's config.
#[derive(Clone)]
pub struct Release {
    pub id: String,
    pub version: u64,
    pub description: String,
    pub created_at: Timestamp,
    pub(crate) config_vars: BTreeMap<String, String>,
}

impl Release {
    /// The config as of this release.
    pub fn config_vars(&self) -> &BTreeMap<String, String> {
        &self.config_vars
    }
}

/// One dyno of the app's formation. Its state is derived from the app's restart window.
#[derive(Clone, Debug)]
pub struct Dyno {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub command: String,
}

/// A restart in progress or finished: dynos are `starting` until `ends_at`, then `up`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Restart {
    pub(crate) started_at: Timestamp,
    pub(crate) ends_at: Timestamp,
}

/// A Heroku app.
#[derive(Clone)]
pub struct HerokuApp {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
    pub(crate) config_vars: BTreeMap<String, String>,
    pub(crate) releases: Vec<Release>,
    pub(crate) dynos: Vec<Dyno>,
    pub(crate) restart: Option<Restart>,
}

impl HerokuApp {
    pub(crate) fn new(
        name: &str,
        config_vars: BTreeMap<String, String>,
        formation: &[(&str, &str)],
    ) -> HerokuApp {
        let created_at = Timestamp::now();
        // Heroku numbers dynos per process type: `web.1`, `web.2`, `worker.1`.
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let dynos = formation
            .iter()
            .map(|(kind, command)| {
                let number = counts.entry(*kind).or_default();
                *number += 1;
                Dyno {
                    id: random::uuid(),
                    name: format!("{kind}.{number}"),
                    kind: (*kind).to_owned(),
                    command: (*command).to_owned(),
                }
            })
            .collect();
        let mut app = HerokuApp {
            id: random::uuid(),
            name: name.to_owned(),
            created_at,
            config_vars: BTreeMap::new(),
            releases: Vec::new(),
            dynos,
            restart: None,
        };
        app.push_release("Initial release".to_owned());
        app.push_release(format!("Deploy {}", &random::hex(4)[..7]));
        app.config_vars = config_vars;
        let names: Vec<&str> = app.config_vars.keys().map(String::as_str).collect();
        let description = format!("Set {} config vars", names.join(", "));
        app.push_release(description);
        app
    }

    /// The current config vars.
    pub fn config_vars(&self) -> &BTreeMap<String, String> {
        &self.config_vars
    }

    pub fn config_var(&self, name: &str) -> Option<&str> {
        self.config_vars.get(name).map(String::as_str)
    }

    /// The first of `names` that is set, so callers can read a new name with its legacy fallback.
    pub fn first_config_var(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|name| self.config_var(name))
    }

    /// Every release, oldest first.
    pub fn releases(&self) -> &[Release] {
        &self.releases
    }

    /// The newest release, which is the current one (releases are never rolled back here).
    pub fn current_release(&self) -> Option<&Release> {
        self.releases.last()
    }

    /// Whether the dynos are still restarting onto the newest release.
    pub fn is_restarting(&self) -> bool {
        let now = Timestamp::now();
        self.restart.is_some_and(|restart| now < restart.ends_at)
    }

    fn push_release(&mut self, description: String) {
        let version = self
            .releases
            .last()
            .map_or(1, |release| release.version + 1);
        self.releases.push(Release {
            id: random::uuid(),
            version,
            description,
            created_at: Timestamp::now(),
            config_vars: self.config_vars.clone(),
        });
    }

    /// Applies `changes` (`None` deletes). A change that alters the config creates a release and
    /// restarts the dynos for `restart_window`; one that alters nothing does neither.
    pub(crate) fn change_config(
        &mut self,
        changes: Vec<(String, Option<String>)>,
        restart_window: Duration,
    ) -> bool {
        let mut set = Vec::new();
        let mut removed = Vec::new();
        for (name, value) in changes {
            match value {
                Some(value) => {
                    if self.config_vars.get(&name) != Some(&value) {
                        self.config_vars.insert(name.clone(), value);
                        set.push(name);
                    }
                }
                None => {
                    if self.config_vars.remove(&name).is_some() {
                        removed.push(name);
                    }
                }
            }
        }
        if set.is_empty() && removed.is_empty() {
            return false;
        }
        let description = match (set.is_empty(), removed.is_empty()) {
            (false, true) => format!("Set {} config vars", set.join(", ")),
            (true, false) => format!("Remove {} config vars", removed.join(", ")),
            _ => format!(
                "Set {} and remove {} config vars",
                set.join(", "),
                removed.join(", ")
            ),
        };
        self.push_release(description);
        let started_at = Timestamp::now();
        let window = SignedDuration::try_from(restart_window).unwrap_or(SignedDuration::ZERO);
        self.restart = Some(Restart {
            started_at,
            ends_at: started_at.checked_add(window).unwrap_or(started_at),
        });
        true
    }

    pub(crate) fn release(&self, id_or_version: &str) -> Option<&Release> {
        match id_or_version.parse::<u64>() {
            Ok(version) => self
                .releases
                .iter()
                .find(|release| release.version == version),
            Err(_) => self
                .releases
                .iter()
                .find(|release| release.id == id_or_version),
        }
    }

    pub(crate) fn to_json(&self, owner_email: &str, owner_id: &str) -> Value {
        let released_at = self
            .current_release()
            .map_or(self.created_at, |release| release.created_at);
        json!({
            "id": self.id,
            "name": self.name,
            "created_at": seconds(self.created_at),
            "updated_at": seconds(released_at),
            "released_at": seconds(released_at),
            "acm": false,
            "archived_at": null,
            "buildpack_provided_description": "Node.js",
            "build_stack": { "id": "2e1f5d51-9c77-4d55-a6a0-0a0b8a5f8b63", "name": "heroku-24" },
            "stack": { "id": "2e1f5d51-9c77-4d55-a6a0-0a0b8a5f8b63", "name": "heroku-24" },
            "git_url": format!("https://git.heroku.com/{}.git", self.name),
            "web_url": format!("https://{}.herokuapp.com/", self.name),
            "maintenance": false,
            "owner": { "id": owner_id, "email": owner_email },
            "organization": null,
            "team": null,
            "space": null,
            "internal_routing": null,
            "region": { "id": "59accabd-516d-4f0e-83e6-6e3757701145", "name": "us" },
            "repo_size": null,
            "slug_size": 52_428_800,
        })
    }

    pub(crate) fn release_json(
        &self,
        release: &Release,
        owner_email: &str,
        owner_id: &str,
    ) -> Value {
        let current = self
            .current_release()
            .is_some_and(|newest| newest.id == release.id);
        json!({
            "id": release.id,
            "version": release.version,
            "status": "succeeded",
            "current": current,
            "description": release.description,
            "created_at": seconds(release.created_at),
            "updated_at": seconds(release.created_at),
            "app": { "id": self.id, "name": self.name },
            "user": { "id": owner_id, "email": owner_email },
            "slug": if release.version > 1 { json!({ "id": self.id }) } else { Value::Null },
            "addon_plan_names": ["heroku-postgresql:essential-0"],
            "artifacts": [],
            "output_stream_url": null,
            "eligible_for_rollback": !current,
        })
    }

    pub(crate) fn dyno_json(&self, dyno: &Dyno) -> Value {
        let now = Timestamp::now();
        let (state, changed_at) = match self.restart {
            Some(restart) if now < restart.ends_at => ("starting", restart.started_at),
            Some(restart) => ("up", restart.ends_at),
            None => ("up", self.created_at),
        };
        let release = self.current_release();
        json!({
            "id": dyno.id,
            "name": dyno.name,
            "type": dyno.kind,
            "size": "Standard-1X",
            "state": state,
            "command": dyno.command,
            "attach_url": null,
            "created_at": seconds(changed_at),
            "updated_at": seconds(changed_at),
            "release": { "id": release.map(|release| release.id.clone()), "version": release.map(|release| release.version) },
            "app": { "id": self.id, "name": self.name },
        })
    }
}

/// The Heroku account: its API key, owner and apps.
pub struct HerokuAccount {
    pub(crate) api_key: String,
    pub(crate) owner_id: String,
    pub(crate) owner_email: String,
    pub(crate) apps: Vec<HerokuApp>,
}

impl HerokuAccount {
    /// An app by name or id.
    pub fn app(&self, name_or_id: &str) -> Option<&HerokuApp> {
        self.apps
            .iter()
            .find(|app| app.name == name_or_id || app.id == name_or_id)
    }

    pub fn apps(&self) -> &[HerokuApp] {
        &self.apps
    }

    pub(crate) fn app_mut(&mut self, name_or_id: &str) -> Option<&mut HerokuApp> {
        self.apps
            .iter_mut()
            .find(|app| app.name == name_or_id || app.id == name_or_id)
    }
}
