//! The speedscope export opened in speedscope's own app (its npm package's
//! built `dist/release`) in a real headless Chromium: the test serves the
//! app and the exported profile from a localhost HTTP server, opens
//! `index.html#profileURL=...&view=sandwich`, dumps the DOM after load and
//! checks the sandwich view's table (DOM, unlike the canvas flame chart):
//! every frame of the profile is a row, with the share of the total that
//! the folded stacks give it, formatted as speedscope formats it.
//!
//! Needs `chromium` on the PATH and `npm install --prefix .browser-apps
//! speedscope` at the workspace root (`.ci/run` does both); prints a
//! `SKIP:` line and returns where either is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flamegraph::export::{export_files, export_source, ExportFormat};

fn speedscope_app() -> Option<PathBuf> {
    let dir = match std::env::var_os("SPEEDSCOPE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../.browser-apps/node_modules/speedscope/dist/release"),
    };
    dir.join("index.html").is_file().then_some(dir)
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript",
        "css" => "text/css",
        "json" => "application/json",
        "wasm" => "application/wasm",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// Answer one GET: `/profile.speedscope.json` from memory, else a file of
/// the app directory.
fn serve(mut stream: TcpStream, app: &Path, profile: &[u8]) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let body = if path == "/profile.speedscope.json" {
        Some(profile.to_vec())
    } else if path.contains("..") {
        None
    } else {
        std::fs::read(app.join(path.trim_start_matches('/'))).ok()
    };
    let head = match &body {
        Some(b) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            content_type(path),
            b.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    };
    let _ = stream.write_all(head.as_bytes());
    if let Some(b) = body {
        let _ = stream.write_all(&b);
    }
}

/// A localhost server of the app and the profile, on its own threads; its
/// port.
fn start_server(app: PathBuf, profile: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (app, profile) = (app.clone(), profile.clone());
            std::thread::spawn(move || serve(stream, &app, &profile));
        }
    });
    port
}

/// The DOM of `url` once loaded, as headless Chromium dumps it.
fn dump_dom(chromium: &Path, url: &str) -> String {
    let profile_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,3000",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.path().display()))
        .args(["--dump-dom", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromium");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish within 120 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The text of each cell of each table row of `dom`.
fn table_rows(dom: &str) -> Vec<Vec<String>> {
    dom.split("<tr")
        .skip(1)
        .map(|row| {
            let row = row.split("</tr>").next().unwrap_or("");
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let cell = cell.split("</td>").next().unwrap_or("");
                    let mut text = String::new();
                    let mut in_tag = true; // the rest of the <td ...> tag comes first
                    for c in cell.chars() {
                        match c {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    unescape(text.trim())
                })
                .collect()
        })
        .collect()
}

/// speedscope's own percentage format (`formatPercent`).
fn format_percent(p: f64) -> String {
    if p == 100.0 {
        "100%".into()
    } else if p > 99.0 {
        ">99%".into()
    } else if p < 0.01 {
        "<0.01%".into()
    } else if p < 1.0 {
        format!("{p:.2}%")
    } else if p < 10.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

#[test]
fn speedscope_app_shows_the_exported_frames() {
    let Some(app) = speedscope_app() else {
        println!("SKIP: speedscope's app is not installed (npm install --prefix .browser-apps speedscope)");
        return;
    };
    let Some(chromium) = chromium() else {
        println!("SKIP: no chromium on the PATH (apt-get install chromium)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = bundle::synthetic::write_exp1_bundle(&tmp.path().join("b"), true).unwrap();
    let b = bundle::read_bundle(&dir).unwrap();
    let files = export_files(&b, &[ExportFormat::Speedscope]).unwrap();
    let stacks = export_source(&b).unwrap().stacks;

    // What the sandwich table must show: each frame's share of the total
    // (a frame counted once per stack that holds it).
    let total = stacks.total_weight() as f64;
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for (stack, w) in stacks.iter() {
        let frames: BTreeSet<&str> = stack.split(';').collect();
        for f in frames {
            *want.entry(f.to_string()).or_default() += w;
        }
    }

    let port = start_server(app, files[0].bytes.clone());
    let url = format!(
        "http://127.0.0.1:{port}/index.html#profileURL=http://127.0.0.1:{port}/profile.speedscope.json&view=sandwich"
    );
    let dom = dump_dom(&chromium, &url);
    assert!(
        dom.contains("<title>sentryprof: workload exp1"),
        "the profile's name is the page title:\n{dom}"
    );
    let mut got: BTreeMap<String, String> = BTreeMap::new();
    for row in table_rows(&dom) {
        // The frame rows; other tables (the selected frame's details) have
        // no share in their first cell.
        if let [total_cell, _self_cell, name] = row.as_slice() {
            if !total_cell.ends_with("%)") {
                continue;
            }
            let share = total_cell
                .rsplit_once('(')
                .map(|(_, s)| s.trim_end_matches(')'))
                .unwrap_or("");
            got.insert(name.clone(), share.to_string());
        }
    }
    let want: BTreeMap<String, String> = want
        .into_iter()
        .map(|(f, w)| (f, format_percent(100.0 * w as f64 / total)))
        .collect();
    assert_eq!(
        got, want,
        "sandwich table of speedscope against the folded stacks"
    );
    assert!(
        got.contains_key("MemoryManager::create_vma")
            && got.contains_key("VmaSet::find_available_linear")
    );
    println!("speedscope showed {} frames with their shares", got.len());
}
