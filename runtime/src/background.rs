//! The two ways flowgate waits on work of its own runtime, shared by the sources and
//! limits that talk to a server (an Aperture agent, Redis):
//!
//! - [`Background`]: a small multi-thread runtime a component owns, so that its I/O
//!   works the same under any executor and under blocking gates, shut down without
//!   waiting when the component drops (it may be dropped inside another runtime, where
//!   waiting is not allowed);
//! - [`park_on`]: a blocking gate's wait for an answer that runtime works out: the
//!   thread parks rather than entering a runtime (it may run on a thread of one).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

#[cfg(any(feature = "aperture", feature = "redis"))]
use flowgate_config::ConfigError;

/// See the module documentation. Only with the features that need it: a multi-thread
/// runtime needs tokio's `rt-multi-thread`, which they turn on.
#[cfg(any(feature = "aperture", feature = "redis"))]
pub(crate) struct Background(Option<tokio::runtime::Runtime>);

#[cfg(any(feature = "aperture", feature = "redis"))]
impl Background {
    /// Two worker threads named `name`; `owner` names the component in the error.
    pub(crate) fn start(name: &str, owner: &str) -> Result<Self, ConfigError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .enable_all()
            .build()
            .map(|runtime| Self(Some(runtime)))
            .map_err(|e| ConfigError::new(owner, format!("cannot start its runtime: {e}")))
    }

    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .map(tokio::runtime::Runtime::handle)
            .expect("the runtime is there until its owner drops")
    }
}

#[cfg(any(feature = "aperture", feature = "redis"))]
impl Drop for Background {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Polls `future` to its end on this thread, parking it while the future waits.
pub(crate) fn park_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match Future::poll(Pin::as_mut(&mut future), &mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}
