//! The host executor on this machine (the `local` transport): a real nginx 1.22
//! started by the test is reloaded by name only after `nginx -t` passes, and
//! left serving its old configuration when the check fails; a cache directory
//! is emptied and kept.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pagerless_act::ActError;
use pagerless_act::executors::{Executor, HostConfig, HostExecutor, NamedCommand};
use pagerless_model::Transport;
use pagerless_model::{ActionKind, ActionRequest, Target, TargetKind};

fn request(kind: ActionKind, params: serde_json::Value) -> ActionRequest {
    ActionRequest {
        kind,
        target: Target {
            kind: TargetKind::Node,
            namespace: None,
            name: "edge-1".into(),
        },
        params: serde_json::from_value::<BTreeMap<_, _>>(params).unwrap(),
        rationale: "test".into(),
    }
}

/// A human's approval in staging, with `cache` as the only clearable path.
fn authorize(req: ActionRequest, cache: &str) -> pagerless_guard::Authorized<ActionRequest> {
    let text = pagerless_guard::policy::DEFAULT.replace(
        "clear_cache_paths: [/var/log/app, /var/cache/app]",
        &format!("clear_cache_paths: [{cache}]"),
    );
    support::authorize(req, &text)
}

/// nginx in a prefix dir, stopped on drop with SIGTERM so that the master
/// takes its workers with it (SIGKILL would orphan them).
struct Nginx {
    child: Child,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn conf(dir: &Path, port: u16, body: &str) -> String {
    let d = dir.display();
    format!(
        "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  \
         client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;\n  \
         uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi; access_log off;\n  \
         # the body tells which configuration is live\n  \
         server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"{body}\"; }} }}\n}}\n"
    )
}

fn get(port: u16) -> Option<String> {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "2",
            &format!("http://127.0.0.1:{port}/"),
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_body(port: u16, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(port).as_deref() != Some(want) {
        assert!(
            Instant::now() < deadline,
            "nginx never served {want:?}: {:?}",
            get(port)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn nginx_reloads_only_after_its_check_passes() {
    let nginx = Path::new("/usr/sbin/nginx");
    assert!(
        nginx.exists(),
        "nginx is not installed: apt-get install -y nginx"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = d.join("nginx.conf");
    std::fs::write(&file, conf(d, port, "v1")).unwrap();
    let prefix = d.to_str().unwrap().to_owned();
    let file_s = file.to_str().unwrap().to_owned();
    let _server = Nginx {
        child: Command::new(nginx)
            .args([
                "-p",
                &prefix,
                "-c",
                &file_s,
                "-e",
                &format!("{prefix}/error.log"),
                "-g",
                "daemon off;",
            ])
            // Not the test's pipes: a stray worker holding them keeps cargo waiting.
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    };
    wait_body(port, "v1");

    let argv = |extra: &[&str]| -> Vec<String> {
        [
            "/usr/sbin/nginx",
            "-p",
            &prefix,
            "-c",
            &file_s,
            "-e",
            &format!("{prefix}/error.log"),
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
    };
    let executor = HostExecutor::new(HostConfig {
        transport: Transport::Local,
        commands: BTreeMap::from([(
            "reload-nginx".to_owned(),
            NamedCommand {
                check: Some(argv(&["-t"])),
                run: argv(&["-s", "reload"]),
            },
        )]),
        timeout_secs: 10,
    })
    .unwrap();
    assert_eq!(
        executor.kinds(),
        [ActionKind::ClearCache, ActionKind::RunCommand]
    );
    let reload = || {
        authorize(
            request(
                ActionKind::RunCommand,
                serde_json::json!({"name": "reload-nginx"}),
            ),
            "/nowhere",
        )
    };

    // A good change: the check passes, nginx reloads, the new body is served.
    std::fs::write(&file, conf(d, port, "v2")).unwrap();
    let done = executor.execute(reload()).await.unwrap();
    assert_eq!(
        done.summary,
        "ran `reload-nginx` on edge-1 after its check passed"
    );
    wait_body(port, "v2");

    // A broken change: the check fails, nothing is reloaded, v2 stays live.
    std::fs::write(&file, conf(d, port, "v3").replace("events {}", "events {")).unwrap();
    let err = executor.execute(reload()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ActError::Failed { .. }), "{err:?}");
    assert!(text.contains("not run: its check"), "{text}");
    assert!(text.contains("test failed"), "{text}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(port).as_deref(), Some("v2"));

    // A name that is not configured is refused.
    let unknown = authorize(
        request(
            ActionKind::RunCommand,
            serde_json::json!({"name": "reboot"}),
        ),
        "/nowhere",
    );
    let err = executor.execute(unknown).await.unwrap_err();
    assert!(
        err.to_string().contains("no command named `reboot`"),
        "{err}"
    );
}

#[tokio::test]
async fn a_cache_directory_is_emptied_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(cache.join("sub")).unwrap();
    std::fs::write(cache.join("a.log"), vec![0u8; 1 << 20]).unwrap();
    std::fs::write(cache.join("sub/b.log"), vec![0u8; 1 << 20]).unwrap();
    // A link out of the cache is removed, never followed.
    let outside = dir.path().join("keep.txt");
    std::fs::write(&outside, "keep").unwrap();
    std::os::unix::fs::symlink(&outside, cache.join("link")).unwrap();
    let c = cache.to_str().unwrap();
    let executor = HostExecutor::new(HostConfig {
        transport: Transport::Local,
        commands: BTreeMap::new(),
        timeout_secs: 5,
    })
    .unwrap();
    let done = executor
        .execute(authorize(
            request(ActionKind::ClearCache, serde_json::json!({"path": c})),
            c,
        ))
        .await
        .unwrap();
    assert!(
        done.summary.contains("3 entries, 2.0 MiB freed"),
        "{}",
        done.summary
    );
    assert!(cache.is_dir());
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
}

#[test]
fn a_command_with_shell_metacharacters_is_refused_at_load() {
    let bad = HostConfig {
        transport: Transport::Local,
        commands: BTreeMap::from([(
            "x".to_owned(),
            NamedCommand {
                check: None,
                run: vec!["sh".into(), "-c".into(), "rm -rf /;".into()],
            },
        )]),
        timeout_secs: 5,
    };
    let err = HostExecutor::new(bad).err().unwrap();
    assert!(err.contains("shell metacharacter"), "{err}");
    let lab = HostConfig {
        transport: Transport::Lab {
            url: "http://127.0.0.1:1".into(),
        },
        commands: BTreeMap::new(),
        timeout_secs: 5,
    };
    assert!(HostExecutor::new(lab).err().unwrap().contains("read-only"));
}
