//! The registry of tools: one explicit list, and the reasons tools were left out.

use std::collections::BTreeMap;
use std::sync::Arc;

use pagerless_model::Observation;

use crate::{Tool, ToolError};

/// A tool that is not in the toolbox, and why (its backend is not configured, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The system (`postgres`).
    pub system: String,
    /// Why it is not available.
    pub reason: String,
}

/// The tools a reasoner may call, by name.
#[derive(Default, Clone)]
pub struct Toolbox {
    tools: BTreeMap<&'static str, Arc<dyn Tool>>,
    skipped: Vec<Skipped>,
}

impl Toolbox {
    /// An empty toolbox.
    pub fn new() -> Toolbox {
        Toolbox::default()
    }

    /// Adds a tool; a later tool of the same name replaces the earlier one.
    pub fn add(&mut self, tool: Arc<dyn Tool>) -> &mut Self {
        self.tools.insert(tool.name(), tool);
        self
    }

    /// Records that a system's tools are not available, and why.
    pub fn skip(&mut self, system: &str, reason: impl Into<String>) -> &mut Self {
        self.skipped.push(Skipped {
            system: system.to_owned(),
            reason: reason.into(),
        });
        self
    }

    /// Whether a tool is available.
    pub fn has(&self, name: &str) -> bool {
        self.tools.contains_key(name)
    }

    /// The tools, by name.
    pub fn tools(&self) -> impl Iterator<Item = &Arc<dyn Tool>> {
        self.tools.values()
    }

    /// Systems left out, and why.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Calls a tool by name.
    pub async fn call(
        &self,
        name: &str,
        args: &serde_json::Value,
    ) -> Result<Observation, ToolError> {
        match self.tools.get(name) {
            Some(tool) => tool.call(args).await,
            None => Err(ToolError::Unknown(name.to_owned())),
        }
    }
}

impl std::fmt::Debug for Toolbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Toolbox")
            .field("tools", &self.tools.keys().collect::<Vec<_>>())
            .field("skipped", &self.skipped)
            .finish()
    }
}
