//! News held back until the reply that caused it has left.
//!
//! A change that every connection hears of (a transaction's `changed`, a camera's
//! `camera_changed`) wakes every connection's task when it is broadcast. Sent before
//! the changing client's own acknowledgement, that wake-up of thousands of tasks runs
//! first and the acknowledgement waits behind it. So the store and the views queue
//! their events in an [`Outbox`], in the order of the changes (under the owner's own
//! lock), and hand the client that made the change an [`Unpublished`]: the queue is
//! broadcast when that is dropped, which its connection does once its reply is sent.
//! Anything else that publishes on the same outbox in the meantime sends the held
//! events too, so nobody hears of changes out of order or later than the next one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Events on their way to every subscriber, queued in order.
pub struct Outbox<E> {
    queue: Mutex<VecDeque<E>>,
    events: broadcast::Sender<E>,
}

impl<E: Clone + Send + 'static> Outbox<E> {
    /// An outbox whose broadcast channel keeps `capacity` events for slow receivers.
    pub fn new(capacity: usize) -> Arc<Outbox<E>> {
        Arc::new(Outbox {
            queue: Mutex::new(VecDeque::new()),
            events: broadcast::channel(capacity).0,
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<E> {
        self.events.subscribe()
    }

    /// Queues `event`; call it under the lock that orders the changes.
    pub fn push(&self, event: E) {
        lock(&self.queue).push_back(event);
    }

    /// A hold on the queued events: they are sent when it is dropped.
    pub fn hold(self: &Arc<Self>) -> Unpublished {
        Unpublished(self.clone())
    }

    /// Sends every queued event, oldest first.
    pub fn publish(&self) {
        // Under the queue's lock, so that two publishers cannot reorder events.
        let mut queue = lock(&self.queue);
        for event in queue.drain(..) {
            let _ = self.events.send(event);
        }
    }
}

trait Publish: Send + Sync {
    fn publish(&self);
}

impl<E: Clone + Send + 'static> Publish for Outbox<E> {
    fn publish(&self) {
        Outbox::publish(self)
    }
}

/// Changes the other connections have not been told of yet: sent when this is
/// dropped (with anything queued before them). A connection holds it until its own
/// reply is on its way (see `Connection::publish`).
#[must_use = "dropping it publishes the change at once"]
pub struct Unpublished(Arc<dyn Publish>);

impl Drop for Unpublished {
    fn drop(&mut self) {
        self.0.publish();
    }
}

/// Locks a mutex, recovering the data if a thread panicked while holding it: a queue
/// of events stays consistent between statements.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::TryRecvError;

    #[test]
    fn held_events_go_out_in_order_when_the_hold_is_dropped() {
        let outbox = Outbox::new(8);
        let mut rx = outbox.subscribe();
        outbox.push(1);
        let first = outbox.hold();
        outbox.push(2);
        let second = outbox.hold();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        // The later hold's drop sends the earlier event too, first.
        drop(second);
        assert_eq!((rx.try_recv(), rx.try_recv()), (Ok(1), Ok(2)));
        drop(first);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
}
