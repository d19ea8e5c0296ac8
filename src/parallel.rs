//! The second core: running two pieces of work at once, and making sure the second thread
//! really starts beside the first instead of behind it.
//!
//! Every parallel step of llgo-ld is a pair (the symbols beside the records, `rewrite`'s copy
//! beside the plan: one piece on the calling thread, one on a new thread, [`join`]) or chunks
//! two threads take in turn (the owner test, [`chunks`]). A new thread is queued on its parent's
//! CPU. On the 2-vCPU machines measured (docs/design.md, "Performance") the kernel left it
//! there, behind the busy parent, until the parent blocked in `join`: the second thread started
//! ~1–2 ms late, which is most of a 110k-row step. [`spawn_beside`] therefore moves the *parent*
//! to another allowed CPU right after the spawn (its affinity narrowed to the other CPUs, then
//! set back at once: a running thread stays where it is), so the new thread has the parent's
//! old CPU to itself and runs ~0.1 ms after the spawn. The move costs the parent ~0.07 ms when
//! the other CPU is busy, but ~1.2 ms when it is idle (the vCPU's wake-up): a pair is worth it
//! when the parent's piece is the shorter one, and chunks let the two threads share the work
//! whichever of them starts late.
//!
//! While work runs beside the plan ([`CoreTaken`]), the plan's steps stay on one thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{Scope, ScopedJoinHandle};

/// Whether a second CPU is free for this process: it may run on more than one (asked once) and
/// no [`CoreTaken`] holds the other. Callers split work in two only when one is: otherwise the
/// work stays whole, as without threads.
pub(crate) fn spare_core() -> bool {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cpus = *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    cpus > 1 + TAKEN.load(Ordering::Relaxed)
}

/// CPUs busy with work running beside the caller's for as long as it runs.
static TAKEN: AtomicUsize = AtomicUsize::new(0);

/// A CPU taken by work running beside the caller (`rewrite`'s copy beside its plan), for the
/// guard's life (the work drops it when done): the plan's steps meanwhile stay on one thread.
/// Two threads of the plan beside the copy were three on the two CPUs measured, and each split
/// paid a CPU's wake-up: 110k rows, `rewrite` 24.4 -> 22.7 ms.
pub(crate) struct CoreTaken(());

impl CoreTaken {
    pub(crate) fn new() -> Self {
        TAKEN.fetch_add(1, Ordering::Relaxed);
        CoreTaken(())
    }
}

impl Drop for CoreTaken {
    fn drop(&mut self) {
        TAKEN.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs `a` here and `b` on a second thread when `worth` it (enough work to pay for a thread)
/// and the process may use a second CPU; otherwise, or when no thread can be made, both here,
/// `a` first. The results are the same either way: only the wall time differs.
pub(crate) fn join<RA, RB: Send>(
    worth: bool,
    a: impl FnOnce() -> RA,
    b: impl Fn() -> RB + Sync,
) -> (RA, RB) {
    if !(worth && spare_core()) {
        let ra = a();
        return (ra, b());
    }
    std::thread::scope(|scope| {
        let b = &b;
        match spawn_beside(scope, b) {
            Ok(thread) => {
                let ra = a();
                match thread.join() {
                    Ok(rb) => (ra, rb),
                    // A panic on the thread is a bug: it goes on here, as it would have without
                    // the thread.
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            Err(_) => {
                let ra = a();
                (ra, b())
            }
        }
    })
}

/// `work` over `out` cut in chunks of `chunk` items (the last one shorter), on this thread
/// and, when `worth` it and a CPU is spare, a second one: each takes the next chunk when it is
/// done with one, so the two share the work however late the second one starts (on the machines
/// measured, an idle vCPU takes ~1.2 ms to run a thread moved onto it). `work` gets its
/// thread's state (made by `state` on each thread), the position of the chunk's first item,
/// and the chunk; the results come back in chunk order, so they are the one-thread results
/// whatever thread did which chunk.
pub(crate) fn chunks<O: Send, S, R: Send>(
    worth: bool,
    out: &mut [O],
    chunk: usize,
    state: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, usize, &mut [O]) -> R + Sync,
) -> Vec<R> {
    let chunk = chunk.max(1);
    let queue = std::sync::Mutex::new(out.chunks_mut(chunk).enumerate());
    let take = || {
        let mut state = state();
        let mut done = Vec::new();
        loop {
            let next = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next();
            let Some((i, part)) = next else { return done };
            done.push((i, work(&mut state, i * chunk, part)));
        }
    };
    let (mut mine, theirs) = join(worth, take, take);
    mine.extend(theirs);
    mine.sort_unstable_by_key(|&(i, _)| i);
    mine.into_iter().map(|(_, r)| r).collect()
}

/// `scope.spawn(f)`, then the calling thread steps onto another CPU so that the new one starts
/// now (see the module comment). Fails only when no thread can be made.
pub(crate) fn spawn_beside<'scope, T: Send + 'scope>(
    scope: &'scope Scope<'scope, '_>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::io::Result<ScopedJoinHandle<'scope, T>> {
    let thread = std::thread::Builder::new().spawn_scoped(scope, f)?;
    step_aside();
    Ok(thread)
}

/// Moves the calling thread to another CPU it may use, leaving its affinity as it was. Does
/// nothing where that cannot be asked (one allowed CPU, a sandbox refusing the calls, not Linux).
#[cfg(target_os = "linux")]
fn step_aside() {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: plain system calls on a cpu_set_t owned here, with its true size; pid 0 is the
    // calling thread.
    unsafe {
        let here = libc::sched_getcpu();
        let Ok(here) = usize::try_from(here) else { return };
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size, &mut allowed) != 0 {
            return;
        }
        if here >= 8 * size || !libc::CPU_ISSET(here, &allowed) {
            return;
        }
        let mut elsewhere = allowed;
        libc::CPU_CLR(here, &mut elsewhere);
        if libc::CPU_COUNT(&elsewhere) == 0 {
            return;
        }
        // The kernel moves the caller before this call returns; the second call only widens
        // the affinity again (a running thread is not moved by that).
        if libc::sched_setaffinity(0, size, &elsewhere) == 0 {
            libc::sched_setaffinity(0, size, &allowed);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn step_aside() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_gives_both_results_with_or_without_a_thread() {
        for worth in [false, true] {
            let data: Vec<u64> = (0..100_000).collect();
            let (a, b) =
                join(worth, || data[..10].iter().sum::<u64>(), || data.iter().sum::<u64>());
            assert_eq!((a, b), (45, 4_999_950_000), "worth {worth}");
        }
    }

    /// Every chunk is worked once, with its own position and part, and the results come back
    /// in chunk order, with or without the second thread.
    #[test]
    fn chunks_cover_the_items_once_in_order() {
        for worth in [false, true] {
            for (n, chunk) in [(0, 4), (1, 4), (3, 4), (4, 4), (5, 4), (10_000, 7), (64, 0)] {
                let mut out = vec![0usize; n];
                let results = chunks(
                    worth,
                    &mut out,
                    chunk,
                    || 0usize,
                    |taken, at, part| {
                        *taken += 1;
                        for (k, slot) in part.iter_mut().enumerate() {
                            *slot += at + k + 1;
                        }
                        (at, part.len())
                    },
                );
                let size = chunk.max(1);
                let want: Vec<(usize, usize)> =
                    (0..n).step_by(size).map(|at| (at, size.min(n - at))).collect();
                assert_eq!(results, want, "n {n}, chunk {chunk}, worth {worth}");
                assert!(out.iter().enumerate().all(|(i, &v)| v == i + 1), "n {n}, chunk {chunk}");
            }
        }
    }

    /// While a CPU is taken (by `rewrite`'s copy), a machine of two has none to spare, so the
    /// plan's steps stay on one thread. (Only this direction can be checked while other tests
    /// run: they may hold a CPU of their own at any time.)
    #[test]
    fn a_taken_cpu_is_not_spare() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let taken = CoreTaken::new();
        if cpus <= 2 {
            // The CI machine has two CPUs: this is the case it runs.
            assert!(!spare_core(), "{cpus} CPUs, one taken");
        }
        drop(taken);
    }

    /// Stepping aside moves the thread off its CPU (when it may use another) and leaves its
    /// affinity exactly as it was: a narrowed affinity would pin every later thread of the
    /// process.
    #[cfg(target_os = "linux")]
    #[test]
    fn stepping_aside_changes_the_cpu_and_keeps_the_affinity() {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        let affinity = || {
            // SAFETY: a cpu_set_t owned here, with its true size.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                assert_eq!(libc::sched_getaffinity(0, size, &mut set), 0);
                (0..8 * size).filter(|&c| libc::CPU_ISSET(c, &set)).collect::<Vec<_>>()
            }
        };
        // SAFETY: no arguments.
        let cpu = || unsafe { libc::sched_getcpu() };
        let before = affinity();
        let mut moved = 0;
        for _ in 0..20 {
            let here = cpu();
            step_aside();
            moved += usize::from(cpu() != here);
        }
        // Not every time: the load balancer may move a running thread back between the step and
        // the look (other tests run beside this one). Without the step it never moves this fast.
        if before.len() > 1 {
            // The CI machine has two CPUs: this is the case it runs.
            assert!(moved >= 10, "moved {moved} times of 20 among CPUs {before:?}");
        }
        assert_eq!(affinity(), before);
    }
}
