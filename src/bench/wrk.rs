//! The touch load from `wrk`, an outside C client like redis-benchmark, for
//! `bench server`: a Lua script touches the bench's sessions round-robin.
//! Optional: when `wrk` is not installed the figure is simply absent.

use std::net::SocketAddr;

use color_eyre::eyre::eyre;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct WrkFigures {
    pub command: String,
    pub touch_rps: f64,
    pub latency_ms: WrkLatency,
    /// Answers other than 2xx/3xx (should be 0).
    pub non_2xx: u64,
}

#[derive(Debug, Serialize)]
pub struct WrkLatency {
    pub p50: f64,
    pub p99: f64,
}

/// Runs `wrk` (2 threads, 32 connections, 10 s) against the touch endpoint,
/// touching the same sessions round-robin from a Lua script. `None` when
/// `wrk` is not installed.
pub fn touch(
    addr: SocketAddr,
    app_token: &str,
    tokens: &[String],
) -> color_eyre::Result<Option<WrkFigures>> {
    let script_path =
        std::env::temp_dir().join(format!("sessiontop-bench-touch-{}.lua", std::process::id()));
    let mut script = String::with_capacity(tokens.len() * 48 + 1024);
    script.push_str("local tokens = {\n");
    for token in tokens {
        script.push('"');
        script.push_str(token);
        script.push_str("\",\n");
    }
    script.push_str("}\n");
    script.push_str(&format!(
        r#"local headers = {{ ["Authorization"] = "Bearer {app_token}", ["Content-Type"] = "application/json" }}
local i = 0
function init(args) i = math.random(1, #tokens) end
function request()
  i = i % #tokens + 1
  return wrk.format("POST", "/v1/sessions/touch", headers, '{{"token":"' .. tokens[i] .. '"}}')
end
"#
    ));
    std::fs::write(&script_path, script)?;
    let url = format!("http://{addr}/v1/sessions/touch");
    let args = [
        "-t2",
        "-c32",
        "-d10s",
        "--latency",
        "-s",
        script_path.to_str().unwrap_or_default(),
        url.as_str(),
    ];
    let output = std::process::Command::new("wrk").args(args).output();
    let _ = std::fs::remove_file(&script_path);
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            return Err(eyre!(
                "wrk failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix).map(str::trim))
            .map(str::to_owned)
    };
    let touch_rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| eyre!("cannot read wrk's output:\n{text}"))?;
    let p50 = field("50%").and_then(|v| wrk_ms(&v)).unwrap_or(f64::NAN);
    let p99 = field("99%").and_then(|v| wrk_ms(&v)).unwrap_or(f64::NAN);
    let non_2xx = field("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(Some(WrkFigures {
        command: format!(
            "wrk {} (script: touch {} sessions round-robin)",
            args[..4].join(" "),
            tokens.len()
        ),
        touch_rps,
        latency_ms: WrkLatency { p50, p99 },
        non_2xx,
    }))
}

/// wrk's durations ("350.00us", "1.20ms", "1.01s") in milliseconds.
fn wrk_ms(text: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.trim().parse::<f64>().ok().map(|n| n * factor)
}
