//! Progress and warnings on stderr while files are read: a progress bar when stderr is a
//! terminal, warnings up to a limit.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kms_audit::ingest::Observer;
use kms_audit::trail::problem::Problem;

/// Reports an ingest run on stderr.
pub struct Terminal {
    bar: ProgressBar,
    strict: bool,
    max_warnings: usize,
    warned: AtomicUsize,
}

impl Terminal {
    /// A reporter printing at most `max_warnings` warnings; none in strict mode, where the
    /// first problem is the error.
    pub fn new(strict: bool, max_warnings: usize) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        Self {
            bar,
            strict,
            max_warnings,
            warned: AtomicUsize::new(0),
        }
    }

    /// Problems reported so far.
    pub fn problems_seen(&self) -> usize {
        self.warned.load(Ordering::Relaxed)
    }

    /// Prints a warning, within the limit.
    pub fn warn(&self, problem: &Problem, note: &str) {
        let seen = self.warned.fetch_add(1, Ordering::Relaxed);
        if seen < self.max_warnings {
            self.bar.suspend(|| eprintln!("warning: {problem}{note}"));
        }
    }

    /// Clears the bar and says how many warnings were not printed.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
        let seen = self.warned.load(Ordering::Relaxed);
        if seen > self.max_warnings {
            eprintln!(
                "warning: {} more problems not shown (raise --max-warnings, or see \"problems\" in --format json)",
                seen - self.max_warnings
            );
        }
    }
}

impl Observer for Terminal {
    fn start(&self, files: usize, bytes: u64) {
        self.bar.set_length(bytes);
        let style = ProgressStyle::with_template(
            "{spinner} reading {msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        self.bar.set_style(style);
        self.bar.set_message(format!("{files} files"));
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn problem(&self, problem: &Problem) {
        if !self.strict {
            self.warn(problem, "");
        }
    }
}

/// A bar counting simulated days on stderr (hidden when stderr is not a terminal).
pub fn days_bar(days: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(days), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} simulating [{bar:30}] day {pos}/{len} {per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// A spinner counting `pull`'s requests and events on stderr (hidden when stderr is not a
/// terminal), with a line when CloudTrail throttles.
pub struct PullProgress {
    bar: ProgressBar,
}

impl PullProgress {
    /// A spinner, drawn only on a terminal.
    pub fn new() -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let style = ProgressStyle::with_template("{spinner} pulling: {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_message("asking LookupEvents");
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Self { bar }
    }

    /// Clears the spinner.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl kms_audit::pull::PullObserver for PullProgress {
    fn page(&self, requests: u64, events: u64) {
        self.bar
            .set_message(format!("{events} events in {requests} requests"));
    }

    fn throttled(&self, wait: std::time::Duration) {
        self.bar.suspend(|| {
            eprintln!(
                "note: CloudTrail is throttling LookupEvents; waiting {:.1} s",
                wait.as_secs_f64()
            );
        });
    }
}
