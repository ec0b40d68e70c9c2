//! Environments (dev, staging, prod, or a team's own names), normalized so that aliases compare equal.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The environment an incident lives in. Guardrails differ per environment, so
/// aliases are folded: `production` is `prod`, `development` is `dev`, `stage`
/// is `staging`. Other names are kept, lowercased.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct Environment(String);

impl Environment {
    /// Production, the strictest environment and the default when none is known.
    pub fn prod() -> Self {
        Environment("prod".to_owned())
    }

    /// Normalizes a name: trims, lowercases and folds the usual aliases.
    pub fn new(name: &str) -> Self {
        let lower = name.trim().to_ascii_lowercase();
        let canonical = match lower.as_str() {
            "production" | "prd" => "prod",
            "development" | "develop" => "dev",
            "stage" | "stg" => "staging",
            other => other,
        };
        Environment(canonical.to_owned())
    }

    /// The normalized name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for Environment {
    fn from(s: String) -> Self {
        Environment::new(&s)
    }
}

impl From<Environment> for String {
    fn from(e: Environment) -> Self {
        e.0
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_fold_to_one_name() {
        assert_eq!(Environment::new(" Production "), Environment::prod());
        assert_eq!(Environment::new("stage").as_str(), "staging");
        assert_eq!(Environment::new("Development").as_str(), "dev");
        assert_eq!(Environment::new("QA").as_str(), "qa");
    }

    #[test]
    fn serde_normalizes_on_the_way_in() {
        let e: Environment = serde_json::from_str("\"PRODUCTION\"").unwrap();
        assert_eq!(e, Environment::prod());
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"prod\"");
    }
}
