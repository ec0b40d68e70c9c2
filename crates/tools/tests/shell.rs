//! `shell.exec`: the allowlist, real local commands, the lab's node shells
//! served by `lab run`, and ssh to a port nobody listens on.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use pagerless_lab::serve::{Pace, RunOptions};
use pagerless_tools::shell::{CommandOutput, ShellConfig, Transport, tools};
use pagerless_tools::{Tool, ToolError};

fn exec(config: ShellConfig) -> Arc<dyn Tool> {
    tools(&config).unwrap().pop().unwrap()
}

fn args(node: &str, command: &str) -> serde_json::Value {
    serde_json::json!({"node": node, "command": command})
}

#[tokio::test]
async fn commands_off_the_allowlist_are_refused_naming_it() {
    let tool = exec(ShellConfig::new(Transport::Local));
    for command in [
        "rm -rf /",
        "df -h; reboot",
        "df -h | sh",
        "df -h && reboot",
        "uptime\nreboot",
        "$(reboot)",
    ] {
        let err = tool.call(&args("localhost", command)).await.unwrap_err();
        match &err {
            ToolError::Refused { tool, reason } => {
                assert_eq!(tool, "shell.exec");
                assert!(reason.contains("df -h, free -m"), "{reason}");
            }
            other => panic!("{command}: {other:?}"),
        }
    }
    let err = tool
        .call(&serde_json::json!({"node": "localhost"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::BadArguments { .. }));
}

#[tokio::test]
async fn local_commands_really_run() {
    let tool = exec(ShellConfig::new(Transport::Local));
    let obs = tool.call(&args("localhost", "  uptime ")).await.unwrap();
    let out: CommandOutput = serde_json::from_value(obs.data).unwrap();
    assert_eq!(out.command, "uptime");
    assert_eq!(out.exit_code, 0);
    assert!(out.stdout.contains("load average"), "{}", out.stdout);
    assert_eq!(obs.query, "uptime");
    assert!(obs.summary.contains("load average"), "{}", obs.summary);

    let obs = tool.call(&args("localhost", "df   -h")).await.unwrap();
    let out: CommandOutput = serde_json::from_value(obs.data).unwrap();
    assert_eq!(out.exit_code, 0);
    assert!(out.stdout.starts_with("Filesystem"), "{}", out.stdout);
    assert!(obs.summary.contains("lines"), "{}", obs.summary);
}

#[tokio::test]
async fn the_lab_node_shell_answers_and_refuses() {
    let state = tempfile::tempdir().unwrap();
    let scenario = pagerless_lab::find_scenario("order-service-oom").unwrap();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let opts = RunOptions {
        state_dir: state.path().to_path_buf(),
        webhook: None,
        webhook_token: None,
        pace: Pace::Fast,
        git_daemon: false,
    };
    let lab = tokio::spawn(async move {
        pagerless_lab::serve::run(
            scenario,
            opts,
            move |endpoints| {
                let _ = ready_tx.send(endpoints.shell.clone());
            },
            async move {
                let _ = stop_rx.await;
            },
        )
        .await
    });
    let url = ready_rx.await.unwrap();
    let mut config = ShellConfig::new(Transport::Lab { url: url.clone() });
    config.allowlist.push("cat /etc/hostname".into());
    let tool = exec(config);

    let obs = tool.call(&args("node-a", "free -m")).await.unwrap();
    let out: CommandOutput = serde_json::from_value(obs.data).unwrap();
    assert_eq!((out.node.as_str(), out.exit_code), ("node-a", 0));
    assert!(out.stdout.contains("Mem:"), "{}", out.stdout);
    assert_eq!(obs.query, format!("POST {url}/node-a free -m"));

    // On our allowlist but not the lab's: the node refuses.
    let err = tool
        .call(&args("node-a", "cat /etc/hostname"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::Refused { reason, .. } if reason.contains("not an allowed command")),
        "{err:?}"
    );
    // No such node.
    let err = tool.call(&args("node-z", "uptime")).await.unwrap_err();
    assert!(
        matches!(&err, ToolError::BadArguments { message, .. } if message.contains("node-z")),
        "{err:?}"
    );

    stop_tx.send(()).unwrap();
    lab.await.unwrap().unwrap();
}

#[tokio::test]
async fn ssh_to_a_closed_port_is_a_clear_retriable_backend_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let known_hosts = tempfile::NamedTempFile::new().unwrap();
    let tool = exec(ShellConfig::new(Transport::Ssh {
        user: "nobody".into(),
        port,
        identity_file: None,
        known_hosts: Some(known_hosts.path().to_path_buf()),
        host_template: "127.0.0.1".into(),
    }));
    let err = tool.call(&args("node-a", "uptime")).await.unwrap_err();
    match &err {
        ToolError::Backend {
            message, retriable, ..
        } => {
            assert!(message.starts_with("ssh to node-a failed"), "{message}");
            assert!(message.contains("Connection refused"), "{message}");
            assert!(retriable);
        }
        other => panic!("{other:?}"),
    }
}
