//! The viewer in a real browser: headless Chromium (Debian's) driven by playwright-core
//! (`tests/browser/viewer.mjs`) opens a booking's timeline and finds its sentences in the
//! salon's zone, filters the log, pages forward, reads the verify status and downloads the
//! CSV, which must equal `export_csv` of the same filter. And `examples/viewer.rs` as a
//! process: it prints its URL, serves, and stops when its stdin closes.
//!
//! Needs `chromium` and `target/browser-tools/node_modules/playwright-core`, which
//! `.ci/browser.sh` installs; without them the tests print SKIPPED, except under
//! `AUDITKIT_REQUIRE_BROWSER=1` (CI), where they fail.
#![cfg(feature = "web")]

#[allow(dead_code)]
#[path = "../examples/viewer.rs"]
mod viewer;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use auditkit::{AsyncAuditTrail, AuditTrail, MemoryStore, Query};

fn tools() -> Option<(PathBuf, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let playwright = std::env::var_os("AUDITKIT_PLAYWRIGHT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/browser-tools/node_modules/playwright-core"));
    let chromium = std::env::var_os("AUDITKIT_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let missing = [(&playwright, "playwright-core"), (&chromium, "chromium")]
        .into_iter()
        .find(|(p, _)| !p.exists());
    match missing {
        None => Some((playwright, chromium)),
        Some((p, what)) => {
            let why = format!("{what} not found at {} (run .ci/browser.sh)", p.display());
            if std::env::var_os("AUDITKIT_REQUIRE_BROWSER").is_some() {
                panic!("AUDITKIT_REQUIRE_BROWSER is set but {why}");
            }
            println!("SKIPPED: {why}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salon_owner_reads_filters_pages_verifies_and_downloads_in_chromium() {
    let Some((playwright, chromium)) = tools() else {
        return;
    };
    let trail = AuditTrail::new(MemoryStore::new());
    viewer::seed(&trail).unwrap();
    let trail = AsyncAuditTrail::new(trail).unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = viewer::app(trail.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/viewer.mjs");
    let base = format!("http://{addr}/salon/");
    let run = tokio::process::Command::new("node")
        .arg(&script)
        .arg(&playwright)
        .arg(&base)
        .arg(out.path())
        .env("AUDITKIT_CHROMIUM", &chromium)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the browser script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let seen: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("the script's JSON");

    // The timeline, newest first, in Berlin time: booked for 09:00 UTC on 28 March (10:00
    // CET), moved to 08:30 UTC on 30 March (10:30 CEST, after the clock change).
    let sentences: Vec<&str> = seen["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(sentences.len(), 6, "{sentences:?}");
    assert!(
        sentences[0].contains("refunded €15.00 of €45.00"),
        "{sentences:?}"
    );
    let moved = sentences
        .iter()
        .find(|s| s.contains("rescheduled"))
        .unwrap();
    assert!(
        moved.contains("from Sat 28 Mar 10:00 to Mon 30 Mar 10:30"),
        "{moved}"
    );
    assert!(sentences
        .last()
        .unwrap()
        .contains("created Haircut with Sam for Sat 28 Mar 10:00"));
    assert!(
        seen["hover"].as_str().unwrap().contains("CEST")
            || seen["hover"].as_str().unwrap().contains("CET")
    );

    // Filtered to creations (61 in the salon): a full page, then the rest.
    assert_eq!(seen["first_page"], 50);
    assert_eq!(
        seen["first_actions"],
        serde_json::json!(["booking.created"])
    );
    assert_eq!(seen["second_page"], 11);
    assert_eq!(seen["verify_state"], "ok", "{}", seen["verify"]);
    assert!(seen["verify"].as_str().unwrap().starts_with("Verified"));

    let downloaded = std::fs::read_to_string(seen["csv"].as_str().unwrap()).unwrap();
    let mut expected = Vec::new();
    trail
        .trail()
        .export_csv(
            &Query::new().tenant("salon-1").action("booking.created"),
            &mut expected,
        )
        .unwrap();
    assert_eq!(downloaded, String::from_utf8(expected).unwrap());
    let shot = out.path().join("timeline.png");
    assert!(std::fs::metadata(&shot)
        .map(|m| m.len() > 10_000)
        .unwrap_or(false));
    if let Some(keep) = std::env::var_os("AUDITKIT_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// The example's binary, which `cargo test` builds beside this test's.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    dir.join("examples")
        .join(format!("viewer{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn the_viewer_example_prints_its_url_serves_and_stops_when_stdin_closes() {
    let bin = example_binary();
    assert!(
        bin.exists(),
        "{} not built (cargo test --all-features builds it)",
        bin.display()
    );
    let mut child = Command::new(&bin)
        .arg("0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://") && w.ends_with("/salon/"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    let host = url.trim_start_matches("http://").split('/').next().unwrap();
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    write!(
        conn,
        "GET /salon/timeline/booking/b-100 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    conn.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("rescheduled Haircut with Sam from Sat 28 Mar 10:00 to Mon 30 Mar 10:30"));

    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the viewer did not stop when its stdin closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
