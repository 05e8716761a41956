//! The shutdown signal: `SIGTERM` (systemd's stop) or `SIGINT` (Ctrl-C).
//!
//! On either, the server stops accepting connections, finishes the webhooks in flight, lets the
//! dispatcher finish the sends in progress (the rest of its claims go back to the queue), closes
//! the store and exits 0. A `SIGKILL` loses nothing either: every acknowledged webhook's reply
//! is committed, and the leases of a killed dispatcher expire so that the next run sends them.

/// Completes on the first `SIGTERM` or `SIGINT`.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received: shutting down"),
        _ = term => tracing::info!("SIGTERM received: shutting down"),
    }
}
