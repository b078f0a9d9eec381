//! Pull progress on stderr: one bar per layer (bytes and rate) on a terminal, plain lines
//! otherwise, nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How pull progress is shown.
#[derive(Debug, Clone)]
pub struct Progress {
    bars: Option<MultiProgress>,
    quiet: bool,
}

impl Progress {
    /// Bars if stderr is a terminal, plain lines otherwise; `quiet` prints nothing.
    pub fn new(quiet: bool) -> Progress {
        let bars = (!quiet && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { bars, quiet }
    }

    /// Prints a status line.
    pub fn message(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.bars {
            Some(bars) => {
                bars.println(text).ok();
            }
            None => eprintln!("{text}"),
        }
    }

    /// Starts tracking the download of one blob of `total` bytes.
    pub fn blob(&self, label: &str, total: u64) -> BlobProgress {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.add(ProgressBar::new(total));
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(label.to_string());
            bar
        });
        if bar.is_none() && !self.quiet {
            eprintln!("{label}: downloading {}", human_bytes(total));
        }
        BlobProgress {
            bar,
            label: label.to_string(),
            quiet: self.quiet,
            started: Instant::now(),
            bytes: 0,
        }
    }
}

/// Progress of one blob download.
#[derive(Debug)]
pub struct BlobProgress {
    bar: Option<ProgressBar>,
    label: String,
    quiet: bool,
    started: Instant,
    bytes: u64,
}

impl BlobProgress {
    /// Adds `bytes` downloaded bytes.
    pub fn advance(&mut self, bytes: u64) {
        self.bytes += bytes;
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// Marks the download complete and verified.
    pub fn finish(self) {
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.bytes as f64 / seconds;
        match &self.bar {
            Some(bar) => bar.finish_with_message("done"),
            None if !self.quiet => eprintln!(
                "{}: downloaded {} in {seconds:.1} s ({}/s)",
                self.label,
                human_bytes(self.bytes),
                human_bytes(rate as u64)
            ),
            None => {}
        }
    }

    /// Marks the download failed.
    pub fn abandon(self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}

/// Formats a byte count with a decimal unit, as `docker images` does.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
