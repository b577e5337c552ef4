//! Requests paused for a provider's keys, per provider in arrival order.
//!
//! Every waiter of a provider waits for the same event (its next successful fetch) or its own
//! deadline, and deadlines of one provider grow with arrival (one timeout per provider). So a
//! tick looks at each provider's event counter and at the front of its queue: O(providers),
//! whatever the number of waiters.

use std::collections::VecDeque;

/// Most requests one VM keeps paused; beyond it a request gets 503 `jwks_unavailable` at once
/// rather than holding memory and a connection for an IdP that is not answering.
pub const MAX_WAITERS: usize = 1024;

/// One paused request in one provider's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Waiter {
    context: u32,
    deadline_ms: u64,
    /// The provider's event count when the wait began.
    events: u64,
}

/// The paused requests of one VM, each with `T`: what the glue needs to decide it again (its
/// state, on hosts that resume from the root). The one registry of paused requests.
#[derive(Debug)]
pub struct Waiters<T = ()> {
    queues: Vec<VecDeque<Waiter>>,
    contexts: Vec<(u32, T)>,
}

impl<T> Waiters<T> {
    /// Queues for `providers` providers.
    pub fn new(providers: usize) -> Waiters<T> {
        Waiters {
            queues: (0..providers).map(|_| VecDeque::new()).collect(),
            contexts: Vec::new(),
        }
    }

    /// Requests paused now.
    pub fn len(&self) -> usize {
        self.contexts.len()
    }

    /// True when none is paused.
    pub fn is_empty(&self) -> bool {
        self.contexts.is_empty()
    }

    /// Pauses `context` (with `handle`) on `providers` until an event after `events[p]` or
    /// `deadline_ms`. False (nothing queued) when the VM already holds [`MAX_WAITERS`] requests.
    pub fn push(
        &mut self,
        context: u32,
        handle: T,
        providers: &[(usize, u64)],
        deadline_ms: u64,
    ) -> bool {
        if !self.contains(context) {
            if self.contexts.len() >= MAX_WAITERS {
                return false;
            }
            self.contexts.push((context, handle));
        }
        for &(p, events) in providers {
            if let Some(q) = self.queues.get_mut(p) {
                if !q.iter().any(|w| w.context == context) {
                    q.push_back(Waiter {
                        context,
                        deadline_ms,
                        events,
                    });
                }
            }
        }
        true
    }

    /// Takes every request to decide again now: those of a provider whose event count moved
    /// past theirs, and those past their deadline.
    pub fn ready(&mut self, events: impl Fn(usize) -> u64, now_ms: u64) -> Vec<(u32, T)> {
        let mut out: Vec<u32> = Vec::new();
        for (p, q) in self.queues.iter_mut().enumerate() {
            let current = events(p);
            // Waiters are in arrival order, so event counts and deadlines only grow along the
            // queue: stop at the first that is still waiting.
            while let Some(w) = q.front() {
                if w.events != current || now_ms >= w.deadline_ms {
                    if !out.contains(&w.context) {
                        out.push(w.context);
                    }
                    q.pop_front();
                } else {
                    break;
                }
            }
        }
        out.into_iter()
            .filter_map(|c| self.forget(c).map(|h| (c, h)))
            .collect()
    }

    /// Removes `context` everywhere (decided, or gone); its handle if it was paused. Almost
    /// always nothing is paused: then this costs one length check (it runs on every request).
    pub fn forget(&mut self, context: u32) -> Option<T> {
        if self.contexts.is_empty() {
            return None;
        }
        let i = self.contexts.iter().position(|(c, _)| *c == context)?;
        let (_, handle) = self.contexts.swap_remove(i);
        for q in &mut self.queues {
            q.retain(|w| w.context != context);
        }
        Some(handle)
    }

    /// True when `context` is paused here.
    pub fn contains(&self, context: u32) -> bool {
        self.contexts.iter().any(|(c, _)| *c == context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn woken_by_an_event_or_their_deadline_only() {
        let mut w: Waiters = Waiters::new(2);
        assert!(w.push(1, (), &[(0, 5)], 100));
        assert!(w.push(2, (), &[(0, 5)], 200));
        assert!(w.push(3, (), &[(1, 0)], 150));
        assert!(w.ready(|p| [5, 0][p], 99).is_empty(), "nothing happened");
        assert_eq!(w.ready(|p| [5, 0][p], 100), vec![(1, ())], "deadline");
        assert_eq!(
            w.ready(|p| [6, 0][p], 101),
            vec![(2, ())],
            "an event on provider 0"
        );
        assert_eq!(w.len(), 1);
        assert_eq!(w.ready(|p| [6, 1][p], 101), vec![(3, ())]);
        assert!(w.is_empty());
    }

    #[test]
    fn a_request_waiting_on_two_providers_is_woken_once() {
        let mut w: Waiters = Waiters::new(2);
        assert!(w.push(7, (), &[(0, 0), (1, 0)], 100));
        assert_eq!(w.ready(|p| [1, 0][p], 0), vec![(7, ())]);
        assert!(
            w.ready(|_| 9, 0).is_empty(),
            "gone from the other queue too"
        );
    }

    #[test]
    fn bounded() {
        let mut w: Waiters = Waiters::new(1);
        for c in 0..MAX_WAITERS as u32 {
            assert!(w.push(c, (), &[(0, 0)], 10));
        }
        assert!(!w.push(99_999, (), &[(0, 0)], 10));
        assert!(
            w.push(3, (), &[(0, 0)], 10),
            "one already waiting may wait again"
        );
        assert_eq!(w.forget(3), Some(()));
        assert!(w.push(99_999, (), &[(0, 0)], 10));
        assert!(!w.contains(3));
    }
}
