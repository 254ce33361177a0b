//! The cancel token: one flag any thread can raise, which wakes every wait of the
//! transfers that hold it and shuts down the connections they are blocked on.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};

/// Something a cancel must interrupt: a connection's socket, or a transfer's own
/// token linked to the caller's.
pub(crate) trait Interrupt: Send + Sync {
    /// Interrupts it; blocked reads and writes return at once.
    fn interrupt(&self);
}

/// Stops blocking calls from any thread.
///
/// Set it on a call's options ([`RequestOptions::cancel`](crate::RequestOptions)),
/// then call [`cancel`](Self::cancel) from any thread: the call returns
/// [`ErrorKind::Cancelled`] within about 200 ms, even while the server sends nothing
/// (the connection it waits on is shut down). A transfer keeps its checkpoint, so
/// the next call resumes. A cancelled token stays cancelled: make a new one for the
/// next call. Cloning shares the token.
///
/// A connection attempt itself (TCP connect, up to the connect timeout) is not
/// interrupted; the call fails as soon as it returns.
///
/// ```
/// use oss_resume::CancelToken;
/// let token = CancelToken::new();
/// let other = token.clone();
/// std::thread::spawn(move || other.cancel()).join().unwrap();
/// assert!(token.is_cancelled());
/// ```
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    /// What a cancel interrupts, by registration number.
    watched: Mutex<Watched>,
    woken: Condvar,
}

#[derive(Default)]
struct Watched {
    next: u64,
    items: Vec<(u64, Weak<dyn Interrupt>)>,
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// Tokens are equal when they are the same token (clones of one another).
impl PartialEq for CancelToken {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for CancelToken {}

impl Interrupt for Inner {
    fn interrupt(&self) {
        if self.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        // Taken out under the lock, interrupted outside it: an interrupt may cancel
        // a linked token, which takes its own lock.
        let items = match self.watched.lock() {
            Ok(mut w) => std::mem::take(&mut w.items),
            Err(_) => Vec::new(),
        };
        self.woken.notify_all();
        for (_, item) in items {
            if let Some(item) = item.upgrade() {
                item.interrupt();
            }
        }
    }
}

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancels every call that holds this token, now and later. Safe from any thread,
    /// any number of times.
    pub fn cancel(&self) {
        self.inner.interrupt();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// A new token cancelled with this one (and on its own as well).
    pub(crate) fn child(&self) -> CancelToken {
        let child = CancelToken::new();
        let as_interrupt: Arc<dyn Interrupt> = child.inner.clone();
        // No guard: the entry lasts as long as the child and is swept after it.
        self.register(Arc::downgrade(&as_interrupt));
        child
    }

    /// Interrupts `item` if this token is cancelled while the returned guard lives
    /// (at once if it already is).
    pub(crate) fn watch(&self, item: Weak<dyn Interrupt>) -> WatchGuard {
        let id = self.register(item);
        WatchGuard {
            token: Arc::downgrade(&self.inner),
            id,
        }
    }

    /// Adds `item` to what a cancel interrupts; returns its registration number.
    fn register(&self, item: Weak<dyn Interrupt>) -> u64 {
        let id = match self.inner.watched.lock() {
            Ok(mut w) => {
                w.items.retain(|(_, i)| i.strong_count() > 0);
                w.next += 1;
                let id = w.next;
                w.items.push((id, item.clone()));
                id
            }
            Err(_) => 0,
        };
        // Cancelled before the registration was seen: interrupt it ourselves.
        if self.is_cancelled()
            && let Some(item) = item.upgrade()
        {
            item.interrupt();
        }
        id
    }

    /// The error a cancelled call returns.
    pub(crate) fn error() -> Error {
        Error::new(ErrorKind::Cancelled, "cancelled")
    }

    /// `Err(Cancelled)` once cancelled.
    pub(crate) fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Self::error())
        } else {
            Ok(())
        }
    }

    /// Sleeps `d`, or less when cancelled (then `Err(Cancelled)`).
    pub(crate) fn sleep(&self, d: Duration) -> Result<()> {
        let deadline = Instant::now() + d;
        let Ok(mut guard) = self.inner.watched.lock() else {
            std::thread::sleep(d);
            return self.check();
        };
        loop {
            if self.is_cancelled() {
                return Err(Self::error());
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            guard = match self.inner.woken.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(_) => return self.check(),
            };
        }
    }
}

/// Ends a [`CancelToken::watch`] registration when dropped.
pub(crate) struct WatchGuard {
    token: Weak<Inner>,
    id: u64,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if let Some(inner) = self.token.upgrade()
            && let Ok(mut w) = inner.watched.lock()
        {
            w.items.retain(|(id, _)| *id != self.id);
        }
    }
}

thread_local! {
    /// The token of the call running on this thread, seen by the connections it uses.
    static CURRENT: RefCell<Option<CancelToken>> = const { RefCell::new(None) };
}

/// Runs `f` with `token` as this thread's current token (restoring the previous one
/// after), so the connections `f` blocks on can be interrupted by it.
pub(crate) fn with_current<T>(token: Option<&CancelToken>, f: impl FnOnce() -> T) -> T {
    let Some(token) = token else {
        return f();
    };
    let previous = CURRENT.with(|c| c.replace(Some(token.clone())));
    struct Restore(Option<CancelToken>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// This thread's current token, if a call set one.
pub(crate) fn current() -> Option<CancelToken> {
    CURRENT.with(|c| c.borrow().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Count(AtomicUsize);
    impl Interrupt for Count {
        fn interrupt(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Arc<dyn Interrupt>) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        let d: Arc<dyn Interrupt> = c.clone();
        (c, d)
    }

    #[test]
    fn cancel_interrupts_what_is_watched_and_only_while_watched() {
        let token = CancelToken::new();
        let (watched, watched_dyn) = counter();
        let (released, released_dyn) = counter();
        let _guard = token.watch(Arc::downgrade(&watched_dyn));
        drop(token.watch(Arc::downgrade(&released_dyn)));
        token.cancel();
        token.cancel();
        assert!(token.is_cancelled());
        assert_eq!(watched.0.load(Ordering::SeqCst), 1, "interrupted once");
        assert_eq!(released.0.load(Ordering::SeqCst), 0, "no longer watched");
        let (late, late_dyn) = counter();
        let _g = token.watch(Arc::downgrade(&late_dyn));
        assert_eq!(late.0.load(Ordering::SeqCst), 1, "watched after the cancel");
    }

    #[test]
    fn a_child_is_cancelled_with_its_parent_but_not_the_reverse() {
        let parent = CancelToken::new();
        let child = parent.child();
        let other = parent.child();
        other.cancel();
        assert!(!parent.is_cancelled());
        parent.cancel();
        assert!(child.is_cancelled());
    }

    #[test]
    fn sleep_returns_early_when_cancelled_from_another_thread() {
        let token = CancelToken::new();
        let t = token.clone();
        let start = Instant::now();
        let h = std::thread::spawn(move || t.sleep(Duration::from_secs(30)));
        // Whether the sleep has begun or not, it must end with Cancelled.
        token.cancel();
        let r = h.join().unwrap();
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(CancelToken::new().sleep(Duration::from_millis(1)).is_ok());
    }

    #[test]
    fn the_current_token_is_set_for_the_call_and_restored_after() {
        let a = CancelToken::new();
        let b = CancelToken::new();
        assert!(current().is_none());
        with_current(Some(&a), || {
            assert_eq!(current(), Some(a.clone()));
            with_current(Some(&b), || assert_eq!(current(), Some(b.clone())));
            with_current(None, || assert_eq!(current(), Some(a.clone())));
            assert_eq!(current(), Some(a.clone()));
        });
        assert!(current().is_none());
    }
}
