//! Quiet-by-default logging (docs/usage.md, "Environment").
//!
//! Nothing is installed unless `LLGO_LD_LOG` (a `tracing` EnvFilter: `info`, `debug`,
//! `llgo_ld=trace`) or `LLGO_LD_LOG_FILE` (append to that file; implies `info`) is set, so a
//! build that does not ask sees no extra byte. Each event is one line
//! (`llgo-ld: info: ...`), written with a single `write` to an `O_APPEND` file so that parallel
//! links do not interleave. This module is the one exception to "only output.rs writes files".
//!
//! At `info` every driver invocation logs exactly one line ([`LinkLine`]) with the mode, the
//! real tool, the output, the outcome and the rewrite's counts and time; decisions on the way
//! are `debug`.

use std::fmt;
use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use tracing::Event;
use tracing::Subscriber;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::FormatEvent;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

pub const LOG_VAR: &str = "LLGO_LD_LOG";
pub const LOG_FILE_VAR: &str = "LLGO_LD_LOG_FILE";

/// `llgo-ld: <level>: <message and fields>` and a newline.
struct OneLine;

impl<S, N> FormatEvent<S, N> for OneLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        write!(writer, "llgo-ld: {level}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Installs the subscriber if the environment asks for logging. Returns whether it did.
pub fn init() -> bool {
    let filter_text = std::env::var(LOG_VAR).ok().filter(|s| !s.trim().is_empty());
    let file_name = std::env::var_os(LOG_FILE_VAR).filter(|s| !s.is_empty());
    if filter_text.is_none() && file_name.is_none() {
        return false;
    }
    let filter = match &filter_text {
        Some(text) => EnvFilter::try_new(text).unwrap_or_else(|e| {
            eprintln!("llgo-ld: warning: {LOG_VAR}={text:?}: {e}; using info");
            EnvFilter::new("info")
        }),
        None => EnvFilter::new("info"),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).event_format(OneLine);
    let file = file_name.and_then(|name| {
        File::options()
            .append(true)
            .create(true)
            .open(&name)
            .map_err(|e| {
                eprintln!("llgo-ld: warning: {LOG_FILE_VAR}={}: {e}", name.to_string_lossy());
            })
            .ok()
    });
    // The fmt layer formats a whole event into a buffer and hands it over in one write_all:
    // one write(2) per line, on an O_APPEND file atomic with respect to other appenders.
    let installed = match file {
        Some(f) => builder.with_writer(Arc::new(f)).try_init(),
        None => builder.with_writer(std::io::stderr).try_init(),
    };
    installed.is_ok()
}

/// The one info line of a driver invocation.
#[derive(Clone, Debug, Default)]
pub struct LinkLine {
    pub mode: &'static str,
    pub tool: String,
    pub output: String,
    /// `rewritten`, `skipped: <why>`, `failed: <why>`, `link failed: <status>`.
    pub outcome: String,
    /// Present when the table was written.
    pub counts: Option<Counts>,
    /// Whether a relink for room happened, and the bytes it reserved.
    pub relink: bool,
    pub reserved: u64,
    /// The rewrite's time (zero when there was none).
    pub elapsed: Duration,
    /// The whole invocation, link included.
    pub total: Duration,
}

/// The rewrite's numbers, summed over the images of a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub entry: usize,
    pub stub: usize,
    /// Records that made a row: not inline copies, ownerless, unindexed, duplicate or clones.
    pub kept: usize,
    pub inline: usize,
    pub no_owner: usize,
    pub rows: usize,
    pub buckets: u64,
    pub spilled: bool,
}

impl Counts {
    pub fn of(summaries: &[crate::plan::Summary]) -> Counts {
        let mut c = Counts::default();
        for s in summaries {
            c.entry += s.stats.entry_records;
            c.stub += s.stats.stub_records;
            // Records that made (or confirmed) a row: everything but the ones the owner test
            // and the index set aside.
            let st = &s.stats;
            let total = st.entry_records + st.stub_records;
            let dropped = st.inline_copies
                + st.no_owner
                + st.not_in_index
                + st.duplicates
                + st.clone_suffixed;
            c.kept += total.saturating_sub(dropped);
            c.inline += s.stats.inline_copies;
            c.no_owner += s.stats.no_owner;
            c.rows += s.rows;
            c.buckets += u64::from(s.buckets);
            c.spilled |= s.placement == crate::table::encode::Placement::Spilled;
        }
        c
    }
}

/// The outcome of a rewrite for the log line: `rewritten`, and for generation 2 what compaction
/// did (`compacted: N bytes cut`, or why the table stayed at the section's full size).
pub fn rewritten(summaries: &[crate::plan::Summary]) -> String {
    let mut out = String::from("rewritten");
    for s in summaries {
        if s.compaction != crate::loader::Compaction::NotApplicable {
            out.push_str(&format!("; {}", s.compaction));
        }
    }
    out
}

impl fmt::Display for LinkLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mode={} tool={} output={} outcome=\"{}\"",
            self.mode, self.tool, self.output, self.outcome
        )?;
        match &self.counts {
            Some(c) => write!(
                f,
                " records=entry:{},stub:{},kept:{},inline:{},no_owner:{} rows={} buckets={} \
                 placement={}",
                c.entry,
                c.stub,
                c.kept,
                c.inline,
                c.no_owner,
                c.rows,
                c.buckets,
                if c.spilled { "spilled" } else { "in-place" }
            )?,
            None => write!(f, " records= rows= buckets= placement=")?,
        }
        write!(
            f,
            " relink={} reserved={} time={:.3}ms total={:.3}ms",
            if self.relink { "yes" } else { "no" },
            self.reserved,
            self.elapsed.as_secs_f64() * 1e3,
            self.total.as_secs_f64() * 1e3
        )
    }
}

/// Logs the line: at `info`, or at `debug` for the outer level of a nested llgo-ld (the inner
/// one logged the link at info).
pub fn link_line(line: &LinkLine, outer: bool) {
    if outer {
        tracing::debug!("{line} level=outer");
    } else {
        tracing::info!("{line}");
    }
}
