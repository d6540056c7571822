//! The index merger: a thread that builds a bucket's trees again once its
//! overlay of writes has grown past [`MAX_OVERLAY`](super::index), so
//! writes never wait for a build of thousands of schools (24–83 ms at
//! 30,000). It builds from one snapshot without any lock, then, under the
//! publisher lock, installs the trees in the current snapshot with the
//! overlay of whatever was written meanwhile recomputed exactly.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;

use super::snapshot::Snapshot;

/// Where snapshots are published, and the lock every publisher holds.
#[derive(Clone)]
pub(super) struct Publication {
    pub current: Arc<ArcSwap<Snapshot>>,
    /// Writes the current snapshot includes; held while one is built and
    /// stored, so two publishers never replace each other's snapshot.
    pub published: Arc<Mutex<u64>>,
}

impl Publication {
    /// Merges every bucket of the current snapshot whose overlay is due,
    /// one at a time, and publishes each. Returns how many were installed.
    pub(super) fn merge_due(&self) -> usize {
        let snapshot = self.current.load_full();
        let mut installed = 0;
        for key in snapshot.merges_due() {
            let Some(merged) = snapshot.merge(key) else {
                continue;
            };
            // A poisoned lock means a publisher panicked; leave the
            // snapshot as it is (the writers refuse to go on anyway).
            let Ok(_publishing) = self.published.lock() else {
                return installed;
            };
            if let Some(next) = self.current.load().with_merged(merged) {
                self.current.store(Arc::new(next));
                installed += 1;
            }
        }
        installed
    }
}

/// The merger thread, woken by [`Merger::wake`] after a write; stopped
/// and joined when dropped.
pub(super) struct Merger {
    wake: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Merger {
    pub(super) fn start(publication: Publication) -> std::io::Result<Merger> {
        let (wake, woken) = channel();
        let thread = std::thread::Builder::new()
            .name("partnermatch-index-merger".to_owned())
            .spawn(move || run(&publication, &woken))?;
        Ok(Merger {
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    /// Asks the merger to look at the current snapshot.
    pub(super) fn wake(&self) {
        if let Some(wake) = &self.wake {
            // The thread only stops when this sender is dropped.
            let _ = wake.send(());
        }
    }
}

impl Drop for Merger {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(publication: &Publication, woken: &Receiver<()>) {
    while woken.recv().is_ok() {
        // Wake-ups that queued while merging ask for the same look.
        while woken.try_recv().is_ok() {}
        publication.merge_due();
    }
}
