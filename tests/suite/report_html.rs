//! `kms-audit report --format html`: the self-contained HTML report, checked in headless
//! Chromium (tests/suite/browser/: screenshot, print, no console errors, no loads), for external
//! references in its markup, and against its golden file.
//!
//! The browser tests skip loudly when Chromium is missing (see tests/suite/browser/mod.rs); `.ci/run`
//! installs it and sets `KMS_AUDIT_REQUIRE_BROWSER` so that CI cannot skip them.

use crate::browser;

use std::path::{Path, PathBuf};

use crate::common::{assert_golden, repo_root};
use serde_json::Value;

/// The fixed catalog, rules, waivers and trail of tests/suite/report.rs (every status reached),
/// independent of the bundled pack: the golden file comes from them.
const FIXTURE_FRAMEWORK: &str = "acme-key-standard";
const FIXTURE: [&str; 8] = [
    "--catalog",
    "tests/fixtures/report/catalog.yml",
    "--no-bundled-rules",
    "--rules",
    "tests/fixtures/report/rules",
    "--waivers",
    "tests/fixtures/report/waivers.yml",
    "tests/fixtures/report/trail",
];
/// The scan tests' trail, the trail with markup in its strings, and waivers for the bundled
/// pack: reports of the bundled PCI DSS catalog.
const TRAIL: &str = "tests/fixtures/findings/trail/findings-trail.json";
const HOSTILE_TRAIL: &str = "tests/fixtures/report-formats/hostile-trail.json";
const WAIVERS: &str = "tests/fixtures/report-formats/waivers.yml";
const REPORT_DATE: &str = "2024-05-10";
const FRAMEWORK: &str = "pci-dss-4.0.1";

/// Where these tests write pages and screenshots (kept for people to look at).
fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report_html");
    std::fs::create_dir_all(&dir).expect("output dir");
    dir
}

#[test]
fn the_browser_check_sees_script_errors_console_errors_and_loads() {
    let Some(chromium) =
        browser::chromium_or_skip("the_browser_check_sees_script_errors_console_errors_and_loads")
    else {
        return;
    };
    let page = out_dir().join("broken-on-purpose.html");
    std::fs::write(
        &page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>broken</title>\
         <style>body { background: url(missing-background.png); }</style></head><body>\
         <p>broken on purpose</p><img src=\"missing.png\" alt=\"\">\
         <img src=\"https://example.invalid/remote.png\" alt=\"\">\
         <script>console.error('console-error-text'); undefinedFunction();</script>\
         </body></html>",
    )
    .expect("write page");
    let check = browser::check_page(&chromium, &page, 800, 600).expect("browser runs");
    let all = check.problems.join("\n");
    for expected in [
        "console.error: console-error-text",
        "uncaught exception: ReferenceError: undefinedFunction is not defined",
        "loaded a resource: https://example.invalid/remote.png",
        "missing.png",
        "missing-background.png",
        "Failed to load resource",
        "a load failed: net::ERR_FILE_NOT_FOUND",
    ] {
        assert!(
            all.contains(expected),
            "{expected:?} not reported in:\n{all}"
        );
    }
}

#[test]
fn the_browser_check_passes_a_clean_page() {
    let Some(chromium) = browser::chromium_or_skip("the_browser_check_passes_a_clean_page") else {
        return;
    };
    let page = out_dir().join("clean.html");
    std::fs::write(
        &page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>clean</title>\
         <style>@media print { body { font-size: 10pt; } }</style></head><body><h1>clean</h1>\
         <svg viewBox=\"0 0 10 10\" width=\"100\" height=\"100\" role=\"img\"><title>t</title>\
         <rect width=\"10\" height=\"10\" fill=\"#2563eb\"/></svg></body></html>",
    )
    .expect("write page");
    let check = browser::check_page(&chromium, &page, 800, 600).expect("browser runs");
    assert!(check.problems.is_empty(), "{:#?}", check.problems);
    assert_eq!(check.title, "clean");
    let (width, height) = browser::png_size(&check.screenshot).expect("a PNG screenshot");
    assert_eq!(width, 800);
    assert!(height >= 100, "{height}");
    assert!(check.pdf.starts_with(b"%PDF-"), "a PDF print");
}

/// Runs `kms-audit report --framework FRAMEWORK --format html,json` plus `args` from the
/// crate root (so paths in the output are relative), with the report date fixed, and keeps
/// the page as `out_dir()/NAME.html`. Returns its path, its text and the JSON report.
fn report_html(name: &str, framework: &str, args: &[&str]) -> (PathBuf, String, Value) {
    let out = tempfile::tempdir().expect("tempdir");
    let output = assert_cmd::cargo::cargo_bin_cmd!("kms-audit")
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .env("KMS_AUDIT_REPORT_DATE", REPORT_DATE)
        .args([
            "report",
            "--framework",
            framework,
            "--format",
            "html,json",
            "--out",
        ])
        .arg(out.path())
        .args(args)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{args:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let folder = out.path().join(framework);
    let read = |ext: &str| {
        std::fs::read_to_string(folder.join(format!("{REPORT_DATE}.{ext}")))
            .unwrap_or_else(|e| panic!("{ext} report: {e}"))
    };
    let text = read("html");
    let json = serde_json::from_str(&read("json")).expect("json report");
    let kept = out_dir().join(format!("{name}.html"));
    std::fs::write(&kept, &text).expect("keep the page");
    (kept, text, json)
}

/// The pages the tests look at: the fixture (the golden one), the scan tests' trail with
/// waivers, the trail with markup in its strings, and the sample logs. Generated once per
/// test binary (the sample-logs report takes seconds).
fn pages() -> &'static [(&'static str, PathBuf, String)] {
    static PAGES: std::sync::OnceLock<Vec<(&'static str, PathBuf, String)>> =
        std::sync::OnceLock::new();
    PAGES.get_or_init(|| {
        let cases: [(&str, &str, &[&str]); 4] = [
            ("fixture", FIXTURE_FRAMEWORK, &FIXTURE),
            ("small", FRAMEWORK, &[TRAIL, "--waivers", WAIVERS]),
            ("hostile", FRAMEWORK, &[HOSTILE_TRAIL]),
            ("sample-logs", FRAMEWORK, &["sample-logs"]),
        ];
        cases
            .into_iter()
            .map(|(name, framework, args)| {
                let (path, text, _) = report_html(name, framework, args);
                (name, path, text)
            })
            .collect()
    })
}

/// Compares `actual` with tests/golden/report/`name` (beside the other formats' golden
/// files), or rewrites it when `UPDATE_GOLDEN` is set.
fn golden(name: &str, actual: &str) {
    assert_golden(
        &format!("tests/golden/report/{name}"),
        actual,
        "report_html::",
    );
}

#[test]
fn the_html_report_matches_its_golden_file() {
    let (_, html, _) = report_html("golden", FIXTURE_FRAMEWORK, &FIXTURE);
    assert!(
        !html.contains(&repo_root().display().to_string()),
        "the checkout's path leaks into the report"
    );
    golden("acme-key-standard.html", &html);
    let (_, again, _) = report_html("golden-again", FIXTURE_FRAMEWORK, &FIXTURE);
    assert_eq!(html, again, "two runs on the same inputs differ");
}

#[test]
fn the_html_report_opens_cleanly_in_chromium() {
    let Some(chromium) = browser::chromium_or_skip("the_html_report_opens_cleanly_in_chromium")
    else {
        return;
    };
    for (name, path, _) in pages() {
        let check = browser::check_page(&chromium, path, 1280, 900)
            .unwrap_or_else(|e| panic!("{name}: the browser check could not run: {e}"));
        assert!(
            check.problems.is_empty(),
            "{name} ({}): {:#?}\nother console output: {:#?}",
            path.display(),
            check.problems,
            check.console
        );
        assert!(check.requests.is_empty(), "{name}: {:?}", check.requests);
        assert!(
            check.title.contains("compliance report"),
            "{name}: {}",
            check.title
        );
        let (width, height) = browser::png_size(&check.screenshot)
            .unwrap_or_else(|| panic!("{name}: the screenshot is not a PNG"));
        assert_eq!(width, 1280, "{name}");
        assert!(height > 900, "{name}: the full page is {height} px high");
        assert!(
            check.screenshot.len() > 10_000,
            "{name}: an empty-looking screenshot"
        );
        assert!(check.pdf.starts_with(b"%PDF-"), "{name}: printing failed");
        std::fs::write(out_dir().join(format!("{name}.png")), &check.screenshot).expect("png");
        std::fs::write(out_dir().join(format!("{name}.pdf")), &check.pdf).expect("pdf");
    }
}

#[test]
fn the_html_report_loads_nothing() {
    let tag = regex::Regex::new(r"(?s)<[a-zA-Z][^>]*>").expect("regex");
    let attribute = regex::Regex::new(r#"(?i)\b([a-z:-]+)\s*=\s*"([^"]*)""#).expect("regex");
    for (name, _, html) in pages() {
        assert!(
            html.contains(
                "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            ),
            "{name}: the CSP that forbids every load"
        );
        let lower = html.to_ascii_lowercase();
        for forbidden in [
            "<script", "<link", "<img", "<iframe", "<object", "<embed", "<video", "<audio",
            "<source", "<base", "@import", "url(", "srcset", "<image", "<use",
        ] {
            assert!(
                !lower.contains(forbidden),
                "{name}: {forbidden} in the page"
            );
        }
        for found in tag.find_iter(html) {
            for attr in attribute.captures_iter(found.as_str()) {
                let (key, value) = (attr[1].to_ascii_lowercase(), &attr[2]);
                assert!(
                    !value.contains("http://")
                        && !value.contains("https://")
                        && !value.contains("//"),
                    "{name}: a URL in an attribute: {}",
                    found.as_str()
                );
                assert!(
                    !matches!(
                        key.as_str(),
                        "src" | "action" | "data" | "poster" | "xlink:href"
                    ),
                    "{name}: {}",
                    found.as_str()
                );
                if key == "href" {
                    assert!(
                        value.starts_with('#'),
                        "{name}: a link out of the page: {}",
                        found.as_str()
                    );
                }
            }
        }
    }
}

#[test]
fn markup_from_logs_is_shown_as_text() {
    let (path, html, _) = report_html("hostile-escaped", FRAMEWORK, &[HOSTILE_TRAIL]);
    for raw in ["<img src=x", "<script>alert", "<b>agent</b>", "<i>\""] {
        assert!(!html.contains(raw), "{raw} reached the page unescaped");
    }
    for escaped in [
        "user/&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#39;&lt;/td&gt;",
        "key/&lt;script&gt;alert(2)&lt;/script&gt;",
    ] {
        assert!(html.contains(escaped), "{escaped} not shown as text");
    }
    // The page and its charts still parse: every section and chart is there.
    assert_eq!(
        html.matches("<svg class=\"chart\"").count(),
        4,
        "{}",
        path.display()
    );
    for section in [
        "summary",
        "requirements",
        "findings",
        "waivers",
        "keys",
        "coverage",
        "integrity",
        "comparison",
        "scope",
        "statuses",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{section}\">")),
            "{section}"
        );
    }
}

#[test]
fn the_page_lists_every_requirement_failed_first_and_its_charts() {
    let (_, html, json) = report_html("order", FIXTURE_FRAMEWORK, &FIXTURE);
    let matrix = html
        .split("<section id=\"requirements\">")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .expect("the requirements section");
    let statuses: Vec<&str> = matrix
        .match_indices("<span class=\"badge st-")
        .map(|(i, _)| {
            let rest = &matrix[i + "<span class=\"badge st-".len()..];
            rest.split('"').next().unwrap_or_default()
        })
        .collect();
    let requirements = json["requirements"].as_array().map_or(0, Vec::len);
    assert_eq!(
        statuses.len(),
        requirements,
        "every requirement of the catalog"
    );
    let distinct: std::collections::BTreeSet<&str> = statuses.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        5,
        "the fixture reaches every status: {distinct:?}"
    );
    let rank = |s: &str| {
        [
            "not-satisfied",
            "insufficient-evidence",
            "manual",
            "satisfied",
            "not-applicable",
        ]
        .iter()
        .position(|x| *x == s)
        .unwrap_or(usize::MAX)
    };
    assert!(
        statuses.windows(2).all(|w| rank(w[0]) <= rank(w[1])),
        "{statuses:?}"
    );
    for chart in [
        "chart-severity",
        "chart-family",
        "chart-rotation",
        "chart-usage",
    ] {
        assert!(
            html.contains(&format!("aria-labelledby=\"{chart}-title {chart}-desc\"")),
            "{chart}"
        );
    }
    assert!(html.contains("@media print"));
    assert!(Path::new(&out_dir()).is_dir());
}
