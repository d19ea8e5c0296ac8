//! The process's allocator: the system's for small blocks; blocks of 128 KiB and more (the
//! working vectors of a rewrite: symbols, the owner and symbol indexes, the canonical records,
//! the rows, the table) come from one arena of transparent huge pages whose freed blocks are
//! handed out again.
//!
//! Fresh memory is what costs on the machines measured (docs/design.md, "Performance"): the
//! first touch of a 4 KiB page costs ~1.5–2 µs (0.4 ms per MB), of a huge page ~0.1 ms per MB,
//! while writing memory already mapped costs 0.035 ms per MB. A 110k-row `inspect` allocates
//! about 27 MB of such vectors one after the other (symbols, then owner sets, then canonical
//! records, then rows, then the table) but holds at most about 15 MB at once; with a mapping per
//! block every one of them was fresh, and blocks under 1 MiB and the ends of larger ones were
//! 4 KiB pages. The arena makes the freed memory of one phase the next phase's, and all of it
//! huge pages. glibc can use huge pages too (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`), but only
//! when told before the process starts, and it returns big blocks to the kernel when freed.
//!
//! The arena is a reservation of address space (`PROT_NONE`, no memory), made writable in steps
//! as it grows. Its bookkeeping ([`Extents`]) is plain arithmetic over addresses, tested on its
//! own. Where the reservation cannot be made, or is used up, a big block is a mapping of its own
//! as before.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

pub struct HugeAlloc;

/// Blocks from this size on come from the arena (glibc's own threshold for a mapping).
const BIG: usize = 128 << 10;
const PAGE: usize = 4096;
const HUGE_PAGE: usize = 2 << 20;
/// Address space reserved for the arena: not memory, which is committed as the arena grows.
/// 64 GiB (1 GiB where addresses have 32 bits).
const RESERVE: usize = if usize::BITS >= 64 { (1u64 << 36) as usize } else { 1 << 30 };
/// The arena is made writable in steps of at least this much.
const COMMIT_STEP: usize = 32 << 20;
/// Free extents kept apart; past this (a pathological pattern of frees) a freed block is not
/// reused, but stays the arena's.
const MAX_FREE: usize = 64;

fn is_big(layout: &Layout) -> bool {
    layout.size() >= BIG && layout.align() <= PAGE
}

/// A block's length in the arena: whole pages.
fn arena_len(size: usize) -> Option<usize> {
    size.checked_next_multiple_of(PAGE)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Extent {
    at: usize,
    len: usize,
}

impl Extent {
    const EMPTY: Extent = Extent { at: 0, len: 0 };

    fn end(&self) -> usize {
        self.at + self.len
    }
}

/// A block handed out by [`Extents::take`]: its first `dirty` bytes were used before (a zeroed
/// block must be cleared there); the rest is fresh, zero memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Taken {
    at: usize,
    dirty: usize,
}

/// The arena's bookkeeping: `[start, top)` has been handed out at some time, `[top, end)` never
/// (zero, not yet touched). Freed blocks are extents below `top`, kept sorted by address and
/// merged with their neighbours.
#[derive(Clone, Copy)]
struct Extents {
    free: [Extent; MAX_FREE],
    count: usize,
    top: usize,
    end: usize,
}

impl Extents {
    const fn new() -> Self {
        Extents { free: [Extent::EMPTY; MAX_FREE], count: 0, top: 0, end: 0 }
    }

    fn start(&mut self, at: usize, len: usize) {
        *self = Extents { top: at, end: at + len, ..Extents::new() };
    }

    fn free(&self) -> &[Extent] {
        self.free.get(..self.count).unwrap_or_default()
    }

    /// Removes the free extent `i` (nothing when there is none: slots from `count` on are
    /// stale, never extents).
    fn remove(&mut self, i: usize) {
        if i >= self.count {
            return;
        }
        if let Some(rest) = self.free.get_mut(i..self.count) {
            rest.rotate_left(1);
            self.count -= 1;
        }
    }

    /// A block of `len` bytes (whole pages): the smallest freed extent it fits in, else the
    /// last freed extent when it reaches `top` (extended into fresh memory), else fresh memory.
    fn take(&mut self, len: usize) -> Option<Taken> {
        let best = (0..self.count)
            .filter(|&i| self.free.get(i).is_some_and(|e| e.len >= len))
            .min_by_key(|&i| self.free.get(i).map_or(usize::MAX, |e| e.len));
        if let Some(i) = best {
            let e = self.free.get_mut(i)?;
            let at = e.at;
            e.at += len;
            e.len -= len;
            if e.len == 0 {
                self.remove(i);
            }
            return Some(Taken { at, dirty: len });
        }
        let last = self.count.checked_sub(1).and_then(|i| self.free.get(i).copied());
        if let Some(e) = last.filter(|e| e.end() == self.top) {
            let top = e.at.checked_add(len).filter(|&t| t <= self.end)?;
            self.count -= 1;
            self.top = top;
            return Some(Taken { at: e.at, dirty: e.len });
        }
        let at = self.top;
        self.top = at.checked_add(len).filter(|&t| t <= self.end)?;
        Some(Taken { at, dirty: 0 })
    }

    /// Takes back `[at, at + len)`, merging it with the free extents it touches.
    fn give(&mut self, at: usize, len: usize) {
        if len == 0 {
            return;
        }
        let i = self.free().partition_point(|e| e.at < at);
        let before = i.checked_sub(1).filter(|&p| self.free.get(p).is_some_and(|e| e.end() == at));
        let after = self.free().get(i).is_some_and(|e| e.at == at + len);
        match (before, after) {
            (Some(p), true) => {
                let next = self.free.get(i).map_or(0, |e| e.len);
                if let Some(e) = self.free.get_mut(p) {
                    e.len += len + next;
                }
                self.remove(i);
            }
            (Some(p), false) => {
                if let Some(e) = self.free.get_mut(p) {
                    e.len += len;
                }
            }
            (None, true) => {
                if let Some(e) = self.free.get_mut(i) {
                    e.at = at;
                    e.len += len;
                }
            }
            (None, false) => {
                if self.count == MAX_FREE {
                    return; // kept by the arena, not reused
                }
                if let Some(rest) = self.free.get_mut(i..=self.count) {
                    rest.rotate_right(1);
                    if let Some(slot) = rest.first_mut() {
                        *slot = Extent { at, len };
                    }
                    self.count += 1;
                }
            }
        }
    }

    /// Grows the block `[at, at + old)` to `new` bytes where it lies, when the memory after it
    /// is fresh or a free extent large enough; returns how many of the added bytes are dirty.
    fn grow(&mut self, at: usize, old: usize, new: usize) -> Option<usize> {
        let end = at.checked_add(old)?;
        let more = new.checked_sub(old)?;
        if end == self.top {
            self.top = at.checked_add(new).filter(|&t| t <= self.end)?;
            return Some(0);
        }
        let i = self.free().partition_point(|e| e.at < end);
        // Only a free extent: the slots past `count` hold stale copies of removed ones.
        self.free().get(i).filter(|e| e.at == end && e.len >= more)?;
        let e = self.free.get_mut(i)?;
        e.at += more;
        e.len -= more;
        if e.len == 0 {
            self.remove(i);
        }
        Some(more)
    }
}

struct Arena {
    extents: Extents,
    /// End of the writable part.
    writable: usize,
    /// The reservation was tried (it is made on the first big block).
    tried: bool,
}

static ARENA: Mutex<Arena> =
    Mutex::new(Arena { extents: Extents::new(), writable: 0, tried: false });

/// The reservation's address range, readable without the lock: whether a block is the arena's
/// never depends on taking it (0..0 until the reservation is made).
static RANGE: (AtomicUsize, AtomicUsize) = (AtomicUsize::new(0), AtomicUsize::new(0));

fn in_arena(at: usize) -> bool {
    (RANGE.0.load(Ordering::Acquire)..RANGE.1.load(Ordering::Acquire)).contains(&at)
}

thread_local! {
    /// This thread holds the arena's lock.
    static HOLDING: Cell<bool> = const { Cell::new(false) };
}

/// The arena, locked by this thread.
struct Held(MutexGuard<'static, Arena>);

impl Drop for Held {
    fn drop(&mut self) {
        HOLDING.with(|h| h.set(false));
    }
}

impl std::ops::Deref for Held {
    type Target = Arena;
    fn deref(&self) -> &Arena {
        &self.0
    }
}

impl std::ops::DerefMut for Held {
    fn deref_mut(&mut self) -> &mut Arena {
        &mut self.0
    }
}

/// The arena, locked; `None` when this thread holds the lock already. Nothing allocates or
/// panics while holding it, so that never happens; were it to (a panic's message allocates),
/// the call goes on without the arena instead of waiting for itself forever: a block is mapped
/// apart, an arena block given back is kept. A poisoned lock is used as it is: the bookkeeping
/// is whole between calls (each change completes before anything could fail).
fn arena() -> Option<Held> {
    if HOLDING.with(|h| h.replace(true)) {
        return None;
    }
    Some(Held(ARENA.lock().unwrap_or_else(PoisonError::into_inner)))
}

impl Arena {
    /// Reserves the address space, once.
    fn reserve(&mut self) {
        if self.tried {
            return;
        }
        self.tried = true;
        // SAFETY: an anonymous mapping no one can touch (PROT_NONE); no existing memory.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                RESERVE + HUGE_PAGE,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return;
        }
        // Huge pages line up with the arena's start (the slack before it stays reserved).
        let start = (raw as usize).next_multiple_of(HUGE_PAGE);
        self.extents.start(start, RESERVE);
        self.writable = start;
        RANGE.0.store(start, Ordering::Release);
        RANGE.1.store(start + RESERVE, Ordering::Release);
    }

    /// Makes the arena writable up to `top` at least, in steps of [`COMMIT_STEP`].
    fn commit(&mut self, top: usize) -> bool {
        if top <= self.writable {
            return true;
        }
        let want = (top - self.writable).next_multiple_of(COMMIT_STEP);
        let want = want.min(self.extents.end - self.writable);
        let at = self.writable as *mut libc::c_void;
        // SAFETY: the range lies inside the reservation, past its writable part: nothing uses it.
        let ok = unsafe {
            libc::mprotect(at, want, libc::PROT_READ | libc::PROT_WRITE) == 0
                // A hint: without transparent huge pages the arena is ordinary memory.
                && { libc::madvise(at, want, libc::MADV_HUGEPAGE); true }
        };
        if ok {
            self.writable += want;
        }
        ok && top <= self.writable
    }

    fn take(&mut self, len: usize) -> Option<Taken> {
        self.reserve();
        let before = self.extents;
        let taken = self.extents.take(len)?;
        if self.commit(self.extents.top) {
            return Some(taken);
        }
        // Not writable (the system refused more memory): as it was; the block is mapped apart.
        self.extents = before;
        None
    }

    /// Grows an arena block where it lies (see [`Extents::grow`]); false when it cannot.
    fn grow(&mut self, at: usize, old: usize, new: usize) -> bool {
        let before = self.extents;
        if self.extents.grow(at, old, new).is_some() && self.commit(self.extents.top) {
            return true;
        }
        self.extents = before;
        false
    }
}

/// Clears a block for `alloc_zeroed`: writes zeros over its used part, and maps the fresh rest
/// in one call (`MADV_POPULATE_WRITE`, Linux 5.14; elsewhere, or refused, its pages fault in
/// when touched).
///
/// Fresh memory is typically read before it is written (`vec![0; n]` as a table of flags or
/// slots: `if slots[i] == 0 { slots[i] = .. }`). A read of an untouched page maps the shared
/// zero page; the write then faults again, and with two threads alive that second fault flushes
/// the other CPU's TLB by interrupt (at 110k rows the symbol index's 1 MiB of slots alone took
/// 512 faults that way).
///
/// # Safety
/// `[at, at + len)` is a block just handed out for the caller.
unsafe fn clear(at: usize, len: usize, dirty: usize) {
    let dirty = dirty.min(len);
    // SAFETY: inside the caller's block.
    unsafe {
        std::ptr::write_bytes(at as *mut u8, 0, dirty);
        if len > dirty {
            libc::madvise(
                (at + dirty) as *mut libc::c_void,
                len - dirty,
                libc::MADV_POPULATE_WRITE,
            );
        }
    }
}

/// A fresh mapping of its own for a big block the arena cannot hold, or null.
///
/// # Safety
/// Plain system calls on memory this function maps itself.
unsafe fn map_apart(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping; no existing memory is touched.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        raw.cast()
    }
}

/// A big block: from the arena, else mapped apart; with how much of it was used before.
fn big(len: usize) -> Option<Taken> {
    if let Some(taken) = arena().and_then(|mut arena| arena.take(len)) {
        return Some(taken);
    }
    // SAFETY: see map_apart.
    let at = unsafe { map_apart(len) };
    (!at.is_null()).then_some(Taken { at: at as usize, dirty: 0 })
}

// SAFETY: a big block is page-aligned memory of the arena or a mapping of its own, found again
// by its address and its layout's size (rounded to pages the same way on every call); everything
// else is the system allocator's.
unsafe impl GlobalAlloc for HugeAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !is_big(&layout) {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { System.alloc(layout) };
        }
        arena_len(layout.size()).and_then(big).map_or(std::ptr::null_mut(), |t| t.at as *mut u8)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !is_big(&layout) {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { System.alloc_zeroed(layout) };
        }
        let Some(len) = arena_len(layout.size()) else { return std::ptr::null_mut() };
        let Some(taken) = big(len) else { return std::ptr::null_mut() };
        // SAFETY: the block was just handed out, `len` bytes long.
        unsafe { clear(taken.at, len, taken.dirty) };
        taken.at as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !is_big(&layout) {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { System.dealloc(ptr, layout) };
        }
        let Some(len) = arena_len(layout.size()) else { return };
        if in_arena(ptr as usize) {
            if let Some(mut arena) = arena() {
                arena.extents.give(ptr as usize, len);
            }
            return;
        }
        // SAFETY: a block mapped apart, `len` bytes long, that its owner gave up.
        unsafe { libc::munmap(ptr.cast(), len) };
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid layout for `new_size` with this alignment.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (is_big(&layout), is_big(&new)) {
            // SAFETY: forwarded with the caller's guarantees.
            (false, false) => return unsafe { System.realloc(ptr, layout, new_size) },
            (true, true) => {
                let (Some(old_len), Some(new_len)) =
                    (arena_len(layout.size()), arena_len(new_size))
                else {
                    return std::ptr::null_mut();
                };
                if new_len == old_len {
                    return ptr;
                }
                let at = ptr as usize;
                if let Some(mut arena) = in_arena(at).then(arena).flatten() {
                    if new_len < old_len {
                        arena.extents.give(at + new_len, old_len - new_len);
                        return ptr;
                    }
                    // Grown memory is not promised zero: dirty or fresh, both will do.
                    if arena.grow(at, old_len, new_len) {
                        return ptr;
                    }
                }
            }
            _ => {}
        }
        // SAFETY: a new block of the new size; the old one is valid for its size and released
        // after the copy.
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

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: usize = 1 << 30;

    fn extents(len: usize) -> Extents {
        let mut e = Extents::new();
        e.start(BASE, len);
        e
    }

    #[test]
    fn fresh_blocks_come_from_the_top_and_freed_ones_are_reused() {
        let mut e = extents(1 << 20);
        let a = e.take(0x4000).unwrap();
        let b = e.take(0x2000).unwrap();
        assert_eq!((a, b), (Taken { at: BASE, dirty: 0 }, Taken { at: BASE + 0x4000, dirty: 0 }));
        e.give(a.at, 0x4000);
        // The smallest extent that fits, from its start; the part handed out is dirty.
        assert_eq!(e.take(0x1000), Some(Taken { at: BASE, dirty: 0x1000 }));
        assert_eq!(e.free(), &[Extent { at: BASE + 0x1000, len: 0x3000 }]);
        // Too large for the extent: from the top.
        assert_eq!(e.take(0x8000), Some(Taken { at: BASE + 0x6000, dirty: 0 }));
        // Past the end: refused, nothing changed.
        let top = e.top;
        assert_eq!(e.take(1 << 20), None);
        assert_eq!(e.top, top);
    }

    #[test]
    fn freed_neighbours_merge_in_any_order() {
        // Three adjacent blocks freed in each order end as one extent.
        for order in [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
            let mut e = extents(1 << 20);
            let blocks: Vec<Taken> = (0..3).map(|_| e.take(0x1000).unwrap()).collect();
            let _guard = e.take(0x1000).unwrap(); // keeps the three below the top
            for i in order {
                e.give(blocks[i].at, 0x1000);
            }
            assert_eq!(e.free(), &[Extent { at: BASE, len: 0x3000 }], "order {order:?}");
        }
    }

    #[test]
    fn the_last_extent_at_the_top_grows_into_fresh_memory() {
        let mut e = extents(1 << 20);
        let a = e.take(0x1000).unwrap();
        let b = e.take(0x2000).unwrap();
        e.give(b.at, 0x2000);
        // 0x2000 dirty bytes, then fresh memory up to the new top.
        assert_eq!(e.take(0x5000), Some(Taken { at: b.at, dirty: 0x2000 }));
        assert_eq!((e.free(), e.top), (&[][..], BASE + 0x6000));
        assert_eq!(a.at, BASE);
    }

    #[test]
    fn blocks_grow_in_place_into_fresh_memory_or_a_free_neighbour() {
        let mut e = extents(1 << 20);
        let a = e.take(0x1000).unwrap();
        // At the top: into fresh memory.
        assert_eq!(e.grow(a.at, 0x1000, 0x3000), Some(0));
        let b = e.take(0x3000).unwrap();
        let c = e.take(0x1000).unwrap();
        e.give(b.at, 0x3000);
        // Into the free neighbour, which shrinks from its start.
        assert_eq!(e.grow(a.at, 0x3000, 0x5000), Some(0x2000));
        assert_eq!(e.free(), &[Extent { at: b.at + 0x2000, len: 0x1000 }]);
        // Not enough room after it: refused, nothing changed.
        assert_eq!(e.grow(a.at, 0x5000, 0x8000), None);
        assert_eq!(e.free(), &[Extent { at: b.at + 0x2000, len: 0x1000 }]);
        assert_eq!(c.at, b.at + 0x3000);
    }

    /// The slots past `count` hold stale copies of removed extents (a merge removes the one it
    /// absorbed): nothing may take memory from them. Growing into one handed out memory that a
    /// free extent also held, and removing it panicked (found by the two-thread test).
    #[test]
    fn stale_slots_are_never_extents() {
        let mut e = extents(1 << 20);
        let a = e.take(0x1000).unwrap();
        let b = e.take(0x1000).unwrap();
        let c = e.take(0x1000).unwrap();
        let d = e.take(0x1000).unwrap();
        let _guard = e.take(0x1000).unwrap();
        e.give(b.at, 0x1000);
        e.give(d.at, 0x1000);
        // c joins b and d into one extent; d's slot stays behind, stale.
        e.give(c.at, 0x1000);
        assert_eq!(e.free(), &[Extent { at: b.at, len: 0x3000 }]);
        assert_eq!(e.free.get(1), Some(&Extent { at: d.at, len: 0x1000 }));
        // a grows into b (free, after it), not into the stale copy of d.
        assert_eq!(e.grow(a.at, 0x1000, 0x2000), Some(0x1000));
        assert_eq!(e.free(), &[Extent { at: c.at, len: 0x2000 }]);
        // A block ending where only a stale slot starts cannot grow there.
        let mut f = extents(1 << 20);
        let x = f.take(0x1000).unwrap();
        let _y = f.take(0x1000).unwrap();
        f.free[0] = Extent { at: x.at + 0x1000, len: 0x8000 };
        assert_eq!(f.grow(x.at, 0x1000, 0x2000), None);
        f.remove(0);
        assert_eq!(f.count, 0);
    }

    #[test]
    fn too_many_extents_are_kept_by_the_arena_not_reused() {
        let mut e = extents(1 << 30);
        let blocks: Vec<Taken> = (0..2 * MAX_FREE).map(|_| e.take(0x1000).unwrap()).collect();
        // Every other block freed: no two touch.
        for b in blocks.iter().step_by(2) {
            e.give(b.at, 0x1000);
        }
        assert_eq!(e.count, MAX_FREE);
        assert!(e.free().windows(2).all(|w| w[0].end() < w[1].at), "sorted and apart");
    }

    #[test]
    fn the_global_allocator_round_trips_big_blocks() {
        // Through the real arena: sizes around the threshold and the page, zeroed blocks that
        // reuse dirty memory, growing and shrinking vectors.
        let a = HugeAlloc;
        // SAFETY: layouts of nonzero size; every block is freed with its own layout.
        unsafe {
            for size in [BIG - 1, BIG, BIG + 1, 3 << 20, (5 << 20) + 17] {
                let l = Layout::from_size_align(size, 8).unwrap();
                let p = a.alloc(l);
                assert!(!p.is_null());
                std::ptr::write_bytes(p, 0xAB, size);
                a.dealloc(p, l);
                let z = a.alloc_zeroed(l);
                assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0), "{size}");
                let bigger = a.realloc(z, l, size * 2 + 5);
                assert!(std::slice::from_raw_parts(bigger, size).iter().all(|&b| b == 0));
                let l2 = Layout::from_size_align(size * 2 + 5, 8).unwrap();
                std::ptr::write_bytes(bigger, 0xCD, size * 2 + 5);
                let smaller = a.realloc(bigger, l2, size);
                assert!(std::slice::from_raw_parts(smaller, size).iter().all(|&b| b == 0xCD));
                a.dealloc(smaller, l);
            }
            // Where the reservation could be made (every Linux machine this runs on), big blocks
            // are the arena's.
            let l = Layout::from_size_align(BIG, 8).unwrap();
            let p = a.alloc(l);
            assert!(in_arena(p as usize));
            a.dealloc(p, l);
        }
    }

    /// Random takes, gives, grows and shrinks against a model of every page: after each step
    /// the free extents are sorted, apart and below the top, and every page is exactly one of
    /// a live block's, a free extent's, or fresh (at or above the top).
    #[test]
    fn the_bookkeeping_matches_a_model_of_every_page() {
        for seed in [11, 13, 17] {
            bookkeeping_against_the_model(seed, 150_000);
        }
    }

    fn bookkeeping_against_the_model(seed: u64, steps: usize) {
        const PAGES: usize = 512;
        let mut e = extents(PAGES * PAGE);
        let mut live: Vec<(usize, usize)> = Vec::new();
        let mut rng = seed;
        let mut next = move |n: usize| {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (rng >> 33) as usize % n
        };
        for step in 0..steps {
            match next(4) {
                0 | 1 => {
                    let len = (1 + next(4)) * PAGE;
                    if let Some(t) = e.take(len) {
                        live.push((t.at, len));
                    }
                }
                2 if !live.is_empty() => {
                    let (at, len) = live.swap_remove(next(live.len()));
                    e.give(at, len);
                }
                _ if !live.is_empty() => {
                    let i = next(live.len());
                    let (at, len) = live[i];
                    let new = (1 + next(4)) * PAGE;
                    if new < len {
                        e.give(at + new, len - new);
                        live[i].1 = new;
                    } else if e.grow(at, len, new).is_some() {
                        live[i].1 = new;
                    }
                }
                _ => {}
            }
            // Each page's owner: 1 a live block, 2 a free extent.
            let mut owner = [0u8; PAGES];
            let page = |at: usize| (at - BASE) / PAGE;
            for &(at, len) in &live {
                for (p, o) in owner.iter_mut().enumerate().take(page(at + len)).skip(page(at)) {
                    assert_eq!(*o, 0, "step {step}: page {p} owned twice");
                    *o = 1;
                }
            }
            for x in e.free() {
                assert!(x.len > 0 && x.end() <= e.top, "step {step}: {x:?} top {:#x}", e.top);
                for (p, o) in owner.iter_mut().enumerate().take(page(x.end())).skip(page(x.at)) {
                    assert_eq!(*o, 0, "step {step}: free page {p} also owned");
                    *o = 2;
                }
            }
            assert!(e.free().windows(2).all(|w| w[0].end() < w[1].at), "step {step}: apart");
            let top = page(e.top);
            // Below the top every page is owned (the slot table never fills here, so no freed
            // block is let go).
            assert!(e.count < MAX_FREE, "step {step}: the slot table filled");
            assert!(owner[..top].iter().all(|&o| o != 0), "step {step}: a page lost");
            assert!(owner[top..].iter().all(|&o| o == 0), "step {step}: owned above the top");
        }
    }

    /// A thread that asks for a block while it holds the arena's lock (which only a panic inside
    /// the bookkeeping could do: its message allocates) gets one mapped apart instead of waiting
    /// for itself forever, and an arena block it gives back meanwhile is kept by the arena.
    #[test]
    fn a_thread_holding_the_lock_never_waits_for_itself() {
        let a = HugeAlloc;
        let l = Layout::from_size_align(BIG, 8).unwrap();
        // SAFETY: blocks of `l`, each freed once with it.
        unsafe {
            let inside = a.alloc(l);
            assert!(in_arena(inside as usize));
            let held = arena().unwrap();
            assert!(arena().is_none(), "the lock taken twice by one thread");
            let apart = a.alloc(l);
            assert!(!apart.is_null() && !in_arena(apart as usize));
            a.dealloc(apart, l);
            a.dealloc(inside, l);
            drop(held);
            let again = arena();
            assert!(again.is_some());
        }
    }

    /// Two threads allocating, growing, shrinking and freeing big blocks at once: every live
    /// block keeps its own bytes (no two blocks overlap), and zeroed ones start zero.
    #[test]
    fn blocks_of_two_threads_never_overlap() {
        let work = |seed: u64| {
            let a = HugeAlloc;
            let mut rng = seed;
            let mut next = move || {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (rng >> 33) as usize
            };
            let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
            for step in 0..400 {
                let fill = (seed as u8).wrapping_mul(31).wrapping_add(step as u8) | 1;
                // SAFETY: every block is used within its layout and freed with it.
                unsafe {
                    match next() % 4 {
                        0 | 1 => {
                            let size = BIG + next() % (3 << 20);
                            let l = Layout::from_size_align(size, 8).unwrap();
                            let p = if next() % 2 == 0 {
                                a.alloc(l)
                            } else {
                                let z = a.alloc_zeroed(l);
                                assert!(!z.is_null());
                                let bytes = std::slice::from_raw_parts(z, size);
                                assert!(bytes.iter().step_by(512).all(|&b| b == 0));
                                z
                            };
                            assert!(!p.is_null());
                            std::ptr::write_bytes(p, fill, size);
                            live.push((p, l, fill));
                        }
                        2 if !live.is_empty() => {
                            let i = next() % live.len();
                            let (p, l, f) = live.swap_remove(i);
                            let size = BIG + next() % (4 << 20);
                            let q = a.realloc(p, l, size);
                            assert!(!q.is_null());
                            let kept = size.min(l.size());
                            let bytes = std::slice::from_raw_parts(q, kept);
                            assert!(bytes.iter().step_by(1024).all(|&b| b == f));
                            std::ptr::write_bytes(q, fill, size);
                            live.push((q, Layout::from_size_align(size, 8).unwrap(), fill));
                        }
                        _ if !live.is_empty() => {
                            let (p, l, _) = live.swap_remove(next() % live.len());
                            a.dealloc(p, l);
                        }
                        _ => {}
                    }
                    // Blocks are whole pages: a byte per 1 KiB would see any overlap.
                    for &(p, l, f) in &live {
                        let bytes = std::slice::from_raw_parts(p, l.size());
                        assert!(bytes.iter().step_by(1024).chain(bytes.last()).all(|&b| b == f));
                    }
                }
            }
            for (p, l, _) in live {
                // SAFETY: a live block with its own layout.
                unsafe { a.dealloc(p, l) };
            }
        };
        std::thread::scope(|s| {
            s.spawn(|| work(1));
            s.spawn(|| work(2));
        });
    }
}
