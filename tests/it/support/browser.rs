//! Headless Chromium for the dashboard test: found on the machine, run with a time
//! bound and a fresh profile, killed if the test ends first; plus a reader for the DOM
//! it dumps.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one Chromium run may take before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Virtual time the page gets to fetch and draw, in milliseconds.
const VIRTUAL_TIME_BUDGET_MS: u32 = 10_000;

/// Where Debian's chromium package puts the browser.
const DEBIAN_CHROMIUM: &str = "/usr/bin/chromium";

/// Names the browser to use instead of looking for one.
const CHROMIUM_VARIABLE: &str = "CARDBOT_CHROMIUM";

/// A Chromium binary on this machine.
pub struct Chromium {
    path: PathBuf,
}

impl Chromium {
    /// Finds Chromium for the browser test `test`. Missing, it fails the test on CI
    /// and otherwise says plainly that `test` did not run.
    pub fn find(test: &str) -> Option<Chromium> {
        let missing = match locate() {
            Ok(path) => return Some(Chromium { path }),
            Err(missing) => missing,
        };
        if super::on_ci() {
            panic!(
                "{missing}, and this is CI: install Debian's chromium package \
                 (apt-get install -y chromium) or set {CHROMIUM_VARIABLE}"
            );
        }
        // libtest captures eprintln! of a passing test; a write to the stderr handle
        // itself is not captured, so the skip shows in every run.
        let _ = writeln!(
            std::io::stderr().lock(),
            "{test}: did not run, {missing} (apt-get install chromium, or set \
             {CHROMIUM_VARIABLE} to a Chromium binary)"
        );
        None
    }

    /// Loads `url` and answers the DOM after the page's scripts ran.
    pub fn dump_dom(&self, url: &str) -> String {
        let output = self.run(&["--dump-dom".to_string(), url.to_string()]);
        String::from_utf8(output).expect("chromium prints the DOM as UTF-8")
    }

    /// Loads `url` and saves a PNG of it at `path`.
    pub fn screenshot(&self, url: &str, path: &Path, width: u32, height: u32) {
        let _ = std::fs::remove_file(path);

        self.run(&[
            format!("--screenshot={}", path.display()),
            format!("--window-size={width},{height}"),
            "--hide-scrollbars".to_string(),
            url.to_string(),
        ]);

        assert!(
            path.exists(),
            "chromium saved no screenshot at {}",
            path.display()
        );
    }

    /// Runs Chromium headless with a fresh profile and `args`; answers its stdout.
    fn run(&self, args: &[String]) -> Vec<u8> {
        let profile = tempfile::tempdir().unwrap();
        let stdout_path = profile.path().join("stdout");
        let stderr_path = profile.path().join("stderr");
        let child = Command::new(&self.path)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!(
                "--user-data-dir={}",
                profile.path().join("profile").display()
            ))
            .arg(format!("--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}"))
            // The page shows times in the browser's zone; UTC makes them predictable.
            .env("TZ", "UTC")
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path).unwrap())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap_or_else(|err| panic!("failed to start {}: {err}", self.path.display()));
        let mut guard = KillOnDrop(child);

        let started = Instant::now();
        let status = loop {
            if let Some(status) = guard.0.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > RUN_LIMIT {
                panic!(
                    "chromium ran longer than {RUN_LIMIT:?}: {}",
                    tail(&stderr_path)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };

        assert!(
            status.success(),
            "chromium failed ({status}): {}",
            tail(&stderr_path)
        );
        std::fs::read(&stdout_path).unwrap()
    }
}

/// Kills the browser if the test panics or times out while it runs.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The browser: the one `CARDBOT_CHROMIUM` names, else Debian's, else `chromium` on
/// PATH; or why there is none.
fn locate() -> Result<PathBuf, String> {
    if let Some(named) = std::env::var_os(CHROMIUM_VARIABLE) {
        let named = PathBuf::from(named);
        return match named.is_file() {
            true => Ok(named),
            false => Err(format!(
                "{CHROMIUM_VARIABLE} names {}, which is no file",
                named.display()
            )),
        };
    }
    let debian = PathBuf::from(DEBIAN_CHROMIUM);
    if debian.is_file() {
        return Ok(debian);
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    });
    on_path.ok_or_else(|| format!("chromium not found at {DEBIAN_CHROMIUM} or on PATH"))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The attributes of the first start tag in `dom` that holds `marker` (such as
/// `data-chart="funnel"`), unescaped.
pub fn attributes_of(dom: &str, marker: &str) -> HashMap<String, String> {
    let at = dom
        .find(marker)
        .unwrap_or_else(|| panic!("no element with {marker} in the page"));
    let start = dom[..=at].rfind('<').unwrap() + 1;
    let mut rest = &dom[start..];
    rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric());

    let mut attributes = HashMap::new();
    loop {
        rest = rest.trim_start();
        if rest.starts_with('>') || rest.starts_with("/>") || rest.is_empty() {
            return attributes;
        }
        let name_end = rest
            .find(|c: char| c == '=' || c == '>' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_string();
        rest = &rest[name_end..];
        let value = match rest.strip_prefix("=\"") {
            Some(quoted) => {
                // The serializer escapes every quote inside a value.
                let end = quoted.find('"').unwrap();
                rest = &quoted[end + 1..];
                unescape(&quoted[..end])
            }
            None => String::new(),
        };
        attributes.insert(name, value);
    }
}

/// The text inside the element with this id (which holds no other elements).
pub fn text_of(dom: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no element with {marker} in the page"));
    let open_end = at + dom[at..].find('>').unwrap() + 1;
    let close = open_end + dom[open_end..].find('<').unwrap();
    unescape(&dom[open_end..close])
}

/// The cells of each body row of the table inside the `<div>` with this id, as text,
/// the row's header cell first; empty when the div holds no table.
pub fn table_rows(dom: &str, id: &str) -> Vec<Vec<String>> {
    let marker = format!("id=\"{id}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no element with {marker} in the page"));
    rows_in_div(&dom[at..])
}

/// The rows of the table under chart `chart`, as [`table_rows`] reads them.
pub fn chart_table_rows(dom: &str, chart: &str) -> Vec<Vec<String>> {
    let section = section_of(dom, chart);
    let at = section
        .find("chart-data")
        .unwrap_or_else(|| panic!("the {chart} panel has no chart-data"));
    rows_in_div(&section[at..])
}

/// The markup of the panel of chart `chart`, up to its end.
pub fn section_of<'a>(dom: &'a str, chart: &str) -> &'a str {
    let marker = format!("data-chart=\"{chart}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no element with {marker} in the page"));
    &dom[at..at + dom[at..].find("</section>").unwrap()]
}

/// The body rows of the table in the div that `from` starts inside of.
fn rows_in_div(from: &str) -> Vec<Vec<String>> {
    // Tables hold no div, so the first one to close is this one.
    let div = &from[..from.find("</div>").unwrap()];
    let Some(start) = div.find("<tbody>") else {
        return Vec::new();
    };
    let body = &div[start..div.find("</tbody>").unwrap()];
    body.split("<tr").skip(1).map(cells_of).collect()
}

/// The text of each `<th>` and `<td>` in one table row.
fn cells_of(row: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut rest = row;
    while let Some(open) = [rest.find("<td"), rest.find("<th")]
        .into_iter()
        .flatten()
        .min()
    {
        let content = open + rest[open..].find('>').unwrap() + 1;
        let close = content + rest[content..].find("</t").unwrap();
        cells.push(unescape(&rest[content..close]));
        rest = &rest[close..];
    }
    cells
}

/// Undoes the entity escapes Chromium's serializer writes.
fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}
