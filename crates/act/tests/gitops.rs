//! The permanent fix against real git and real nginx: a pull request on the
//! local forge changes one directive, validated by `nginx -t`; a value nginx
//! rejects stops everything and nothing is pushed; a second incident with the
//! same root cause updates the open pull request; merging records the fate
//! (unmodified, modified by a human, or closed); a `git://` remote served by
//! a real `git daemon` receives the branch.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use pagerless_act::gitops::forge::Forge;
use pagerless_act::gitops::workspace::{Author, GitAuth, Workspace};
use pagerless_act::gitops::{
    GitopsConfig, GitopsError, LocalForge, Proposal, ProposalContext, check_fate, propose,
    request_for,
};
use pagerless_model::{Diagnosis, Fate, Fix, IncidentId, Target, TargetKind};
use pagerless_store::{SqliteStore, Store};

const NGINX_CONF: &str = "\
# Edge proxy for the shop. Owned by the platform team.
worker_processes 1;
pid nginx.pid;

events {
    worker_connections 64;
}

http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;

    server {
        listen 127.0.0.1:18080;
        # Uploads of product images go up to a few megabytes.
        client_max_body_size 1m;   # raise with care
        location / {
            return 200 'ok';
        }
    }
}
";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Dev",
            "-c",
            "user.email=dev@x",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bare remote holding `nginx/nginx.conf` on main.
fn remote(dir: &Path) -> String {
    let bare = dir.join("iac.git");
    let seed = dir.join("seed");
    std::fs::create_dir_all(seed.join("nginx/tmp")).unwrap();
    std::fs::write(seed.join("nginx/nginx.conf"), NGINX_CONF).unwrap();
    std::fs::write(seed.join("nginx/tmp/.keep"), "").unwrap();
    git(
        dir,
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    git(&seed, &["init", "-q", "-b", "main"]);
    git(&seed, &["add", "."]);
    git(&seed, &["commit", "-qm", "nginx: the edge proxy"]);
    git(&seed, &["push", "-q", bare.to_str().unwrap(), "main"]);
    bare.to_str().unwrap().to_owned()
}

fn config(dir: &Path, remote: &str) -> GitopsConfig {
    let nginx = Path::new("/usr/sbin/nginx");
    assert!(
        nginx.exists(),
        "nginx is not installed: apt-get install -y nginx"
    );
    GitopsConfig {
        remote: remote.to_owned(),
        base: "main".into(),
        cache_dir: dir.join("cache"),
        author: Author {
            name: "pagerless".into(),
            email: "pagerless@test".into(),
        },
        auth: GitAuth::default(),
        validate: vec![
            "/usr/sbin/nginx -t -q -p \"$PWD/nginx\" -c \"$PWD/nginx/nginx.conf\" -e \"$PWD/nginx/error.log\""
                .into(),
        ],
        validate_timeout: Duration::from_secs(30),
        git_timeout: Duration::from_secs(30),
        reviewers: Vec::new(),
        labels: vec!["pagerless".into()],
    }
}

fn diagnosis() -> Diagnosis {
    Diagnosis {
        root_cause: "uploads over 1m are refused with 413".into(),
        category: "body_size_too_small".into(),
        confidence: 0.9,
        evidence: Vec::new(),
        culprit: None,
        target: Some(target()),
        suspects: Vec::new(),
    }
}

fn target() -> Target {
    Target {
        kind: TargetKind::Deployment,
        namespace: Some("shop".into()),
        name: "edge".into(),
    }
}

fn fix(value: &str) -> Fix {
    Fix {
        file: "nginx/nginx.conf".into(),
        key: "http.server.client_max_body_size".into(),
        value: value.into(),
        rationale: "product images are larger than 1m".into(),
        add_missing: false,
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    remote: String,
    cfg: GitopsConfig,
    store: Arc<SqliteStore>,
    forge: LocalForge,
    clone: std::path::PathBuf,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote(dir.path());
    let cfg = config(dir.path(), &remote);
    let store = Arc::new(SqliteStore::open(&dir.path().join("p.db")).await.unwrap());
    let forge = LocalForge::new(store.clone(), "http://pagerless.test");
    let clone = dir.path().join("human");
    git(
        dir.path(),
        &["clone", "-q", &remote, clone.to_str().unwrap()],
    );
    Setup {
        _dir: dir,
        remote,
        cfg,
        store,
        forge,
        clone,
    }
}

async fn propose_fix(s: &Setup, incident: i64, f: &Fix) -> Result<Proposal, GitopsError> {
    let authorized = support::authorize(request_for(f, target()), pagerless_guard::policy::DEFAULT);
    propose(
        &s.cfg,
        &s.forge,
        s.store.as_ref(),
        authorized,
        f,
        ProposalContext {
            incident: IncidentId(incident),
            incident_link: Some(format!("http://pagerless.test/incidents/{incident}")),
            summary: "An issue was detected in edge; I diagnosed it as uploads over 1m are refused.",
            diagnosis: &diagnosis(),
            investigation: None,
            mitigations: Vec::new(),
            revert_on_merge: Vec::new(),
        },
    )
    .await
}

fn branches(remote: &str) -> String {
    git(
        Path::new("/"),
        &[
            "--git-dir",
            remote,
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/heads",
        ],
    )
}

#[tokio::test]
async fn a_validated_fix_is_one_changed_line_and_merges_unmodified() {
    let s = setup().await;
    let Proposal::Opened(pr) = propose_fix(&s, 1, &fix("8m")).await.unwrap() else {
        panic!("not opened")
    };
    assert_eq!(pr.fate, Fate::Open);
    assert_eq!(pr.files, ["nginx/nginx.conf"]);
    assert!(pr.validation[0].passed(), "{:?}", pr.validation);
    assert!(pr.url.starts_with("http://pagerless.test/prs/"));
    let changed: Vec<&str> = pr
        .diff
        .lines()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .collect();
    assert_eq!(
        changed,
        [
            "-        client_max_body_size 1m;   # raise with care",
            "+        client_max_body_size 8m;   # raise with care"
        ]
    );
    assert!(
        branches(&s.remote).contains(&pr.branch),
        "{}",
        branches(&s.remote)
    );
    assert!(
        pr.body.contains("`nginx -t") || pr.body.contains("nginx -t"),
        "{}",
        pr.body
    );
    // The commit is the agent's.
    let author = git(
        Path::new("/"),
        &[
            "--git-dir",
            &s.remote,
            "log",
            "-1",
            "--format=%an <%ae>",
            &pr.branch,
        ],
    );
    assert_eq!(author.trim(), "pagerless <pagerless@test>");

    // A second incident with the same root cause updates it.
    let Proposal::Updated(again) = propose_fix(&s, 2, &fix("8m")).await.unwrap() else {
        panic!("a second pull request was opened")
    };
    assert_eq!(again.id, pr.id);
    assert_eq!(again.incidents, [IncidentId(1), IncidentId(2)]);
    assert_eq!(s.store.pull_requests().await.unwrap().len(), 1);
    let local = s.forge.pull_request(pr.number).await.unwrap();
    assert!(local.body.contains("#2"), "{}", local.body);
    assert!(
        local.comments[0]
            .text
            .contains("Incident 2 has the same root cause"),
        "{:?}",
        local.comments
    );

    // Merged as proposed.
    let ws = Workspace::prepare(
        &s.cfg.cache_dir,
        &s.remote,
        GitAuth::default(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let merge = s
        .forge
        .merge(pr.number, &ws, "alice", &s.cfg.author)
        .await
        .unwrap();
    let pr = check_fate(&s.cfg, &s.forge, s.store.as_ref(), again)
        .await
        .unwrap();
    assert_eq!(pr.fate, Fate::MergedUnmodified);
    assert_eq!(pr.merge_commit.as_deref(), Some(merge.as_str()));
    let main = git(
        Path::new("/"),
        &["--git-dir", &s.remote, "show", "main:nginx/nginx.conf"],
    );
    assert_eq!(
        main,
        NGINX_CONF.replace("client_max_body_size 1m;", "client_max_body_size 8m;")
    );
    // A merged pull request cannot be merged again.
    assert!(
        s.forge
            .merge(pr.number, &ws, "bob", &s.cfg.author)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_value_nginx_rejects_stops_the_pull_request_with_its_output() {
    let s = setup().await;
    let err = propose_fix(&s, 1, &fix("lots")).await.unwrap_err();
    let GitopsError::Validation(runs) = &err else {
        panic!("{err}")
    };
    assert_eq!(runs.len(), 1);
    assert!(!runs[0].passed());
    assert!(
        runs[0].output.contains("client_max_body_size"),
        "{}",
        runs[0].output
    );
    assert!(err.to_string().contains("nothing was pushed"), "{err}");
    assert_eq!(branches(&s.remote).trim(), "main", "a branch was pushed");
    assert!(s.store.pull_requests().await.unwrap().is_empty());
    let audit = s.store.audit(Some(IncidentId(1))).await.unwrap();
    let outcome = audit.iter().find(|e| e.kind == "action_outcome").unwrap();
    assert_eq!(outcome.body["outcome"], "failed");
    assert!(
        outcome.body["validation"][0]["output"]
            .as_str()
            .unwrap()
            .contains("client_max_body_size")
    );
}

#[tokio::test]
async fn a_missing_key_is_an_error_not_an_append() {
    let s = setup().await;
    let mut f = fix("8m");
    f.key = "http.server.client_max_body_sise".into();
    let err = propose_fix(&s, 1, &f).await.unwrap_err();
    assert!(matches!(err, GitopsError::Edit(_)), "{err}");
    assert_eq!(branches(&s.remote).trim(), "main");
}

#[tokio::test]
async fn a_human_edit_before_merging_is_merged_modified() {
    let s = setup().await;
    let Proposal::Opened(pr) = propose_fix(&s, 1, &fix("8m")).await.unwrap() else {
        panic!()
    };
    // The reviewer prefers 16m and pushes that onto the branch.
    git(&s.clone, &["fetch", "-q", "origin"]);
    git(&s.clone, &["checkout", "-q", &pr.branch]);
    let file = s.clone.join("nginx/nginx.conf");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("8m;", "16m;");
    std::fs::write(&file, text).unwrap();
    git(&s.clone, &["commit", "-qam", "16m is safer"]);
    git(&s.clone, &["push", "-q", "origin", &pr.branch]);
    let ws = Workspace::prepare(
        &s.cfg.cache_dir,
        &s.remote,
        GitAuth::default(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    s.forge
        .merge(pr.number, &ws, "alice", &s.cfg.author)
        .await
        .unwrap();
    let pr = check_fate(&s.cfg, &s.forge, s.store.as_ref(), pr)
        .await
        .unwrap();
    assert_eq!(pr.fate, Fate::MergedModified);
}

#[tokio::test]
async fn a_closed_pull_request_is_closed() {
    let s = setup().await;
    let Proposal::Opened(pr) = propose_fix(&s, 1, &fix("8m")).await.unwrap() else {
        panic!()
    };
    let state = s.forge.state(pr.number).await.unwrap();
    assert_eq!(state.status, pagerless_model::PullRequestStatus::Open);
    s.forge
        .close(pr.number, "alice", "not needed")
        .await
        .unwrap();
    let pr = check_fate(&s.cfg, &s.forge, s.store.as_ref(), pr)
        .await
        .unwrap();
    assert_eq!(pr.fate, Fate::Closed);
    // A closed root cause gets a fresh pull request next time.
    let Proposal::Opened(next) = propose_fix(&s, 3, &fix("8m")).await.unwrap() else {
        panic!("the closed pull request was reused")
    };
    assert_ne!(next.id, pr.id);
}

/// `git daemon` serving the bare remote over `git://`, pushes enabled.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_git_daemon_remote_gets_the_branch_over_git_protocol() {
    let s = setup().await;
    let base = Path::new(&s.remote).parent().unwrap().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _daemon = Daemon(
        Command::new("git")
            .args([
                "daemon",
                "--export-all",
                "--enable=receive-pack",
                "--reuseaddr",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("git://127.0.0.1:{port}/iac.git");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "git daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut over_git = setup_with_remote(&s, &url);
    over_git.cfg.cache_dir = base.join("cache-git");
    let Proposal::Opened(pr) = propose_fix(&over_git, 1, &fix("8m")).await.unwrap() else {
        panic!()
    };
    assert_eq!(pr.repo, url);
    // The branch arrived in the bare repository behind the daemon.
    assert!(
        branches(&s.remote).contains(&pr.branch),
        "{}",
        branches(&s.remote)
    );
}

/// The same store and forge, another remote URL for the same repository.
fn setup_with_remote(s: &Setup, url: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = s.cfg.clone();
    cfg.remote = url.to_owned();
    Setup {
        _dir: dir,
        remote: s.remote.clone(),
        cfg,
        store: s.store.clone(),
        forge: LocalForge::new(s.store.clone(), "http://pagerless.test"),
        clone: s.clone.clone(),
    }
}
