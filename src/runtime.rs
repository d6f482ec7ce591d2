//! The process-wide tokio runtime, created on first use and again after `fork()`.

use parking_lot::Mutex;
use std::sync::Arc;
use tokio::runtime::Runtime;

static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// The runtime of this process. A forked child gets a fresh one: the parent's worker
/// threads do not exist in the child, so its runtime is leaked rather than used.
#[must_use]
pub fn runtime() -> Arc<Runtime> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock();
    if let Some((owner, rt)) = slot.as_ref() {
        if *owner == pid {
            return Arc::clone(rt);
        }
        std::mem::forget(slot.take());
    }
    let rt = Arc::new(build());
    *slot = Some((pid, Arc::clone(&rt)));
    rt
}

fn build() -> Runtime {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("ami-io")
        .enable_all()
        .build()
        .expect("the OS refused to start the ami runtime threads")
}
