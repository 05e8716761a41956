//! Building the server from its configuration: the store, the engine and its policies, the
//! provider transports, the HTTP router, and the background tasks (dispatcher, statistics sampler,
//! purge).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use antirelou_abuse::{AllowedCountries, DefaultPolicies};
use antirelou_core::InboundHandler;
use antirelou_core::engine::{
    DecoyConfig, Engine, EngineConfig, NumberConfig, NumberStatus, Transports,
};
use antirelou_core::policy::AbusePolicy;
use antirelou_core::privacy::NumberHasher;
use antirelou_core::runtime::Runtime;
use antirelou_core::store::{SpendCaps, Store};
use antirelou_postgres::{PgConfig, PgStore};
use antirelou_sqlite::{Durability, SqliteConfig, SqliteStore};
use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::admin::{self, AdminState, History};
use super::config::{Config, Storage};
use super::providers::Wiring;
use super::{limits, listener, metrics};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(#[from] super::config::ConfigError),
    /// The store could not be opened.
    #[error("storage: {0}")]
    Storage(String),
    /// The engine refused its settings.
    #[error("engine: {0}")]
    Engine(#[from] antirelou_core::Error),
    /// A provider adapter refused its settings.
    #[error("{provider}: {message}")]
    Provider {
        /// The provider's id (or `public_url` for a callback URL that cannot be built).
        provider: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Listening or serving failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The operator's state file cannot be used (the server does not start rather than resume
    /// numbers an operator paused).
    #[error("{0}")]
    OperatorState(#[from] super::operator_state::StateFileError),
}

/// Apply the operator's recorded pauses and resumes over the configured statuses (a retired
/// number stays retired; a number no longer configured is ignored).
fn apply_operator_state(engine: &Engine, path: &std::path::Path) -> Result<(), ServerError> {
    let state = super::operator_state::OperatorState::load(path)?;
    for (e164, status) in state.iter() {
        let Ok(number) = antirelou_core::PhoneNumber::parse(e164) else {
            tracing::warn!(file = %path.display(), "operator state names an invalid number; ignored");
            continue;
        };
        match engine.numbers().get(&number) {
            Some(c) if c.status != NumberStatus::Retired && c.status != status => {
                engine.numbers().set_status(&number, status)?;
                tracing::warn!(number = %number.masked(), status = status.as_str(),
                    "status set by the operator before the restart");
            }
            _ => {}
        }
    }
    Ok(())
}

/// The opened store, kept concrete so that it can be closed cleanly.
#[derive(Clone, Debug)]
enum StoreHandle {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl StoreHandle {
    fn as_store(&self) -> Arc<dyn Store> {
        match self {
            StoreHandle::Sqlite(s) => Arc::new(s.clone()),
            StoreHandle::Postgres(s) => Arc::new(s.clone()),
        }
    }

    async fn close(&self) {
        match self {
            StoreHandle::Sqlite(s) => s.close().await,
            StoreHandle::Postgres(s) => s.close().await,
        }
    }
}

/// What the providers' transports and routes are built from.
fn wiring(config: &Config, handler: Arc<dyn InboundHandler>) -> Wiring<'_> {
    Wiring {
        public_url: &config.public_url,
        public_url_exact: &config.public_url_exact,
        hash_secret: &config.hash_secret,
        handler,
    }
}

/// A built server: everything is wired, nothing runs yet. [`Server::run`] serves it.
#[derive(Debug)]
pub struct Server {
    config: Config,
    engine: Engine,
    store: StoreHandle,
    senders: Transports,
    admin: Arc<AdminState>,
}

async fn open_store(storage: &Storage) -> Result<StoreHandle, ServerError> {
    match storage {
        Storage::Sqlite {
            path,
            full_durability,
        } => {
            if let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
                && !dir.exists()
            {
                return Err(ServerError::Storage(format!(
                    "storage.sqlite: directory {} does not exist",
                    dir.display()
                )));
            }
            let durability = if *full_durability {
                Durability::Full
            } else {
                Durability::Normal
            };
            let store = SqliteStore::open_with(
                path,
                SqliteConfig::default()
                    .with_durability(durability)
                    .for_heavy_writes(),
            )
            .await
            .map_err(|e| ServerError::Storage(format!("storage.sqlite: {e}")))?;
            Ok(StoreHandle::Sqlite(store))
        }
        Storage::Postgres {
            url,
            max_connections,
        } => {
            let mut pg = PgConfig::default();
            if let Some(n) = max_connections {
                pg = pg.max_connections(*n);
            }
            let store = PgStore::connect_with(url, pg)
                .await
                .map_err(|e| ServerError::Storage(format!("storage.postgres: {e}")))?;
            Ok(StoreHandle::Postgres(store))
        }
    }
}

impl Server {
    /// Open the store and wire the engine, policies, senders and routes from `config`.
    pub async fn build(config: Config) -> Result<Server, ServerError> {
        let store = open_store(&config.storage).await?;
        let hasher = NumberHasher::new(config.hash_secret.as_bytes())?;

        // The abuse policies: allowed countries default to those of our numbers.
        let region = config.numbers.first().and_then(|n| n.phone.region());
        let policies = if config.abuse.enabled {
            // Checked when the configuration was read: an error here names its key all the same.
            let mut abuse = config
                .abuse
                .policies
                .into_config(config.reply.lesson_window)
                .map_err(|e| antirelou_core::Error::Config(format!("abuse.{e}")))?;
            if config.abuse.policies.countries.is_none() {
                let mut regions: Vec<_> = config
                    .numbers
                    .iter()
                    .filter_map(|n| n.phone.region())
                    .collect();
                regions.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                regions.dedup();
                abuse.countries = if regions.len() <= 1 {
                    AllowedCountries::OwnRegion
                } else {
                    AllowedCountries::List(regions)
                };
            }
            Some(DefaultPolicies::new(region, &abuse).map_err(antirelou_core::Error::from)?)
        } else {
            tracing::warn!("[abuse] enabled = false: every contact is allowed (load tests only)");
            None
        };

        let mut engine_config = EngineConfig {
            reply_delay: config.reply.delay,
            reply_jitter: config.reply.jitter,
            reply_deadline: config.reply.deadline,
            lesson_window: config.reply.lesson_window,
            caps: SpendCaps {
                daily: config.budget.daily_cap,
                monthly: config.budget.monthly_cap,
            },
            price_per_segment: config.budget.price_per_segment,
            currency: config.currency.clone(),
            workers: config.dispatcher.workers,
            poll_interval: config.dispatcher.poll_interval,
            lease: config.dispatcher.lease,
            ..EngineConfig::default()
        };
        // `[abuse.defer]`: how deferred lessons are held (the scenario files' names and defaults).
        config.abuse.policies.defer.apply(&mut engine_config);
        let mut builder = Engine::builder(store.as_store(), hasher).config(engine_config);
        if let Some(p) = &policies {
            builder = builder.policy(Arc::new(p.chain()) as Arc<dyn AbusePolicy>);
        }
        for n in &config.numbers {
            let mut nc = NumberConfig::new(n.phone.clone(), n.locale.clone(), n.provider);
            nc.status = n.status;
            nc.decoy = DecoyConfig {
                enabled: n.decoy,
                ..DecoyConfig::default()
            };
            nc.neutral_first_reply = n.neutral_first_reply;
            nc.sms_to_callers = n.sms_to_callers;
            builder = builder.number(nc);
        }
        let engine = builder.build()?;
        if let Some(path) = &config.state_file {
            apply_operator_state(&engine, path)?;
        }

        let mut senders = Transports::new();
        let handler: Arc<dyn InboundHandler> = Arc::new(engine.clone());
        let wiring = wiring(&config, handler);
        for provider in &config.providers {
            let (sender, pace) = provider.transport(&wiring)?;
            senders = senders.with(provider.id(), sender, pace);
        }

        let admin = Arc::new(
            AdminState::new(
                engine.clone(),
                policies,
                &config.admin_token,
                config.budget,
                History::new(720),
            )
            .with_state_file(config.state_file.clone()),
        );
        Ok(Server {
            config,
            engine,
            store,
            senders,
            admin,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The abuse policies, when they run (handles sharing their state).
    pub fn policies(&self) -> Option<&DefaultPolicies> {
        self.admin.policies()
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every route of the main listener: the providers' webhooks, `/healthz`, `/admin`, and
    /// `/metrics` when it has a token and no listener of its own; every body is bounded before
    /// its route (see [`limits`]).
    pub fn router(&self) -> Result<Router, ServerError> {
        let handler: Arc<dyn InboundHandler> = Arc::new(self.engine.clone());
        let mut app = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .merge(admin::router(self.admin.clone()));
        let m = &self.config.metrics;
        match (&m.token, m.listen) {
            (Some(token), None) => {
                app = app.merge(metrics::router(self.admin.clone(), Some(token)));
            }
            (None, None) => tracing::info!(
                "/metrics is not served: set [metrics] token (bearer, on this listener) or \
                 [metrics] listen (an address of its own)"
            ),
            (_, Some(_)) => {}
        }
        let wiring = wiring(&self.config, handler);
        for provider in &self.config.providers {
            app = app.merge(provider.routes(&wiring)?);
        }
        Ok(limits::limit_bodies(
            app,
            self.config.http.body_read_timeout,
        ))
    }

    /// The routes of `[metrics] listen`: `/metrics` alone, bounded like the main ones.
    fn metrics_router(&self) -> Router {
        limits::limit_bodies(
            metrics::router(self.admin.clone(), self.config.metrics.token.as_deref()),
            self.config.http.body_read_timeout,
        )
    }

    /// Bind the configured `listen` address and [`run`](Self::run).
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let listener = TcpListener::bind(self.config.listen).await?;
        self.run(listener, shutdown).await
    }

    /// Serve on `listener` (and on `[metrics] listen`, if set) until `shutdown` completes, then
    /// stop in order: stop accepting webhooks and finish those in flight, stop the dispatcher
    /// (it finishes the sends in progress and gives its other claims back), close the store.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let app = self.router()?;
        let metrics_listener = match self.config.metrics.listen {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("metrics.listen {addr}: {e}"))
            })?),
            None => None,
        };
        listener::check_open_file_limit(self.config.http.max_connections);
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };

        // The dispatcher, the spend feed into the policies (the real segments of the lessons)
        // and the retention purge: the core runtime, the same wiring as the simulator's.
        let runtime = Runtime::builder(self.engine.clone(), self.senders.clone()).spawn();
        let sampler_task = tokio::spawn(sampler(self.admin.clone(), stopped(stop_rx.clone())));

        let addr = listener.local_addr()?;
        tracing::info!(%addr, numbers = self.config.numbers.len(), "antirelou server listening");
        let (http_stop_tx, http_stop_rx) = watch::channel(false);
        let metrics_task = match metrics_listener {
            Some(l) => {
                tracing::info!(addr = %l.local_addr()?, "/metrics listening");
                Some(tokio::spawn(listener::serve(
                    l,
                    self.metrics_router(),
                    self.config.http,
                    stopped(http_stop_rx),
                )))
            }
            None => None,
        };
        listener::serve(listener, app, self.config.http, async move {
            shutdown.await;
            let _ = http_stop_tx.send(true);
        })
        .await;
        if let Some(t) = metrics_task {
            let _ = t.await;
        }
        tracing::info!("webhooks stopped; stopping the dispatcher");
        let _ = stop_tx.send(true);
        if let Err(e) = runtime.shutdown().await {
            tracing::error!(error = %e, "dispatcher stopped with an error");
        }
        let _ = sampler_task.await;
        self.store.close().await;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

/// Sample the statistics every few seconds for the console's chart and the recent drops.
async fn sampler(admin: Arc<AdminState>, stop: impl Future<Output = ()>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => admin.sample().await,
        }
    }
}
