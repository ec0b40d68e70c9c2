//! Which files a source names: a file, a directory's files, or a `*` pattern
//! in the last path component; oldest first, so the newest lines come last.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == name;
    };
    if parts.len() == 1 {
        return pattern == name;
    }
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The files `spec` names, oldest (by modification time, then name) first.
pub fn resolve(spec: &str) -> std::io::Result<Vec<PathBuf>> {
    let path = Path::new(spec);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let candidates: Vec<PathBuf> = if name.contains('*') {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::read_dir(&dir)?
            .filter_map(Result::ok)
            .filter(|e| wildcard_match(&name, &e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect()
    } else if path.is_dir() {
        std::fs::read_dir(path)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect()
    } else {
        std::fs::metadata(path)?;
        vec![path.to_path_buf()]
    };
    let mut files: Vec<(SystemTime, PathBuf)> = candidates
        .into_iter()
        .filter_map(|p| {
            let meta = std::fs::metadata(&p).ok()?;
            meta.is_file()
                .then(|| (meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), p))
        })
        .collect();
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("error.log*", "error.log"));
        assert!(wildcard_match("error.log*", "error.log.1"));
        assert!(wildcard_match("*.log", "app.log"));
        assert!(wildcard_match("a*b*c", "aXbYc"));
        assert!(!wildcard_match("a*b*c", "aXcYb"));
        assert!(!wildcard_match("*.log", "app.log.gz"));
        assert!(!wildcard_match("ab*ba", "aba"));
        assert!(wildcard_match("app.log", "app.log"));
    }
}
