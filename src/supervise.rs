//! Background tasks that panic are caught and reported, never lost silently: a panic in
//! a tokio task otherwise ends only that task, leaving a shard unread or a `flush`
//! waiting for a batch that will never settle.

use crate::error::Error;
use parking_lot::Mutex;
use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that turns a panic in `inner` into `Err(message)`.
pub struct Caught<F> {
    inner: Pin<Box<F>>,
}

/// Runs `task`, catching a panic as an error.
pub fn caught<F: Future>(task: F) -> Caught<F> {
    Caught {
        inner: Box::pin(task),
    }
}

impl<F: Future> Future for Caught<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        // A panicked task is dropped right after; nothing observes its broken state.
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(&*payload))),
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Runs `task` and hands `on_panic` the error if it panics.
pub async fn supervised(
    task: &'static str,
    work: impl Future<Output = ()>,
    on_panic: impl FnOnce(Error),
) {
    if let Err(detail) = caught(work).await {
        on_panic(Error::Panicked { task, detail });
    }
}

/// The first failure a client cannot go on from, raised by every later call.
#[derive(Default)]
pub struct Fault(Mutex<Option<Error>>);

impl Fault {
    pub fn set(&self, error: Error) {
        self.0.lock().get_or_insert(error);
    }

    pub fn check(&self) -> Result<(), Error> {
        self.0.lock().clone().map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn a_panicking_task_is_reported_with_its_message() {
        let fault = Arc::new(Fault::default());
        let seen = Arc::clone(&fault);
        block_on(supervised(
            "reader",
            async {
                tokio::task::yield_now().await;
                panic!("shard {} broke", 3);
            },
            move |error| seen.set(error),
        ));
        assert_eq!(
            fault.check(),
            Err(Error::Panicked {
                task: "reader",
                detail: "shard 3 broke".to_owned()
            })
        );
    }

    #[test]
    fn a_task_that_ends_normally_reports_nothing() {
        let fault = Fault::default();
        block_on(supervised("writer", async {}, |error| fault.set(error)));
        assert_eq!(fault.check(), Ok(()));
        assert_eq!(block_on(caught(async { 7 })), Ok(7));
    }
}
