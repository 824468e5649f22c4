//! How fast each client may change the scene and pick (`--edit-rate`), counted per
//! client however many connections it opens and whatever carries them: the data
//! channel, WebSockets and the HTTP routes all take from one [`Limiter`], keyed by the
//! client's [`Credential`] (its token, or its address on a server without tokens).
//!
//! Time is an argument everywhere, so the limiter is tested on a made-up clock.

use signaling::Credential;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many clients the limiter remembers by default. Only a server without tokens,
/// keyed by address, can meet this many.
pub const DEFAULT_CLIENTS: usize = 10_000;

/// How often, at most, entries of idle clients are looked for and dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A token bucket: `rate` per second on average, bursts of up to `burst`. Time is
/// an argument, so it is tested without clocks.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl RateLimit {
    /// `per_second` on average, bursts of twice that (at least one).
    pub fn new(per_second: f64) -> RateLimit {
        let burst = (2.0 * per_second).max(1.0);
        RateLimit {
            rate: per_second,
            burst,
            tokens: burst,
            last: None,
        }
    }

    /// The tokens there are at `now`.
    fn tokens_at(&self, now: Instant) -> f64 {
        match self.last {
            Some(last) => {
                let earned = now.saturating_duration_since(last).as_secs_f64() * self.rate;
                (self.tokens + earned).min(self.burst)
            }
            None => self.tokens,
        }
    }

    /// Takes one token at `now`, if there is one; otherwise how long until there is.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.tokens = self.tokens_at(now);
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }

    /// Whether the bucket is full again at `now`: forgetting it then changes nothing,
    /// since a new one starts full.
    fn is_full(&self, now: Instant) -> bool {
        self.tokens_at(now) >= self.burst
    }
}

/// What a request spends: scene changes and picks have allowances of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// An edit, undo, redo or mesh upload.
    Edit,
    /// A pick (after an edit it waits for a new acceleration structure).
    Pick,
}

/// One client's allowances.
#[derive(Clone, Copy, Debug)]
struct Allowance {
    edits: RateLimit,
    picks: RateLimit,
}

impl Allowance {
    fn new(per_second: f64) -> Allowance {
        Allowance {
            edits: RateLimit::new(per_second),
            picks: RateLimit::new(per_second),
        }
    }

    fn take(&mut self, action: Action, now: Instant) -> Result<(), Duration> {
        match action {
            Action::Edit => self.edits.take(now),
            Action::Pick => self.picks.take(now),
        }
    }

    fn is_full(&self, now: Instant) -> bool {
        self.edits.is_full(now) && self.picks.is_full(now)
    }
}

struct Clients {
    by_credential: HashMap<Credential, Allowance>,
    /// Shared by the clients that come while the table is full of active ones, so
    /// that rotating addresses cannot grow the table nor win more than this.
    overflow: Allowance,
    swept: Option<Instant>,
}

/// Every client's allowances: `per_second` edits and as many picks on average, bursts
/// of twice that, per credential. At most `capacity` clients are remembered; entries
/// whose allowances have refilled are dropped (a new client starts with full ones, so
/// that changes nothing), and while the table is full of active clients, any other
/// client shares one more allowance.
pub struct Limiter {
    per_second: f64,
    capacity: usize,
    clients: Mutex<Clients>,
}

impl Limiter {
    /// `per_second` each of edits and picks per client, for up to [`DEFAULT_CLIENTS`].
    pub fn new(per_second: f64) -> Limiter {
        Limiter::with_capacity(per_second, DEFAULT_CLIENTS)
    }

    /// The same, remembering at most `capacity` clients (at least one).
    pub fn with_capacity(per_second: f64, capacity: usize) -> Limiter {
        Limiter {
            per_second,
            capacity: capacity.max(1),
            clients: Mutex::new(Clients {
                by_credential: HashMap::new(),
                overflow: Allowance::new(per_second),
                swept: None,
            }),
        }
    }

    /// The edit rate per client.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// Spends one of `who`'s `action` allowance at `now`; when there is none left,
    /// how long until there is.
    pub fn take(&self, who: Credential, action: Action, now: Instant) -> Result<(), Duration> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let Clients {
            by_credential,
            overflow,
            swept,
        } = &mut *clients;
        if swept.is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY) {
            by_credential.retain(|_, a| !a.is_full(now));
            *swept = Some(now);
        }
        let room = by_credential.len() < self.capacity;
        let allowance = match by_credential.get_mut(&who) {
            Some(a) => a,
            None if room => by_credential
                .entry(who)
                .or_insert_with(|| Allowance::new(self.per_second)),
            None => overflow,
        };
        allowance.take(action, now)
    }

    /// How many clients are remembered.
    pub fn clients(&self) -> usize {
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.by_credential.len()
    }
}

/// A wait as a `Retry-After` value: whole seconds, at least one.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn address(last: u8) -> Credential {
        Credential::address(IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn the_rate_limit_allows_bursts_then_the_rate() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(10.0);
        // A burst of twice the rate, then nothing until tokens come back.
        assert_eq!((0..25).filter(|_| limit.take(t0).is_ok()).count(), 20);
        assert!(limit.take(t0 + Duration::from_millis(50)).is_err());
        assert!(limit.take(t0 + Duration::from_millis(160)).is_ok());
        // Over ten seconds: the rate, plus nothing saved beyond the burst.
        let taken = (1..=1000)
            .filter(|i| limit.take(t0 + Duration::from_millis(160 + 10 * i)).is_ok())
            .count();
        assert!((99..=101).contains(&taken), "{taken}");
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(100);
        assert_eq!((0..50).filter(|_| limit.take(later).is_ok()).count(), 20);
    }

    #[test]
    fn a_refused_take_says_how_long_until_the_next_token() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(2.0);
        assert!((0..4).all(|_| limit.take(t0).is_ok()));
        // Empty: the next token comes in half a second, then a quarter after 250 ms.
        assert_eq!(limit.take(t0), Err(Duration::from_millis(500)));
        let wait = limit.take(t0 + Duration::from_millis(250)).unwrap_err();
        assert!((wait.as_secs_f64() - 0.25).abs() < 1e-9, "{wait:?}");
        assert!(limit.take(t0 + Duration::from_millis(500)).is_ok());
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }

    #[test]
    fn one_client_has_one_allowance_and_others_their_own() {
        let t0 = Instant::now();
        let limiter = Limiter::new(5.0);
        let (a, b) = (Credential::Token(0), Credential::Token(1));
        let taken = (0..30)
            .filter(|_| limiter.take(a, Action::Edit, t0).is_ok())
            .count();
        assert_eq!(taken, 10);
        // Another credential is unaffected; picks are counted apart from edits.
        assert!(limiter.take(b, Action::Edit, t0).is_ok());
        assert!(limiter.take(a, Action::Pick, t0).is_ok());
        // The rate comes back with time: one edit per 200 ms.
        assert!(limiter
            .take(a, Action::Edit, t0 + Duration::from_millis(100))
            .is_err());
        assert!(limiter
            .take(a, Action::Edit, t0 + Duration::from_millis(200))
            .is_ok());
    }

    #[test]
    fn idle_clients_are_forgotten_once_their_allowance_is_whole_again() {
        let t0 = Instant::now();
        let limiter = Limiter::new(5.0);
        for i in 0..100 {
            assert!(limiter.take(address(i), Action::Edit, t0).is_ok());
        }
        assert_eq!(limiter.clients(), 100);
        // One token spent refills in 200 ms; the next sweep, a second on, drops them.
        assert!(limiter
            .take(address(200), Action::Edit, t0 + Duration::from_secs(1))
            .is_ok());
        assert_eq!(limiter.clients(), 1);
        // A client still short of its burst is remembered: its allowance holds.
        let c = address(201);
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(
            (0..10)
                .filter(|_| limiter.take(c, Action::Edit, t1).is_ok())
                .count(),
            10
        );
        let t2 = t1 + Duration::from_millis(1000);
        assert!(limiter.take(address(202), Action::Pick, t2).is_ok());
        assert_eq!(
            limiter.clients(),
            2,
            "a client short of its burst must be remembered"
        );
        let spent = (0..10)
            .filter(|_| limiter.take(c, Action::Edit, t2).is_ok())
            .count();
        assert_eq!(spent, 5, "one second earned five edits, no more");
    }

    #[test]
    fn rotating_addresses_neither_grows_the_table_nor_wins_more_allowance() {
        let t0 = Instant::now();
        let limiter = Limiter::with_capacity(5.0, 3);
        // Three clients fill the table; each keeps its own allowance.
        for i in 0..3 {
            for _ in 0..10 {
                assert!(limiter.take(address(i), Action::Edit, t0).is_ok());
            }
        }
        // Every other address shares one: 10 edits among 250 addresses.
        let won = (3..=252)
            .filter(|&i| limiter.take(address(i), Action::Edit, t0).is_ok())
            .count();
        assert_eq!(won, 10);
        assert_eq!(limiter.clients(), 3);
        // The remembered clients are still held to what they spent.
        assert!(limiter.take(address(0), Action::Edit, t0).is_err());
        // Once they are idle, their room goes to new clients.
        let later = t0 + Duration::from_secs(5);
        assert!(limiter.take(address(99), Action::Edit, later).is_ok());
        assert_eq!(limiter.clients(), 1);
    }
}
