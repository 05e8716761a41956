//! The runtime: the wiring every embedder of the [`Engine`] would otherwise write again — the
//! dispatcher's workers, the spend feedback into the abuse policy
//! ([`AbusePolicy::on_spend`](crate::policy::AbusePolicy::on_spend)) and the retention purge.
//!
//! A server [spawns](RuntimeBuilder::spawn) it and [shuts it down](RuntimeHandle::shutdown) in
//! order; the simulator, on a [`ManualClock`](crate::ManualClock), drives the same code one
//! [`step`](Runtime::step) at a time. Both the spawned loop and `step` decide whether the
//! spend feed and the purge are due from the **engine's clock**, so virtual time behaves as
//! real time does.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use antirelou_core::engine::{Engine, Transports};
//! use antirelou_core::memory::InMemoryStore;
//! use antirelou_core::privacy::NumberHasher;
//! use antirelou_core::runtime::{Retention, Runtime};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> antirelou_core::Result<()> {
//! let engine = Engine::builder(Arc::new(InMemoryStore::new()), NumberHasher::new(b"sixteen bytes at least")?)
//!     .build()?;
//! let runtime = Runtime::builder(engine, Transports::new())
//!     .spend_every(Duration::from_secs(5))
//!     .purge(Retention::default(), Duration::from_secs(3600))
//!     .spawn();
//! // … serve webhooks …
//! runtime.shutdown().await?;
//! # Ok(())
//! # }
//! ```

mod purge;
mod spend;

pub use purge::{PurgeReport, Retention, purge_once};
pub use spend::{SpendUpdate, feed_spend, lesson_segments, read_spend};

use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::engine::{Dispatcher, Engine, TickReport, Transports};
use crate::{Clock as _, Result, Timestamp};

/// The default spend feed period.
const SPEND_EVERY: Duration = Duration::from_secs(5);
/// The default purge period.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Builds a [`Runtime`] ([`Runtime::builder`]).
#[derive(Debug)]
pub struct RuntimeBuilder {
    engine: Engine,
    transports: Transports,
    spend_every: Duration,
    purge: Option<(Retention, Duration)>,
}

impl RuntimeBuilder {
    /// Feed the spend to the policy at most this often, by the engine's clock (default 5 s;
    /// zero: at every [`Runtime::maintain`]).
    pub fn spend_every(mut self, every: Duration) -> Self {
        self.spend_every = every;
        self
    }

    /// Purge per `retention` at most once `every` (default: [`Retention::default`] every hour).
    pub fn purge(mut self, retention: Retention, every: Duration) -> Self {
        self.purge = Some((retention, every));
        self
    }

    /// Never purge (the embedder keeps everything, or purges itself).
    pub fn no_purge(mut self) -> Self {
        self.purge = None;
        self
    }

    /// The runtime, for a caller that drives it with [`Runtime::step`].
    pub fn build(self) -> Runtime {
        Runtime {
            dispatcher: self.engine.dispatcher(self.transports),
            engine: self.engine,
            spend_every: self.spend_every,
            purge: self.purge,
            last: Mutex::new(LastRuns::default()),
        }
    }

    /// [`build`](Self::build) and [`Runtime::spawn`].
    pub fn spawn(self) -> RuntimeHandle {
        self.build().spawn()
    }
}

/// When the periodic jobs last ran, by the engine's clock.
#[derive(Debug, Default)]
struct LastRuns {
    spend: Option<Timestamp>,
    purge: Option<Timestamp>,
}

fn due(last: Option<Timestamp>, every: Duration, now: Timestamp) -> bool {
    last.is_none_or(|t| now >= t.add(every))
}

/// What one [`Runtime::maintain`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Maintenance {
    /// The spend fed to the policy, when the feed was due.
    pub spend: Option<SpendUpdate>,
    /// What the purge deleted, when it was due.
    pub purge: Option<PurgeReport>,
}

/// The engine's background work: the dispatcher, the spend feed and the purge.
#[derive(Debug)]
pub struct Runtime {
    engine: Engine,
    dispatcher: Dispatcher,
    spend_every: Duration,
    purge: Option<(Retention, Duration)>,
    last: Mutex<LastRuns>,
}

impl Runtime {
    /// A builder for `engine`, sending through `transports`.
    pub fn builder(engine: Engine, transports: Transports) -> RuntimeBuilder {
        RuntimeBuilder {
            engine,
            transports,
            spend_every: SPEND_EVERY,
            purge: Some((Retention::default(), PURGE_EVERY)),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The dispatcher (for a caller that ticks it more than once per [`step`](Self::step)).
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// Run the periodic jobs that are due at the engine clock's now: feed the spend to the
    /// policy, then purge. A job that fails is retried at the next call; the first error is
    /// returned after both were attempted.
    pub async fn maintain(&self) -> Result<Maintenance> {
        let now = self.engine.clock().now();
        let (spend_due, purge_due) = {
            let last = self.last.lock();
            (
                due(last.spend, self.spend_every, now),
                self.purge
                    .is_some_and(|(_, every)| due(last.purge, every, now)),
            )
        };
        let mut done = Maintenance::default();
        let spend = if spend_due {
            feed_spend(&self.engine).await.map(|u| {
                self.last.lock().spend = Some(now);
                done.spend = Some(u);
            })
        } else {
            Ok(())
        };
        let purge = match self.purge {
            Some((retention, _)) if purge_due => {
                purge_once(&self.engine, &retention).await.map(|r| {
                    self.last.lock().purge = Some(now);
                    done.purge = Some(r);
                })
            }
            _ => Ok(()),
        };
        spend?;
        purge?;
        Ok(done)
    }

    /// One step at the engine clock's now: [`maintain`](Self::maintain), then one dispatcher
    /// [`tick`](Dispatcher::tick). The simulator drives the runtime this way on virtual time.
    pub async fn step(&self) -> Result<TickReport> {
        self.maintain().await?;
        self.dispatcher.tick().await
    }

    /// Spawn the dispatcher's workers ([`Dispatcher::run`]) and a task that calls
    /// [`maintain`](Self::maintain) every period (errors are logged, the job is retried at the
    /// next period). Needs a tokio runtime.
    pub fn spawn(self) -> RuntimeHandle {
        let (stop_tx, stop_rx) = watch::channel(false);
        let runtime = std::sync::Arc::new(self);
        let dispatcher = runtime.dispatcher.clone();
        let mut rx = stop_rx.clone();
        let dispatch = tokio::spawn(async move {
            dispatcher
                .run(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await
        });
        let period = runtime
            .purge
            .map_or(runtime.spend_every, |(_, every)| {
                every.min(runtime.spend_every)
            })
            .max(Duration::from_millis(100));
        let maintenance = tokio::spawn(maintenance_loop(runtime, period, stop_rx));
        RuntimeHandle {
            stop: stop_tx,
            dispatch,
            maintenance,
        }
    }
}

async fn maintenance_loop(
    runtime: std::sync::Arc<Runtime>,
    period: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        if let Err(e) = runtime.maintain().await {
            tracing::warn!(error = %e, "runtime maintenance failed: retried at the next period");
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// A spawned [`Runtime`]: [`shutdown`](Self::shutdown) stops it in order.
#[derive(Debug)]
pub struct RuntimeHandle {
    stop: watch::Sender<bool>,
    dispatch: JoinHandle<Result<()>>,
    maintenance: JoinHandle<()>,
}

impl RuntimeHandle {
    /// Stop in order: the dispatcher stops claiming, finishes the sends in progress and gives
    /// its other claims back; the maintenance task stops between two jobs. Returns when both
    /// have stopped, with the dispatcher's error if it had one.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        let dispatched = match self.dispatch.await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "the dispatcher task failed");
                Ok(())
            }
        };
        if let Err(e) = self.maintenance.await {
            tracing::error!(error = %e, "the runtime maintenance task failed");
        }
        dispatched
    }
}
