//! `llgo-ld inspect`: what a file holds and what a rewrite would do with it, as text for people
//! or versioned JSON for machines.

use std::io::{self, Write};

use crate::error::Result;
use crate::extract::{self, EntryState};
use crate::image::{Generation, SectionInfo};
use crate::loader::{self, Compaction, Images, Loader};
use crate::plan::{self, Decision};
use crate::table::encode::{Blob, Placement};
use crate::table::Stats;

/// Version of the `--json` schema; bumped on any incompatible change.
pub const JSON_SCHEMA: u32 = 1;

/// What one image holds.
#[derive(Clone, Debug)]
pub struct ImageInfo {
    pub image: String,
    pub entry: SectionInfo,
    /// `None`: generation 2 (no stub section).
    pub stub: Option<SectionInfo>,
    pub generation: Generation,
    /// `__stop_ - __start_` of the entry section, the link-time size the runtime checks
    /// against; `None` when the symbols are not in the file (Mach-O, stripped).
    pub entry_memory_size: Option<u64>,
    /// What compaction did (a rewritten generation-2 file: file size below memory size) or would
    /// do (a plan).
    pub compaction: Option<String>,
    pub text: (u64, u64),
    pub state: EntryState,
    /// `fits in place`, `spills`, `does not fit`, `rewritten`, `unknown table version`, `skip`,
    /// `failure`.
    pub outcome: &'static str,
    pub detail: String,
    pub shortfall: Option<u64>,
    pub stats: Option<Stats>,
    pub rows: Option<usize>,
    pub buckets: Option<u32>,
    pub need: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct Info {
    /// Set when the file is not an LLGo executable at all.
    pub skip: Option<String>,
    pub images: Vec<ImageInfo>,
}

pub fn inspect(data: &[u8]) -> Result<Info> {
    let list = match loader::images(data)? {
        Images::Skip(why) => return Ok(Info { skip: Some(why), images: Vec::new() }),
        Images::List(list) => list,
    };
    let mut images = Vec::new();
    for (_, image) in &list {
        images.push(inspect_image(image.as_ref())?);
    }
    Ok(Info { skip: None, images })
}

fn inspect_image(image: &dyn Loader<'_>) -> Result<ImageInfo> {
    let s = image.sections();
    let text = image.text();
    let state = extract::entry_state(image.image())?;
    let mut info = ImageInfo {
        image: image.describe(),
        entry: s.entry,
        stub: s.stub,
        generation: s.generation(),
        entry_memory_size: memory_size(image),
        compaction: None,
        text: (text.start, text.end),
        state,
        outcome: "skip",
        detail: String::new(),
        shortfall: None,
        stats: None,
        rows: None,
        buckets: None,
        need: None,
    };
    match plan::decide(image) {
        Decision::AlreadyRewritten { placement } => {
            let (entry, stub) = image.load_sections(0)?;
            let home = if placement == Placement::Spilled { &stub } else { &entry };
            info.outcome = "rewritten";
            match Blob::parse(home) {
                Ok(blob) => {
                    info.rows = Some(blob.count as usize - 1);
                    info.buckets = Some(blob.bucket_count);
                    info.need = Some(blob.size());
                    info.detail = if placement == Placement::Spilled {
                        "table spilled to the stub section".into()
                    } else {
                        "table in place".into()
                    };
                    if let Some(mem) = info.entry_memory_size.filter(|&m| m > s.entry.size) {
                        info.compaction = Some(format!(
                            "compacted: {} bytes in the file of {mem} in memory (the tail is \
                             zero-fill)",
                            s.entry.size
                        ));
                    }
                }
                Err(e) => info.detail = format!("unreadable table: {e}"),
            }
        }
        Decision::UnknownTable { magic } => {
            info.outcome = "unknown table version";
            info.detail = plan::unknown_table_message(magic);
        }
        Decision::Skip(why) => info.detail = why,
        Decision::Refused(e) => {
            info.outcome = "failure";
            info.detail = e.to_string();
        }
        Decision::DoesNotFit { stats, rows, shortfall, error, .. } => {
            // The counts are still worth showing when only the fit failed.
            info.outcome = "does not fit";
            info.shortfall = Some(shortfall);
            info.detail = error.to_string();
            info.stats = Some(stats);
            info.rows = Some(rows);
        }
        Decision::Write(mut plan) => {
            info.compaction = match image.relayout(&mut plan.edits, plan.summary.need) {
                Ok(Compaction::NotApplicable) => None,
                Ok(c) => Some(format!("would be {c}")),
                Err(e) => Some(format!("compaction refused: {e}")),
            };
            info.stats = Some(plan.summary.stats);
            info.rows = Some(plan.summary.rows);
            info.buckets = Some(plan.summary.buckets);
            info.need = Some(plan.summary.need);
            let (outcome, room) = match plan.summary.placement {
                Placement::InPlace => ("fits in place", s.entry.size),
                Placement::Spilled => ("spills", s.stub.map_or(0, |s| s.size)),
            };
            info.outcome = outcome;
            info.detail = format!("blob of {} bytes in {room}", plan.summary.need);
        }
    }
    Ok(info)
}

/// `__stop_llgo_funcinfo_entry - __start_llgo_funcinfo_entry`, when both symbols are there.
pub fn memory_size(image: &dyn Loader<'_>) -> Option<u64> {
    let start = image.symbol_address(b"__start_llgo_funcinfo_entry")?;
    let stop = image.symbol_address(b"__stop_llgo_funcinfo_entry")?;
    stop.checked_sub(start)
}

impl Info {
    pub fn write_text(&self, file: &str, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{file}:")?;
        if let Some(why) = &self.skip {
            return writeln!(out, "  not an LLGo executable: {why}");
        }
        for i in &self.images {
            writeln!(out, "  {}", i.image)?;
            let sec = |s: &SectionInfo| {
                format!("{:#x}, {} bytes at file offset {:#x}", s.addr, s.size, s.offset)
            };
            let generation = match i.generation {
                Generation::One => "1 (stub section present)",
                Generation::Two => "2 (no stub section: in place only, compacted)",
            };
            writeln!(out, "    generation      {generation}")?;
            writeln!(out, "    entry section   {}", sec(&i.entry))?;
            match i.entry_memory_size {
                Some(m) => writeln!(
                    out,
                    "    entry sizes     {} bytes in the file, {m} in memory (__stop_ - __start_)",
                    i.entry.size
                )?,
                None => writeln!(out, "    entry sizes     {} bytes in the file", i.entry.size)?,
            }
            match &i.stub {
                Some(stub) => writeln!(out, "    stub section    {}", sec(stub))?,
                None => writeln!(out, "    stub section    none")?,
            }
            writeln!(out, "    text            {:#x}..{:#x}", i.text.0, i.text.1)?;
            if let Some(st) = &i.stats {
                writeln!(
                    out,
                    "    records         {} entry, {} stub; {} inline copies, {} no owner, {} not in \
                     index, {} duplicates",
                    st.entry_records,
                    st.stub_records,
                    st.inline_copies,
                    st.no_owner,
                    st.not_in_index,
                    st.duplicates
                )?;
            }
            if let Some(r) = i.rows {
                writeln!(out, "    rows            {r}")?;
            }
            if let Some(b) = i.buckets {
                writeln!(out, "    buckets         {b}")?;
            }
            if let Some(n) = i.need {
                writeln!(out, "    blob            {n} bytes")?;
            }
            writeln!(out, "    outcome         {}: {}", i.outcome, i.detail)?;
            if let Some(c) = &i.compaction {
                writeln!(out, "    compaction      {c}")?;
            }
        }
        Ok(())
    }

    pub fn write_json(&self, file: &str, out: &mut dyn Write) -> io::Result<()> {
        let mut s = format!("{{\"schema\":{JSON_SCHEMA},\"file\":{}", json_str(file));
        match &self.skip {
            Some(why) => s.push_str(&format!(",\"llgo\":false,\"reason\":{}", json_str(why))),
            None => s.push_str(",\"llgo\":true"),
        }
        s.push_str(",\"images\":[");
        for (n, i) in self.images.iter().enumerate() {
            if n > 0 {
                s.push(',');
            }
            let sec = |x: &SectionInfo| {
                format!("{{\"addr\":{},\"size\":{},\"offset\":{}}}", x.addr, x.size, x.offset)
            };
            let opt = |v: Option<u64>| v.map_or("null".to_string(), |v| v.to_string());
            let state = match i.state {
                EntryState::Records => "records",
                EntryState::Table => "table",
                EntryState::Redirect => "redirect",
                EntryState::Unknown(_) => "unknown",
            };
            s.push_str(&format!(
                "{{\"image\":{},\"generation\":{},\"entry_section\":{},\"entry_memory_size\":{},\
                 \"compaction\":{},\"stub_section\":{},\"text\":{{\"start\":{},\
                 \"end\":{}}},\"state\":\"{state}\",\"outcome\":\"{}\",\"detail\":{},\
                 \"shortfall\":{},\"rows\":{},\"buckets\":{},\"need\":{}",
                json_str(&i.image),
                match i.generation {
                    Generation::One => 1,
                    Generation::Two => 2,
                },
                sec(&i.entry),
                opt(i.entry_memory_size),
                i.compaction.as_deref().map_or("null".to_string(), json_str),
                i.stub.as_ref().map_or("null".to_string(), sec),
                i.text.0,
                i.text.1,
                i.outcome,
                json_str(&i.detail),
                opt(i.shortfall),
                opt(i.rows.map(|r| r as u64)),
                opt(i.buckets.map(u64::from)),
                opt(i.need),
            ));
            if let Some(st) = &i.stats {
                s.push_str(&format!(
                    ",\"records\":{{\"entry\":{},\"stub\":{},\"inline_copies\":{},\"no_owner\":{},\
                     \"not_in_index\":{},\"duplicates\":{},\"clone_suffixed\":{}}}",
                    st.entry_records,
                    st.stub_records,
                    st.inline_copies,
                    st.no_owner,
                    st.not_in_index,
                    st.duplicates,
                    st.clone_suffixed
                ));
            }
            s.push('}');
        }
        s.push_str("]}");
        writeln!(out, "{s}")
    }
}

fn json_str(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}
