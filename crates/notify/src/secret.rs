//! Secrets (tokens, routing keys, webhook URLs that carry their key in the
//! path): a string that never shows itself in `Debug` or `Display` output.

/// A value that must not be printed. `Debug` and `Display` show `***`; only
/// [`Secret::expose`] gives the value, at the point it is sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Replaces every occurrence of each secret (and, for URLs, of their path and
/// query, where webhook keys live) in `text` with `***`.
pub(crate) fn scrub(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        let value = secret.expose();
        let mut needles = vec![value];
        if let Some(rest) = value.split_once("://").map(|(_, rest)| rest)
            && let Some(i) = rest.find('/')
        {
            let path = &rest[i..];
            if path.len() > 1 {
                needles.push(path);
            }
        }
        for needle in needles {
            if needle.len() >= 4 {
                out = out.replace(needle, "***");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("xoxb-123");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
    }

    #[test]
    fn scrubbing_removes_values_and_url_paths() {
        let url = Secret::new("https://hooks.slack.com/services/T0/B0/XXXX");
        let tok = Secret::new("xoxb-123");
        let text = "POST /services/T0/B0/XXXX failed; token xoxb-123";
        assert_eq!(scrub(text, &[&url, &tok]), "POST *** failed; token ***");
    }
}
