//! An answer the store's runtime works out for a flow, waited for asynchronously (on
//! any executor) or by a blocking gate's thread, which parks rather than entering a
//! runtime (it may be running on a thread of one).

use std::future::Future;

use super::store::Store;

/// See the module documentation. `None` when the store's runtime stopped first.
#[derive(Debug)]
pub(crate) struct Pending<T> {
    receiver: tokio::sync::oneshot::Receiver<T>,
}

impl<T: Send + 'static> Pending<T> {
    /// Works out `answer` on `store`'s runtime.
    pub(crate) fn spawn(store: &Store, answer: impl Future<Output = T> + Send + 'static) -> Self {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        store.spawn(async move {
            let _ = sender.send(answer.await);
        });
        Self { receiver }
    }

    pub(crate) async fn answer(self) -> Option<T> {
        self.receiver.await.ok()
    }

    pub(crate) fn answer_blocking(self) -> Option<T> {
        crate::background::park_on(self.answer())
    }
}
