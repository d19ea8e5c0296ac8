//! The process's allocator: the system's, except that blocks of 1 MiB and more (the working
//! vectors of a rewrite: records, symbols, the owner and symbol indexes, the table) come from
//! mappings of their own aligned to 2 MiB and marked for transparent huge pages. A 110k-row
//! rewrite touches about 25 MB of such vectors once each; in 4 KiB pages that was 6,000 page
//! faults and a third of its time (docs/design.md, "Performance"). glibc can do the same
//! (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`) only when told before the process starts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;

pub struct HugeAlloc;

const BIG: usize = 1 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// The length of the mapping behind a big block of `size` bytes.
fn mapped_len(size: usize) -> usize {
    size.div_ceil(HUGE_PAGE).saturating_mul(HUGE_PAGE)
}

/// How much of a big block of `size` bytes is marked for huge pages: the whole huge pages, and
/// the last one only when the block fills more than half of it. A touched huge page is resident
/// as a whole, so a block ending early in one would hold up to 2 MiB it never uses (at 110k rows:
/// the symbol index's 1 MiB of slots); such an end takes ordinary pages, one fault per 4 KiB
/// (at most 256 per block).
///
/// The bound trades faults for resident memory. Measured at 110k rows (`inspect`, interleaved
/// medians; peak RSS; minor faults): more than three quarters 14.8 ms, 28.7 MiB, 2,258; more
/// than half 12.9 ms, 30.4 MiB, 1,415; more than a quarter 13.2 ms, 32.7 MiB, 1,025; any part
/// 13.3 ms, 34.9 MiB, 954.
fn huge_part(size: usize) -> usize {
    let whole = size / HUGE_PAGE * HUGE_PAGE;
    if size % HUGE_PAGE > HUGE_PAGE / 2 {
        whole.saturating_add(HUGE_PAGE)
    } else {
        whole
    }
}

/// Zeroed blocks from this size on are populated when allocated (see [`populate`]).
const POPULATE: usize = 64 << 10;

/// Maps the whole pages inside `size` bytes at `block` in one call (`MADV_POPULATE_WRITE`,
/// Linux 5.14; elsewhere, or refused, the pages fault in one by one as before).
///
/// A zeroed block is fresh memory (glibc's `calloc` and [`map_big`] skip the memset for it)
/// and is typically read before it is written (`vec![0; n]` as a table of flags or slots:
/// `if slots[i] == 0 { slots[i] = .. }`). A read of an untouched page maps the shared zero
/// page; the write then faults again, and with two threads alive that second fault flushes the
/// other CPU's TLB by interrupt. At 110k rows the symbol index's 1 MiB of slots alone took 512
/// faults that way (a quarter of `inspect`'s), with the flushes (`smp_call_function_many_cond`
/// under `do_wp_page`) among the kernel's largest samples.
fn populate(block: *mut u8, size: usize) {
    const PAGE: usize = 4096;
    let start = (block as usize).next_multiple_of(PAGE);
    let end = (block as usize).saturating_add(size) / PAGE * PAGE;
    if block.is_null() || end <= start {
        return;
    }
    // SAFETY: the range lies inside the block just allocated for the caller; populating
    // writable private memory only maps its pages (their contents stay zero).
    unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_POPULATE_WRITE) };
}

fn is_big(layout: &Layout) -> bool {
    layout.size() >= BIG && layout.align() <= HUGE_PAGE
}

/// A fresh mapping of `mapped_len(size)` bytes at a 2 MiB boundary, or null.
///
/// # Safety
/// Plain system calls on memory this function maps itself.
unsafe fn map_big(size: usize) -> *mut u8 {
    let len = mapped_len(size);
    let Some(reserve) = len.checked_add(HUGE_PAGE) else { return std::ptr::null_mut() };
    // SAFETY: an anonymous private mapping; no existing memory is touched.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            reserve,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    let start = raw as usize;
    let aligned = start.next_multiple_of(HUGE_PAGE);
    let head = aligned - start;
    let tail = reserve - head - len;
    // SAFETY: both ranges lie inside the mapping just made and outside the block returned.
    unsafe {
        if head > 0 {
            libc::munmap(raw, head);
        }
        if tail > 0 {
            libc::munmap((aligned + len) as *mut libc::c_void, tail);
        }
        // A hint: without transparent huge pages the block is ordinary memory.
        let huge = huge_part(size);
        if huge > 0 {
            libc::madvise(aligned as *mut libc::c_void, huge, libc::MADV_HUGEPAGE);
        }
    }
    aligned as *mut u8
}

/// Freed big blocks kept for the next big allocation, at most [`CACHE_BYTES`] of them. A fresh
/// block costs the kernel's zeroing of every huge page it touches (a third of a 110k-row
/// `inspect` was `clear_page_erms`); the working vectors of a rewrite are made one after the
/// other (symbols, then owner sets, then canonical records, then rows, then the table), so most
/// can take the memory of one that was just freed.
///
/// A kept block stays resident: without a bound, the vectors freed at the end of planning (14
/// MiB at 110k rows, never reused: the table is zeroed memory and the self-check allocates no
/// big block) added to the peak RSS of the self-check. Past the bound the oldest blocks go back
/// to the kernel.
static FREED: Mutex<Freed> = Mutex::new(Freed { blocks: [Block::EMPTY; 8], clock: 0 });

/// 2 huge pages: at 110k rows the owner test's lists reuse the sort's and the symbol scan's
/// blocks; more kept blocks (4 huge pages) were not reused, only resident (2 MB more at the peak).
const CACHE_BYTES: usize = 2 * HUGE_PAGE;

#[derive(Clone, Copy)]
struct Block {
    /// 0 for an empty slot.
    at: usize,
    len: usize,
    /// When it was freed: the oldest goes first.
    freed: u64,
}

impl Block {
    const EMPTY: Block = Block { at: 0, len: 0, freed: 0 };
}

struct Freed {
    blocks: [Block; 8],
    clock: u64,
}

/// A freed block of at least `len` bytes (its surplus beyond `len` unmapped), or null.
fn reuse(len: usize) -> *mut u8 {
    let Ok(mut freed) = FREED.lock() else { return std::ptr::null_mut() };
    let best = freed.blocks.iter_mut().filter(|b| b.at != 0 && b.len >= len).min_by_key(|b| b.len);
    let Some(slot) = best else { return std::ptr::null_mut() };
    let Block { at, len: have, .. } = std::mem::replace(slot, Block::EMPTY);
    if have > len {
        // SAFETY: the surplus lies inside this block, which nothing else uses.
        unsafe { libc::munmap((at + len) as *mut libc::c_void, have - len) };
    }
    at as *mut u8
}

/// Keeps a freed block for [`reuse`] (unmapping the oldest kept ones beyond [`CACHE_BYTES`]), or
/// unmaps it when it alone is larger.
fn release(at: *mut u8, len: usize) {
    if len <= CACHE_BYTES {
        if let Ok(mut freed) = FREED.lock() {
            loop {
                let kept: usize = freed.blocks.iter().map(|b| b.len).sum();
                let free_slot = freed.blocks.iter().any(|b| b.at == 0);
                if free_slot && kept + len <= CACHE_BYTES {
                    break;
                }
                let oldest = freed.blocks.iter_mut().filter(|b| b.at != 0).min_by_key(|b| b.freed);
                let Some(oldest) = oldest else { break };
                let Block { at, len, .. } = std::mem::replace(oldest, Block::EMPTY);
                // SAFETY: a whole kept block, which nothing uses.
                unsafe { libc::munmap(at as *mut libc::c_void, len) };
            }
            freed.clock += 1;
            let clock = freed.clock;
            if let Some(slot) = freed.blocks.iter_mut().find(|b| b.at == 0) {
                *slot = Block { at: at as usize, len, freed: clock };
                return;
            }
        }
    }
    // SAFETY: `at` is a whole block of `len` bytes that its owner gave up.
    unsafe { libc::munmap(at.cast(), len) };
}

// SAFETY: big blocks are whole mappings of their own, found again by their layout's size (the
// same size class on allocation and deallocation); everything else is the system allocator's.
unsafe impl GlobalAlloc for HugeAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_big(&layout) {
            let reused = reuse(mapped_len(layout.size()));
            if !reused.is_null() {
                return reused;
            }
            // SAFETY: see map_big.
            unsafe { map_big(layout.size()) }
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let block = if is_big(&layout) {
            // SAFETY: see map_big; fresh anonymous mappings are zero.
            unsafe { map_big(layout.size()) }
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.alloc_zeroed(layout) }
        };
        if layout.size() >= POPULATE {
            populate(block, layout.size());
        }
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_big(&layout) {
            // `ptr` is a block of map_big (or reuse) for this size class.
            release(ptr, mapped_len(layout.size()));
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid layout for `new_size` with this alignment.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (is_big(&layout), is_big(&new)) {
            // SAFETY: forwarded with the caller's guarantees.
            (false, false) => unsafe { System.realloc(ptr, layout, new_size) },
            // Still inside the same mapping: nothing to do.
            (true, true) if mapped_len(new_size) == mapped_len(layout.size()) => ptr,
            _ => {
                // SAFETY: a new block of the new size; the old one is valid for its size and
                // released after the copy.
                unsafe {
                    let to = self.alloc(new);
                    if !to.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, to, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    to
                }
            }
        }
    }
}
