//! The one module that starts processes (docs/design.md, "Outcomes").
//!
//! [`Runner`] is the seam: the driver's argument logic is tested with a mock runner, and the
//! room-making relink (issue 5) runs its second link through the same trait. [`ProcessRunner`]
//! inherits stdin/stdout/stderr, forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to the child while
//! it runs, and reports how the child ended; [`Exit::exit`] turns that into llgo-ld's own end,
//! dying by the child's signal (without a core dump of its own) if the child died by one.

use std::ffi::OsString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::fd::FromRawFd;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;
use std::process::Stdio;
use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering;

/// Environment variable through which a nested llgo-ld tells the llgo-ld above it that it
/// handled the link: `<fd>:<pipe inode>` of a pipe's write end.
pub const REPORT_VAR: &str = "LLGO_LD_REPORT";

/// One run of the real tool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    pub program: PathBuf,
    pub argv0: OsString,
    pub args: Vec<OsString>,
    /// Set in the child's environment (everything else is inherited, PATH untouched).
    pub env: Vec<(OsString, OsString)>,
    /// Removed from the child's environment.
    pub env_remove: Vec<OsString>,
    /// Capture stdout and stderr instead of inheriting them, and give the child no stdin (the
    /// second link of a relink: the user already saw the first one's output).
    pub quiet: bool,
    /// Give the child a report channel ([`REPORT_VAR`]) and say whether a nested llgo-ld used it.
    pub report_channel: bool,
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
}

impl Status {
    pub fn success(self) -> bool {
        self == Status::Exited(0)
    }
}

/// The child's end, plus what the driver needs to know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub status: Status,
    /// A nested llgo-ld (run by this child) handled the link's output.
    pub nested_handled: bool,
    /// With [`Invocation::quiet`]: what the child wrote to stderr.
    pub stderr: Vec<u8>,
}

/// Runs real tools. Tests substitute a mock; [`ProcessRunner`] runs processes.
pub trait Runner {
    fn run(&self, inv: &Invocation) -> io::Result<Finished>;
}

/// The real thing.
pub struct ProcessRunner;

/// Signals forwarded to the child.
const FORWARDED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// The running child's pid, 0 when there is none. Read by the signal handler.
static CHILD: AtomicI32 = AtomicI32::new(0);
/// A signal that arrived before the child's pid was known.
static PENDING: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // A signal the terminal generated (Ctrl-C) already went to the whole foreground process
    // group, the child included: forwarding it would deliver it twice.
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
    if !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL {
        return;
    }
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    } else {
        PENDING.store(sig, Ordering::SeqCst);
    }
}

/// Handlers installed for the child's lifetime; dropping restores the previous ones.
struct Forwarding {
    saved: Vec<(libc::c_int, libc::sigaction)>,
}

impl Forwarding {
    fn install() -> Forwarding {
        let mut saved = Vec::new();
        for sig in FORWARDED {
            // SAFETY: plain sigaction calls with zero-initialised, then filled, structs.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                    continue;
                }
                // An ignored signal stays ignored, so the child inherits that (nohup).
                if old.sa_sigaction == libc::SIG_IGN {
                    continue;
                }
                let mut new: libc::sigaction = std::mem::zeroed();
                new.sa_sigaction = forward as *const () as usize;
                new.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
                libc::sigemptyset(&mut new.sa_mask);
                if libc::sigaction(sig, &new, std::ptr::null_mut()) == 0 {
                    saved.push((sig, old));
                }
            }
        }
        Forwarding { saved }
    }

    fn child_started(&self, pid: u32) {
        CHILD.store(pid as i32, Ordering::SeqCst);
        let pending = PENDING.swap(0, Ordering::SeqCst);
        if pending != 0 {
            // SAFETY: sending a signal to our own child.
            unsafe { libc::kill(pid as i32, pending) };
        }
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        CHILD.store(0, Ordering::SeqCst);
        PENDING.store(0, Ordering::SeqCst);
        for (sig, old) in &self.saved {
            // SAFETY: restoring the disposition saved by install.
            unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
        }
    }
}

/// The read end of a report pipe plus the environment entry naming the write end.
struct ReportChannel {
    read: OwnedFd,
    write: Option<OwnedFd>,
    env: OsString,
}

impl ReportChannel {
    fn open() -> io::Result<ReportChannel> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors on success.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned here.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // The write end must survive exec into the child (and its children).
        // SAFETY: fcntl on a descriptor we own.
        if unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETFD, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let ino = fd_inode(write.as_raw_fd())?;
        let env = OsString::from(format!("{}:{}", write.as_raw_fd(), ino));
        Ok(ReportChannel { read, write: Some(write), env })
    }

    /// Did anything come through? (Called after the child ended; never blocks.)
    fn reported(&mut self) -> bool {
        self.write = None;
        let mut buf = [0u8; 64];
        // SAFETY: a non-blocking read into a local buffer from a descriptor we own.
        let n = unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        n > 0
    }
}

fn fd_inode(fd: libc::c_int) -> io::Result<u64> {
    // SAFETY: fstat into a zeroed struct.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st.st_ino)
    }
}

/// Tells the llgo-ld above (if any) that this one handled the link, through the pipe named in
/// [`REPORT_VAR`]. The descriptor must still be that pipe (same inode), or nothing is written.
pub fn report_handled_to_parent() {
    let Some(v) = std::env::var_os(REPORT_VAR) else { return };
    let Some((fd, ino)) = v.to_str().and_then(|s| s.split_once(':')) else { return };
    let (Ok(fd), Ok(ino)) = (fd.parse::<libc::c_int>(), ino.parse::<u64>()) else { return };
    if fd < 0 {
        return;
    }
    // SAFETY: fstat and write on a descriptor number; both fail harmlessly if it is not open.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0
            || st.st_mode & libc::S_IFMT != libc::S_IFIFO
            || st.st_ino != ino
        {
            return;
        }
        let _ = libc::write(fd, b"1".as_ptr().cast(), 1);
    }
}

impl Runner for ProcessRunner {
    fn run(&self, inv: &Invocation) -> io::Result<Finished> {
        let mut cmd = Command::new(&inv.program);
        cmd.arg0(&inv.argv0).args(&inv.args);
        for k in &inv.env_remove {
            cmd.env_remove(k);
        }
        for (k, v) in &inv.env {
            cmd.env(k, v);
        }
        let mut channel = if inv.report_channel { Some(ReportChannel::open()?) } else { None };
        match &channel {
            Some(c) => {
                cmd.env(REPORT_VAR, &c.env);
            }
            None => {
                cmd.env_remove(REPORT_VAR);
            }
        }
        if inv.quiet {
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let forwarding = Forwarding::install();
        let child = cmd.spawn();
        if let Some(c) = &mut channel {
            c.write = None;
        }
        let mut child = child?;
        forwarding.child_started(child.id());
        let (status, stderr) = if inv.quiet {
            let out = child.wait_with_output()?;
            (out.status, out.stderr)
        } else {
            (child.wait()?, Vec::new())
        };
        drop(forwarding);
        let status = match (status.code(), status.signal()) {
            (Some(code), _) => Status::Exited(code),
            (None, Some(sig)) => Status::Signaled(sig),
            (None, None) => Status::Exited(1),
        };
        let nested_handled = channel.as_mut().is_some_and(ReportChannel::reported);
        Ok(Finished { status, nested_handled, stderr })
    }
}

/// How llgo-ld itself ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    /// Die by this signal, as the child did.
    Signal(i32),
}

impl From<Status> for Exit {
    fn from(s: Status) -> Exit {
        match s {
            Status::Exited(c) => Exit::Code(c),
            Status::Signaled(s) => Exit::Signal(s),
        }
    }
}

impl Exit {
    /// Ends the process: exit with the code, or reset the signal's handler, turn off core
    /// dumps and raise the signal (exit 128+signal if it does not kill).
    pub fn exit(self) -> ! {
        match self {
            Exit::Code(c) => std::process::exit(c),
            Exit::Signal(sig) => {
                // SAFETY: plain libc calls on this process; raise may not return.
                unsafe {
                    libc::signal(sig, libc::SIG_DFL);
                    let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                    libc::setrlimit(libc::RLIMIT_CORE, &none);
                    let mut set: libc::sigset_t = std::mem::zeroed();
                    libc::sigemptyset(&mut set);
                    libc::sigaddset(&mut set, sig);
                    libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                    libc::raise(sig);
                }
                std::process::exit(128 + sig)
            }
        }
    }
}

/// A runner for tests: records invocations and answers from a queue.
#[derive(Default)]
pub struct MockRunner {
    pub calls: std::cell::RefCell<Vec<Invocation>>,
    pub answers: std::cell::RefCell<std::collections::VecDeque<io::Result<Finished>>>,
    /// Called on each run before answering (e.g. to write the "linked" output).
    #[allow(clippy::type_complexity)] // a boxed callback is the plainest way to script a mock
    pub effect: Option<Box<dyn Fn(&Invocation)>>,
}

impl MockRunner {
    pub fn answering(status: Status) -> MockRunner {
        let m = MockRunner::default();
        m.answers.borrow_mut().push_back(Ok(Finished {
            status,
            nested_handled: false,
            stderr: Vec::new(),
        }));
        m
    }
}

impl Runner for MockRunner {
    fn run(&self, inv: &Invocation) -> io::Result<Finished> {
        self.calls.borrow_mut().push(inv.clone());
        if let Some(effect) = &self.effect {
            effect(inv);
        }
        self.answers.borrow_mut().pop_front().unwrap_or_else(|| {
            Ok(Finished { status: Status::Exited(0), nested_handled: false, stderr: Vec::new() })
        })
    }
}
