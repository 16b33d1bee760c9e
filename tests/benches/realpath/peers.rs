//! The real-path bench's child-process peers: `h2load` (HTTP/2 and `--h1`) and `curl`
//! (`--http2`), each bounded by a deadline.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::common::{self, HOST};
use super::{Cell, TCP_FRONT, WanPath, Workload};

/// Runs `program` to its end or kills it at `deadline`; its stdout, or why not.
pub(crate) fn run_until(mut command: Command, deadline: Duration) -> Result<String, String> {
    let program = format!("{:?}", command.get_program());
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut out = String::new();
                if let Some(mut stdout) = child.stdout.take() {
                    let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
                }
                return if status.success() {
                    Ok(out)
                } else {
                    Err(format!("{program} exited with {status}"))
                };
            }
            Ok(None) if started.elapsed() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program} killed after {deadline:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("{program}: {e}")),
        }
    }
}

/// Whether `program --version` runs.
pub(crate) fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// h2load: `n` GETs of `w.path`; HTTP/2 with one client × `w.concurrency` streams, or
/// `--h1` with `clients` clients. Rate from its log (first request → last response).
pub(crate) fn h2load_cell(
    path: &WanPath,
    w: &Workload,
    h1: Option<usize>,
    n: usize,
    deadline: Duration,
) -> Result<Cell, String> {
    let log = common::out_dir().join("realpath-h2load.log");
    let _ = std::fs::remove_file(&log);
    let mut command = Command::new("h2load");
    command.args(["-n", &n.to_string()]);
    let clients = match h1 {
        Some(c) => {
            let c = c.clamp(1, n);
            let threads = c.min(2).to_string();
            command.args(["--h1", "-t", &threads, "-c", &c.to_string(), "-m", "1"]);
            c
        }
        None => {
            command.args(["-t", "1", "-c", "1", "-m", &w.concurrency.to_string()]);
            1
        }
    };
    command
        .arg(format!("--connect-to={}", path.tcp_front()))
        .arg(format!("--log-file={}", log.display()))
        .arg(path.url(w.path));
    run_until(command, deadline)?;
    let text = std::fs::read_to_string(&log).map_err(|e| format!("h2load log: {e}"))?;
    let _ = std::fs::remove_file(&log);
    // Tab-separated: start (µs since the epoch), status, µs until the response ended.
    let (mut first, mut last) = (u64::MAX, 0u64);
    let mut result = Cell {
        connections: Some(clients),
        ..Cell::default()
    };
    for line in text.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(start), Some(status), Some(us)) = (cols.first(), cols.get(1), cols.get(2)) else {
            continue;
        };
        let (Ok(start), Ok(us)) = (start.parse::<u64>(), us.parse::<u64>()) else {
            continue;
        };
        if *status != "200" {
            result.errors += 1;
            continue;
        }
        first = first.min(start);
        last = last.max(start + us);
        result.ok += 1;
        result.latencies.push(Duration::from_micros(us));
    }
    result.errors += n.saturating_sub(result.ok + result.errors);
    result.wall = Duration::from_micros(last.saturating_sub(first).max(1));
    result.latencies.sort_unstable();
    Ok(result)
}

/// curl: one GET of `w.path` over HTTP/2; `wall` = transfer (total − pretransfer).
pub(crate) fn curl_cell(path: &WanPath, w: &Workload, deadline: Duration) -> Result<Cell, String> {
    let mut command = Command::new("curl");
    command
        .args(["--http2", "-sS", "-o", "/dev/null", "--cacert"])
        .arg(&path.ca_pem)
        .arg("--resolve")
        .arg(format!("{HOST}:{}:{TCP_FRONT}", path.relay.port()))
        .args(["--max-time", &deadline.as_secs().to_string()])
        .args([
            "-w",
            "%{http_code} %{size_download} %{time_pretransfer} %{time_total}",
        ])
        .arg(path.url(w.path));
    let out = run_until(command, deadline + Duration::from_secs(2))?;
    let f: Vec<&str> = out.split_whitespace().collect();
    let parse = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok());
    match (parse(0), parse(1), parse(2), parse(3)) {
        (Some(code), Some(size), Some(pre), Some(total))
            if code == 200.0 && size as usize == w.body_len =>
        {
            let transfer = Duration::from_secs_f64((total - pre).max(0.0));
            Ok(Cell {
                ok: 1,
                wall: transfer,
                latencies: vec![transfer],
                total: Some(Duration::from_secs_f64(total)),
                connections: Some(1),
                ..Cell::default()
            })
        }
        _ => Err(format!("curl: unexpected output {out:?}")),
    }
}
