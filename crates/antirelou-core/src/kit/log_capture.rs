//! Capture what `tracing` logs while a future runs, at every level, to check that no phone
//! number reaches the logs.

use std::future::Future;
use std::io;
use std::sync::Arc;

use parking_lot::Mutex;
use tracing::instrument::WithSubscriber;

/// A buffer the logs of [`LogCapture::run`] are written to, as plain text.
#[derive(Clone, Debug)]
pub struct LogCapture {
    buf: Arc<Mutex<Vec<u8>>>,
    dispatch: tracing::Dispatch,
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Default for LogCapture {
    fn default() -> Self {
        Self::new()
    }
}

impl LogCapture {
    /// An empty capture, at `TRACE` level.
    pub fn new() -> Self {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        LogCapture {
            buf,
            dispatch: tracing::Dispatch::new(subscriber),
        }
    }

    /// Run `f` with its logs going to this capture.
    pub async fn run<F: Future>(&self, f: F) -> F::Output {
        f.with_subscriber(self.dispatch.clone()).await
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock()).into_owned()
    }
}
