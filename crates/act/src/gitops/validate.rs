//! The repository's validation pipeline, run in the working copy before
//! anything is pushed: the configured commands in order (`helm lint`,
//! `nginx -t -c nginx/nginx.conf`, `make check`...), each with a timeout,
//! stopping at the first failure. Their output goes into the pull request.

use std::path::Path;
use std::time::{Duration, Instant};

use pagerless_model::ValidationRun;
use tokio::process::Command;

/// The most output kept per command, bytes (its end, where errors are).
const KEEP: usize = 8 * 1024;

/// Runs `commands` (each through `sh -c`, so pipes work) in `dir`; stops at
/// the first that fails or times out. The commands come from the
/// configuration, never from an incident.
pub async fn run(dir: &Path, commands: &[String], timeout: Duration) -> Vec<ValidationRun> {
    let mut runs = Vec::new();
    for command in commands {
        let started = Instant::now();
        let child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(dir)
            .kill_on_drop(true)
            .output();
        let (exit_code, output) = match tokio::time::timeout(timeout, child).await {
            Ok(Ok(out)) => {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                (out.status.code(), text)
            }
            Ok(Err(e)) => (None, format!("cannot run `sh -c`: {e}")),
            Err(_) => (
                None,
                format!("timed out after {} s and was killed", timeout.as_secs()),
            ),
        };
        let run = ValidationRun {
            command: command.clone(),
            exit_code,
            output: keep_tail(output.trim_end()),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let passed = run.passed();
        runs.push(run);
        if !passed {
            break;
        }
    }
    runs
}

fn keep_tail(text: &str) -> String {
    if text.len() <= KEEP {
        return text.to_owned();
    }
    let mut start = text.len() - KEEP;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("… ({} bytes before)\n{}", start, &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stops_at_the_first_failure_with_its_output() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let runs = run(
            dir.path(),
            &[
                "echo lint ok".into(),
                "echo 'bad value' >&2; exit 3".into(),
                "echo never".into(),
            ],
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(runs.len(), 2);
        assert!(runs[0].passed());
        assert_eq!(runs[0].output, "lint ok");
        assert_eq!(runs[1].exit_code, Some(3));
        assert_eq!(runs[1].output, "bad value");
    }

    #[tokio::test]
    async fn a_command_over_its_time_is_killed_and_fails() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let runs = run(dir.path(), &["sleep 5".into()], Duration::from_millis(200)).await;
        assert_eq!(runs[0].exit_code, None);
        assert!(runs[0].output.contains("timed out"), "{}", runs[0].output);
        assert!(runs[0].duration_ms < 2000);
    }

    #[test]
    fn long_output_keeps_its_end() {
        let text = format!("{}END", "x".repeat(20_000));
        let kept = keep_tail(&text);
        assert!(kept.ends_with("END"));
        assert!(kept.len() < 9000);
    }
}
