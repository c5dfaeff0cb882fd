//! What a test makes a fake do to one device token, what the fake counts per token, and the
//! bounded logs of what it accepted and refused. Memory stays bounded under load: logs keep
//! the latest [`MAX_RECORDS`] entries, counts track at most [`MAX_COUNTED_TOKENS`] tokens.

use std::collections::{HashMap, HashSet, VecDeque};

/// Entries kept in each log (the oldest go first).
pub const MAX_RECORDS: usize = 10_000;
/// Tokens whose requests are counted; later tokens are counted only in the total.
pub const MAX_COUNTED_TOKENS: usize = 100_000;

/// A failure a fake answers instead of accepting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 503 (the service is down), with `Retry-After: <seconds>` when set.
    Unavailable { retry_after: Option<u64> },
    /// 429 (too many requests for this device, or quota), with `Retry-After` when set.
    TooManyRequests { retry_after: Option<u64> },
}

/// A request a fake refused, and why (the reason as the fake's provider words it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The device token, when the request named one.
    pub token: Option<String>,
    pub status: u16,
    pub reason: String,
}

/// A log that keeps the latest [`MAX_RECORDS`] entries.
#[derive(Debug)]
pub(crate) struct Log<T> {
    entries: VecDeque<T>,
    /// Every entry ever pushed, the dropped ones included.
    total: u64,
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Log {
            entries: VecDeque::new(),
            total: 0,
        }
    }
}

impl<T: Clone> Log<T> {
    pub(crate) fn push(&mut self, entry: T) {
        if self.entries.len() == MAX_RECORDS {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
        self.total += 1;
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    pub(crate) fn to_vec(&self) -> Vec<T> {
        self.entries.iter().cloned().collect()
    }
}

/// The per-token scripts and counts of one fake.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    unregistered: HashSet<String>,
    faults: HashMap<String, VecDeque<Fault>>,
    counts: HashMap<String, u64>,
    total: u64,
}

impl Tokens {
    pub(crate) fn unregister(&mut self, token: &str) {
        self.unregistered.insert(token.to_owned());
    }

    pub(crate) fn is_unregistered(&self, token: &str) -> bool {
        self.unregistered.contains(token)
    }

    pub(crate) fn fail_next(&mut self, token: &str, times: usize, fault: Fault) {
        self.faults
            .entry(token.to_owned())
            .or_default()
            .extend(std::iter::repeat_n(fault, times));
    }

    /// The fault scripted for the next request of `token`, used up.
    pub(crate) fn next_fault(&mut self, token: &str) -> Option<Fault> {
        let faults = self.faults.get_mut(token)?;
        let fault = faults.pop_front();
        if faults.is_empty() {
            self.faults.remove(token);
        }
        fault
    }

    pub(crate) fn count(&mut self, token: &str) {
        self.total += 1;
        if let Some(count) = self.counts.get_mut(token) {
            *count += 1;
        } else if self.counts.len() < MAX_COUNTED_TOKENS {
            self.counts.insert(token.to_owned(), 1);
        }
    }

    pub(crate) fn requests_for(&self, token: &str) -> u64 {
        self.counts.get(token).copied().unwrap_or(0)
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_keeps_only_the_latest_entries() {
        let mut log = Log::default();
        for n in 0..MAX_RECORDS + 5 {
            log.push(n);
        }
        let entries = log.to_vec();
        assert_eq!(entries.len(), MAX_RECORDS);
        assert_eq!(entries[0], 5);
    }

    #[test]
    fn scripted_faults_are_used_up_in_order() {
        let mut tokens = Tokens::default();
        let unavailable = Fault::Unavailable {
            retry_after: Some(3),
        };
        tokens.fail_next("t", 2, unavailable);
        tokens.fail_next("t", 1, Fault::TooManyRequests { retry_after: None });
        assert_eq!(tokens.next_fault("t"), Some(unavailable));
        assert_eq!(tokens.next_fault("t"), Some(unavailable));
        assert_eq!(
            tokens.next_fault("t"),
            Some(Fault::TooManyRequests { retry_after: None })
        );
        assert_eq!(tokens.next_fault("t"), None);
        assert_eq!(tokens.next_fault("other"), None);
    }
}
