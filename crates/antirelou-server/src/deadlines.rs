//! The read deadlines of one connection, between requests: a socket wrapper that fails a read
//! which waits too long for a request, so that hyper closes the connection.
//!
//! * a new connection must deliver a request's head within `header_read_timeout` of the
//!   accept;
//! * a kept-alive connection may stay silent for `idle_timeout` after its last response; from
//!   the first byte of its next request, the head must arrive within `header_read_timeout`;
//! * while a request is in its handler (its [`InFlight`] guard alive), no deadline applies
//!   here: the body's read time is bounded by [`limits`](super::limits).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// What the handlers of one connection are doing, shared with its [`DeadlineIo`].
#[derive(Debug, Default)]
pub(super) struct Activity {
    in_flight: AtomicUsize,
    answered: AtomicU64,
    /// The connection's task, waiting on a read while a request was in flight: woken when the
    /// request is answered, so that the idle deadline is armed even if no byte ever comes.
    reader: Mutex<Option<Waker>>,
}

/// Held while a request is in its handler; its drop marks the request answered.
#[derive(Debug)]
pub(super) struct InFlight(Arc<Activity>);

impl InFlight {
    /// A request reached its handler.
    pub(super) fn enter(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.answered.fetch_add(1, Ordering::AcqRel);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        if let Some(w) = self.0.reader.lock().take() {
            w.wake();
        }
    }
}

/// A connection's socket with the deadlines of the module's doc.
#[derive(Debug)]
pub(super) struct DeadlineIo {
    inner: TcpStream,
    activity: Arc<Activity>,
    header_timeout: Duration,
    idle_timeout: Duration,
    /// When the connection last became idle (accepted, or its last request answered).
    idle_since: Instant,
    /// When the current request's first byte arrived (`None` until it does); a new connection
    /// counts from its accept.
    head_since: Option<Instant>,
    /// `Activity::answered` when last looked at.
    answered_seen: u64,
    sleep: Pin<Box<Sleep>>,
    armed_for: Option<Instant>,
}

impl DeadlineIo {
    /// Wrap a just-accepted connection.
    pub(super) fn new(
        inner: TcpStream,
        activity: Arc<Activity>,
        header_timeout: Duration,
        idle_timeout: Duration,
    ) -> DeadlineIo {
        let now = Instant::now();
        DeadlineIo {
            inner,
            activity,
            header_timeout,
            idle_timeout,
            idle_since: now,
            head_since: Some(now),
            answered_seen: 0,
            sleep: Box::pin(tokio::time::sleep_until(now + header_timeout)),
            armed_for: None,
        }
    }
}

impl AsyncRead for DeadlineIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let busy = this.activity.in_flight.load(Ordering::Acquire) > 0;
        let answered = this.activity.answered.load(Ordering::Acquire);
        if busy {
            this.head_since = None;
        } else if answered != this.answered_seen {
            // The previous request was answered: the connection is idle from now on.
            this.answered_seen = answered;
            this.idle_since = Instant::now();
            this.head_since = None;
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if !busy && this.head_since.is_none() && buf.filled().len() > before {
                    this.head_since = Some(Instant::now());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending if busy => {
                *this.activity.reader.lock() = Some(cx.waker().clone());
                // Answered in the meantime: look again at once.
                if this.activity.in_flight.load(Ordering::Acquire) == 0 {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
            Poll::Pending => {
                let deadline = match this.head_since {
                    Some(t) => t + this.header_timeout,
                    None => this.idle_since + this.idle_timeout,
                };
                if this.armed_for != Some(deadline) {
                    this.sleep.as_mut().reset(deadline);
                    this.armed_for = Some(deadline);
                }
                match this.sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        if this.head_since.is_some() {
                            "request head not received in time"
                        } else {
                            "idle connection"
                        },
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for DeadlineIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
