//! The README's server walkthrough, run as written against a real server,
//! so that an operator following it never meets a dead end.
//!
//! Every fenced block of "Use sessiontop as your session store" is run with
//! bash, in order, in one shell (so `TOKEN` carries from step to step), with
//! `S`, `APP` and `ADMIN` set to the test server's instead of the README's
//! placeholders. A `$ command` is checked against the output printed under
//! it: exactly when that output has no `…`, else by the JSON keys or SSE
//! fields it shows. A `NAME=$(…)` step must leave NAME set.
//!
//! Needs bash, curl (7.82 or later, for `--json`) and jq, as the README
//! does. Without them the test says so and passes, except under CI.

#[path = "support/ci.rs"]
mod ci;
use ci::on_ci;
mod support;

use std::process::Command;

use support::server::{ADMIN_TOKEN, APP_TOKEN, Server};

const SECTION: &str = "## Use sessiontop as your session store";

/// One thing to run, and what the README says it prints.
#[derive(Debug)]
struct Step {
    command: String,
    /// `None` for a block without prompts: nothing is printed.
    expected: Option<String>,
}

/// The fenced blocks of the walkthrough section.
fn blocks(readme: &str) -> Vec<Vec<String>> {
    let start = readme
        .find(SECTION)
        .expect("the README has the walkthrough");
    let rest = &readme[start + SECTION.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in section.lines() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(Vec::new()),
            }
        } else if let Some(block) = &mut current {
            block.push(line.to_owned());
        }
    }
    blocks
}

/// Joins a command's continuation lines (ending in `\`).
fn take_command(
    lines: &mut std::iter::Peekable<std::vec::IntoIter<String>>,
    first: String,
) -> String {
    let mut command = first;
    while command.ends_with('\\') {
        match lines.next() {
            Some(next) => {
                command.push('\n');
                command.push_str(&next);
            }
            None => break,
        }
    }
    command
}

fn steps(blocks: Vec<Vec<String>>) -> Vec<Step> {
    let mut steps = Vec::new();
    for block in blocks {
        let prompted = block.first().is_some_and(|l| l.starts_with("$ "));
        let mut lines = block.into_iter().peekable();
        while let Some(line) = lines.next() {
            if prompted {
                let Some(first) = line.strip_prefix("$ ") else {
                    continue;
                };
                let command = take_command(&mut lines, first.to_owned());
                let mut expected = Vec::new();
                while let Some(next) = lines.peek() {
                    if next.starts_with("$ ") {
                        break;
                    }
                    expected.push(lines.next().unwrap_or_default());
                }
                steps.push(Step {
                    command,
                    expected: Some(expected.join("\n").trim().to_owned()),
                });
            } else if !line.trim().is_empty() {
                steps.push(Step {
                    command: take_command(&mut lines, line),
                    expected: None,
                });
            }
        }
    }
    steps
}

/// Whether a step sets the README's placeholders, which the test sets itself.
fn sets_placeholders(command: &str) -> bool {
    let command = command.trim_start_matches("export ").trim();
    ["S=", "APP=", "ADMIN="]
        .iter()
        .any(|name| command.starts_with(name))
}

fn tools_present() -> bool {
    let works = |tool: &str, arg: &str| {
        Command::new(tool)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let curl_json = Command::new("curl")
        .args(["--help", "all"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--json"));
    works("bash", "--version") && works("jq", "--version") && curl_json
}

/// The JSON keys (`"name":`) a text shows, in order.
fn keys(text: &str) -> Vec<String> {
    text.split('"')
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[1].starts_with(':') && !w[0].is_empty() && !w[0].contains(' '))
        .map(|w| w[0].to_owned())
        .collect()
}

fn check(step: &Step, output: &str, status: &str) {
    let command = &step.command;
    assert_eq!(status, "0", "`{command}` failed:\n{output}");
    let Some(expected) = &step.expected else {
        return;
    };
    let actual = output.trim();
    if !expected.contains('…') {
        assert_eq!(actual, expected, "`{command}`");
    } else if expected.starts_with('{') {
        assert!(
            !actual.contains("\"error\""),
            "`{command}` answered an error: {actual}"
        );
        let value: serde_json::Value = serde_json::from_str(actual)
            .unwrap_or_else(|_| panic!("`{command}` printed no JSON: {actual}"));
        assert!(value.is_object(), "`{command}`: {actual}");
        for key in keys(expected) {
            assert!(
                actual.contains(&format!("\"{key}\":")),
                "`{command}`: no {key} in {actual}"
            );
        }
    } else {
        // An event stream: every field the README shows comes through, and
        // at least one of the events it shows (the test made a login).
        let shown: Vec<&str> = expected.lines().filter(|l| !l.is_empty()).collect();
        for line in &shown {
            let field = line.split_once(": ").map_or(*line, |(field, _)| field);
            assert!(
                actual.contains(&format!("\n{field}: ")),
                "`{command}`: no {field:?} in\n{actual}"
            );
        }
        let events: Vec<&&str> = shown.iter().filter(|l| l.starts_with("event: ")).collect();
        assert!(
            events.iter().any(|event| actual.contains(**event)),
            "`{command}`: none of {events:?} in\n{actual}"
        );
    }
}

#[test]
fn the_readme_walkthrough_runs_against_a_real_server() {
    if !tools_present() {
        assert!(
            !on_ci(),
            "CI=true: the README test needs bash, jq and curl with --json"
        );
        eprintln!("skipping the README walkthrough: it needs bash, jq and curl 7.82+");
        return;
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let steps = steps(blocks(&readme));
    assert!(
        steps
            .iter()
            .any(|s| s.command.contains("/v1/sessions/renew"))
    );
    let server = Server::start(&[]);
    let mut script = String::from("set -o pipefail\n");
    let mut run = Vec::new();
    for step in &steps {
        if step.command.starts_with("sessiontop serve") || sets_placeholders(&step.command) {
            continue;
        }
        let mut command = step.command.clone();
        if command.contains("curl -N") {
            // The stream never ends: give it a few seconds, and log someone
            // in meanwhile so there is an event to see.
            command = format!(
                "( sleep 1; curl -s $S/v1/sessions -H \"Authorization: Bearer $APP\" --json '{{\"user\": \"watcher\"}}' >/dev/null ) &\ntimeout 3 {command}; [ $? = 124 ]"
            );
        }
        let index = run.len();
        script.push_str(&format!("echo '@@step {index}'\n{command}\n"));
        if let Some((name, _)) = command.split_once("=$(")
            && !name.contains(' ')
        {
            script.push_str(&format!("[ -n \"${name}\" ] && [ \"${name}\" != null ]\n"));
        }
        script.push_str(&format!("echo; echo \"@@status {index} $?\"\n"));
        run.push(step);
    }
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("S", server.url())
        .env("APP", APP_TOKEN)
        .env("ADMIN", ADMIN_TOKEN)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    for (index, step) in run.iter().enumerate() {
        let begin = format!("@@step {index}\n");
        let start = text
            .find(&begin)
            .unwrap_or_else(|| panic!("step {index} `{}` did not run:\n{text}", step.command))
            + begin.len();
        let end_marker = format!("@@status {index} ");
        let end = text[start..].find(&end_marker).unwrap() + start;
        let status = text[end + end_marker.len()..]
            .lines()
            .next()
            .unwrap_or("")
            .trim();
        check(step, &text[start..end], status);
    }
    assert!(run.len() >= 8, "the walkthrough has its steps: {run:?}");
}

#[test]
fn the_checker_fails_a_walkthrough_that_logs_out_with_a_dead_token() {
    // The README before the renew step kept its token: logging out with the
    // old one answered 404. The check must catch that.
    let step = Step {
        command: "curl … logout".into(),
        expected: Some("204".into()),
    };
    let caught = std::panic::catch_unwind(|| check(&step, "404\n", "0"));
    assert!(caught.is_err());
    check(&step, "204\n", "0");
}
