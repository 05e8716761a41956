//! The HTTP listener: an accept loop over hyper's HTTP/1.1 connection builder that bounds every
//! connection in time and number (`[http]`, see [`HttpSettings`]), and stops gracefully.
//!
//! * a request's line and headers must arrive within `header_read_timeout` of the accept or of
//!   the request's first byte, and a kept-alive connection may wait `idle_timeout` for its next
//!   request (a socket wrapper keeps these deadlines between requests): a half-sent request
//!   line and an idle connection are both closed;
//! * a request head larger than [`MAX_HEADER_BYTES`] is answered `431` and closed;
//! * the body's size and read time are bounded by [`limits`](super::limits), before any route;
//! * at most `max_connections` connections are open at once: one more is answered `503` and
//!   closed at once, and a warning says so at most every [`WARN_EVERY`].
//!
//! On shutdown the loop stops accepting, idle connections are closed, and the requests in
//! flight are answered (for at most [`DRAIN`]).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service as _, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::config::HttpSettings;
use super::deadlines::{Activity, DeadlineIo, InFlight};

/// Largest request head (request line and headers, in bytes): a larger one is answered `431`
/// and its connection closed.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How long a graceful stop waits for the requests in flight before dropping them (below the
/// documented systemd unit's `TimeoutStopSec`, so that the dispatcher still stops in order).
pub const DRAIN: Duration = Duration::from_secs(20);

/// At most one warning per this period about refused connections or failed accepts.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// The answer to a connection beyond the bound, written without waiting (best effort).
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\
retry-after: 1\r\ncontent-length: 0\r\n\r\n";

/// Counts events and lets a warning through at most once per [`WARN_EVERY`].
#[derive(Debug, Default)]
struct RateLimitedWarning {
    since_last: u64,
    last: Option<Instant>,
}

impl RateLimitedWarning {
    /// Count one event; `Some(count)` when a warning is due (the events since the last one).
    fn hit(&mut self) -> Option<u64> {
        self.since_last += 1;
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < WARN_EVERY)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.since_last))
    }
}

/// The HTTP/1.1 connection settings shared by every connection.
fn builder() -> http1::Builder {
    let mut b = http1::Builder::new();
    // hyper's own header timer would also close idle kept-alive connections after the header
    // timeout; the deadlines of `DeadlineIo` tell the two apart.
    b.timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true)
        .max_header_size(MAX_HEADER_BYTES);
    b
}

/// Serve `app` on `listener` until `shutdown` completes, then drain (see the module's doc).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: HttpSettings,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(settings.max_connections));
    let graceful = GracefulShutdown::new();
    let builder = builder();
    let mut refused = RateLimitedWarning::default();
    let mut failed = RateLimitedWarning::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Out of file descriptors, most often: wait a little rather than spin.
                if let Some(n) = failed.hit() {
                    tracing::warn!(error = %e, failed = n,
                        "cannot accept connections (raise LimitNOFILE or lower [http] max_connections)");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refuse(stream);
            if let Some(n) = refused.hit() {
                tracing::warn!(
                    refused = n,
                    max_connections = settings.max_connections,
                    "connection limit reached: new connections are answered 503 and closed \
                     ([http] max_connections; a flood, or clients that hold connections open)"
                );
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let io = DeadlineIo::new(
            stream,
            activity.clone(),
            settings.header_read_timeout,
            settings.idle_timeout,
        );
        let routes = TowerToHyperService::new(app.clone());
        let service = service_fn(move |req: Request<Incoming>| {
            let in_flight = InFlight::enter(&activity);
            let answer = routes.call(req);
            async move {
                let answer = answer.await;
                drop(in_flight);
                answer
            }
        });
        let conn = builder.serve_connection(TokioIo::new(io), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let open = graceful.count();
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open,
            "connections still open after {DRAIN:?}: dropped without their answer"
        );
    }
}

/// Answer `503` without waiting, then close.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(BUSY);
    drop(stream);
}

/// Warn when the process's open-file limit cannot hold `max_connections` connections and the
/// files and sockets the server needs besides (Linux only: read from `/proc/self/limits`).
pub fn check_open_file_limit(max_connections: usize) {
    const HEADROOM: u64 = 256;
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(soft) = soft {
        let needed = max_connections as u64 + HEADROOM;
        if soft < needed {
            tracing::warn!(
                open_file_limit = soft,
                max_connections,
                "the open-file limit is below [http] max_connections + {HEADROOM}: raise \
                 LimitNOFILE to at least {needed} or lower max_connections"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_is_rate_limited_and_counts_what_it_skipped() {
        let mut w = RateLimitedWarning::default();
        assert_eq!(w.hit(), Some(1));
        assert_eq!(w.hit(), None);
        assert_eq!(w.hit(), None);
        w.last = Some(Instant::now() - WARN_EVERY);
        assert_eq!(w.hit(), Some(3));
    }
}
