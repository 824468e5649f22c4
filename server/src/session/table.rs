//! The session table: every session of the server, its state, its owners and its
//! resume token, changed only through the methods here, each given the time. It
//! starts no task and reads no clock, so admission, resume, deletion and the resume
//! grace are unit-tested on a made-up clock; [`super::Sessions`] drives it from the
//! peer connections' events and one timer per dropped connection.

use crate::control::public_client_id;
use protocol::Role;
use signaling::{Caller, DeleteError, TokenId};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use webrtc::peer_connection::RTCPeerConnectionState;

/// A session's identifier: random, URL-safe, unguessable. It is a secret of the
/// session's client (the last part of `Location`, told again in its own `hello`), and
/// what `DELETE /whep/<session>` takes: it is never sent to other clients, who know a
/// session only by its [`public_client_id`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionId(pub String);

impl SessionId {
    pub(super) fn random() -> SessionId {
        SessionId(rtc::shared::util::math_rand_alpha_number(24))
    }
}

/// Where a session is in its life (`closed` sessions are gone from the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Offer answered; the connection is being established.
    Connecting,
    /// Media flows.
    Connected,
    /// The connection dropped unexpectedly: the session is kept for the grace period,
    /// for its client to resume it with its resume token.
    Pending,
}

impl SessionState {
    pub const ALL: [SessionState; 3] = [
        SessionState::Connecting,
        SessionState::Connected,
        SessionState::Pending,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SessionState::Connecting => "connecting",
            SessionState::Connected => "connected",
            SessionState::Pending => "pending",
        }
    }

    /// The session's state while its peer connection is in `peer` (`None`: the
    /// connection is closed; the session's task decides what follows).
    pub fn of_peer(peer: RTCPeerConnectionState) -> Option<SessionState> {
        use RTCPeerConnectionState as P;
        match peer {
            P::Connected => Some(SessionState::Connected),
            P::Disconnected | P::Failed => Some(SessionState::Pending),
            P::Closed => None,
            _ => Some(SessionState::Connecting),
        }
    }
}

/// One row of `GET /api/sessions`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SessionInfo {
    pub session: String,
    /// The public id other clients know it by (`changed` messages' `client`).
    pub client: String,
    pub state: SessionState,
    pub role: Role,
    pub view: String,
    /// Seconds since the session entered its state.
    pub seconds_in_state: f64,
}

struct Entry {
    /// Ends the session's current connection.
    end: watch::Sender<bool>,
    role: Role,
    /// The view the session watches.
    view: String,
    resume_token: String,
    /// The session's public id, the same across resumes.
    client: String,
    /// The tokens that created or resumed the session: each may end it (as may any
    /// controller token). Empty without tokens.
    owners: Vec<TokenId>,
    state: SessionState,
    since: Instant,
    /// Which connection of the session is current: each resume starts a new one.
    generation: u64,
}

/// What a connection of a session was admitted as.
#[derive(Clone, Debug, PartialEq)]
pub struct Admitted {
    pub id: SessionId,
    pub role: Role,
    pub resume_token: String,
    pub client: String,
    pub generation: u64,
}

/// A session found by its resume token.
#[derive(Clone, Debug, PartialEq)]
pub struct Resumable {
    pub id: SessionId,
    pub role: Role,
    pub view: String,
}

/// The sessions, at most `max_sessions` of them; a dropped one waits `resume_grace`.
pub struct Table {
    entries: HashMap<SessionId, Entry>,
    max_sessions: usize,
    resume_grace: Duration,
}

/// The lesser of two roles: a resumed session keeps its role unless the resuming
/// request's token is only a viewer's.
fn lesser(a: Role, b: Role) -> Role {
    if a == Role::Viewer || b == Role::Viewer {
        Role::Viewer
    } else {
        Role::Controller
    }
}

impl Table {
    pub fn new(max_sessions: usize, resume_grace: Duration) -> Table {
        Table {
            entries: HashMap::new(),
            max_sessions,
            resume_grace,
        }
    }

    /// Sessions open (in any state).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a new session would be refused.
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_sessions
    }

    /// Sessions in each state.
    pub fn count_by_state(&self) -> Vec<(SessionState, usize)> {
        SessionState::ALL
            .iter()
            .map(|&s| (s, self.entries.values().filter(|e| e.state == s).count()))
            .collect()
    }

    /// Every session at `now`, by id (never their resume tokens).
    pub fn list(&self, now: Instant) -> Vec<SessionInfo> {
        let mut list: Vec<SessionInfo> = self
            .entries
            .iter()
            .map(|(id, e)| SessionInfo {
                session: id.0.clone(),
                client: e.client.clone(),
                state: e.state,
                role: e.role,
                view: e.view.clone(),
                seconds_in_state: now.saturating_duration_since(e.since).as_secs_f64(),
            })
            .collect();
        list.sort_by(|a, b| a.session.cmp(&b.session));
        list
    }

    /// The session whose resume token is `token`. Every token is compared, each in
    /// constant time: the timing tells nothing of which one matched.
    pub fn resumable(&self, token: &str) -> Option<Resumable> {
        let mut found = None;
        for (id, e) in &self.entries {
            if signaling::access::constant_time_eq(e.resume_token.as_bytes(), token.as_bytes()) {
                found = Some(Resumable {
                    id: id.clone(),
                    role: e.role,
                    view: e.view.clone(),
                });
            }
        }
        found
    }

    /// A new session `id` for `role`, watching `view`, created with `owner`'s token:
    /// `None` when the table is full. `end` ends its connection.
    pub fn admit(
        &mut self,
        id: SessionId,
        role: Role,
        view: &str,
        owner: Option<TokenId>,
        end: watch::Sender<bool>,
        now: Instant,
    ) -> Option<Admitted> {
        if self.is_full() || self.entries.contains_key(&id) {
            return None;
        }
        let entry = Entry {
            end,
            role,
            view: view.to_owned(),
            resume_token: rtc::shared::util::math_rand_alpha_number(32),
            client: public_client_id("c"),
            owners: owner.into_iter().collect(),
            state: SessionState::Connecting,
            since: now,
            generation: 0,
        };
        let admitted = Admitted {
            id: id.clone(),
            role,
            resume_token: entry.resume_token.clone(),
            client: entry.client.clone(),
            generation: 0,
        };
        self.entries.insert(id, entry);
        Some(admitted)
    }

    /// A new connection for session `id`, resumed by a request with `role` and
    /// `owner`'s token: the old connection (if any) is told to end and can no longer
    /// change the entry; the role is the lesser of the two. `None` when the session
    /// closed meanwhile.
    pub fn resume(
        &mut self,
        id: &SessionId,
        role: Role,
        owner: Option<TokenId>,
        end: watch::Sender<bool>,
        now: Instant,
    ) -> Option<Admitted> {
        let e = self.entries.get_mut(id)?;
        e.generation += 1;
        let _ = std::mem::replace(&mut e.end, end).send(true);
        e.role = lesser(e.role, role);
        e.state = SessionState::Connecting;
        e.since = now;
        if let Some(t) = owner.filter(|t| !e.owners.contains(t)) {
            e.owners.push(t);
        }
        Some(Admitted {
            id: id.clone(),
            role: e.role,
            resume_token: e.resume_token.clone(),
            client: e.client.clone(),
            generation: e.generation,
        })
    }

    /// Sets the state of session `id` if `generation` is its current connection;
    /// returns the state it left when it changed.
    pub fn set_state(
        &mut self,
        id: &SessionId,
        generation: u64,
        state: SessionState,
        now: Instant,
    ) -> Option<SessionState> {
        let e = self
            .entries
            .get_mut(id)
            .filter(|e| e.generation == generation && e.state != state)?;
        let from = std::mem::replace(&mut e.state, state);
        e.since = now;
        Some(from)
    }

    /// When session `id`'s current connection (`generation`), pending, stops being
    /// resumable: `None` unless it is pending.
    pub fn resume_deadline(&self, id: &SessionId, generation: u64) -> Option<Instant> {
        self.entries
            .get(id)
            .filter(|e| e.generation == generation && e.state == SessionState::Pending)
            .map(|e| e.since + self.resume_grace)
    }

    /// Removes the sessions pending for the whole grace by `now`; returns them.
    pub fn expire(&mut self, now: Instant) -> Vec<SessionId> {
        let grace = self.resume_grace;
        let expired: Vec<SessionId> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.state == SessionState::Pending && now.saturating_duration_since(e.since) >= grace
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            self.entries.remove(id);
        }
        expired
    }

    /// Ends session `id` for `caller`: the token that created (or resumed) it, or a
    /// controller's. Without tokens every caller is a controller: the session id
    /// itself, which only its client is told, is what guards it.
    pub fn delete(&mut self, id: &SessionId, caller: &Caller) -> Result<(), DeleteError> {
        let Some(entry) = self.entries.get(id) else {
            return Err(DeleteError::NotFound(id.0.clone()));
        };
        let allowed = caller.role == Role::Controller
            || caller.token.is_some_and(|t| entry.owners.contains(&t));
        if !allowed {
            return Err(DeleteError::Forbidden(
                "this session was created with another token: only that token or a controller \
                 token may end it; nothing was changed"
                    .into(),
            ));
        }
        if let Some(e) = self.entries.remove(id) {
            let _ = e.end.send(true);
        }
        Ok(())
    }

    /// Forgets every session (on shutdown: their connections end on the signal itself).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// How long a dropped session waits to be resumed.
    pub fn resume_grace(&self) -> Duration {
        self.resume_grace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(10);

    fn end() -> (watch::Sender<bool>, watch::Receiver<bool>) {
        watch::channel(false)
    }

    fn id(s: &str) -> SessionId {
        SessionId(s.to_owned())
    }

    #[test]
    fn session_states_follow_the_peer_connection() {
        use RTCPeerConnectionState as P;
        let expected = [
            (P::New, Some(SessionState::Connecting)),
            (P::Connecting, Some(SessionState::Connecting)),
            (P::Connected, Some(SessionState::Connected)),
            (P::Disconnected, Some(SessionState::Pending)),
            (P::Failed, Some(SessionState::Pending)),
            (P::Closed, None),
        ];
        for (peer, state) in expected {
            assert_eq!(SessionState::of_peer(peer), state, "{peer:?}");
        }
        assert_eq!(lesser(Role::Controller, Role::Viewer), Role::Viewer);
        assert_eq!(lesser(Role::Controller, Role::Controller), Role::Controller);
    }

    #[test]
    fn a_full_table_admits_no_new_session_but_still_resumes() {
        let t0 = Instant::now();
        let mut table = Table::new(2, GRACE);
        let a = table
            .admit(id("a"), Role::Viewer, "main", None, end().0, t0)
            .unwrap();
        table
            .admit(id("b"), Role::Viewer, "main", None, end().0, t0)
            .unwrap();
        assert!(table.is_full());
        assert_eq!(
            table.admit(id("c"), Role::Viewer, "main", None, end().0, t0),
            None
        );
        assert_eq!(table.len(), 2);
        let found = table.resumable(&a.resume_token).unwrap();
        assert_eq!(found.id, id("a"));
        let again = table
            .resume(&found.id, Role::Controller, None, end().0, t0)
            .unwrap();
        assert_eq!((again.generation, again.client), (1, a.client));
        assert_eq!(table.resumable("not a token"), None);
    }

    #[test]
    fn a_dropped_session_waits_the_grace_then_expires_unless_resumed() {
        let t0 = Instant::now();
        let mut table = Table::new(8, GRACE);
        let a = table
            .admit(id("a"), Role::Controller, "main", None, end().0, t0)
            .unwrap();
        table
            .admit(id("b"), Role::Viewer, "main", None, end().0, t0)
            .unwrap();
        let connected = t0 + Duration::from_secs(1);
        for s in ["a", "b"] {
            table.set_state(&id(s), 0, SessionState::Connected, connected);
        }
        let dropped = t0 + Duration::from_secs(2);
        assert_eq!(
            table.set_state(&id("a"), 0, SessionState::Pending, dropped),
            Some(SessionState::Connected)
        );
        table.set_state(&id("b"), 0, SessionState::Pending, dropped);
        assert_eq!(table.resume_deadline(&id("a"), 0), Some(dropped + GRACE));
        // A connected session never expires; a pending one only at its deadline.
        assert!(table
            .expire(dropped + GRACE - Duration::from_millis(1))
            .is_empty());
        let info = table.list(dropped + Duration::from_secs(3));
        assert_eq!(info[0].state, SessionState::Pending);
        assert_eq!(info[0].seconds_in_state, 3.0);
        // `a` resumes just before its deadline: the new connection is generation 1,
        // and the old one can no longer change the entry.
        let resumed_at = dropped + GRACE - Duration::from_millis(2);
        let r = table
            .resume(&id("a"), Role::Viewer, None, end().0, resumed_at)
            .unwrap();
        assert_eq!(
            (r.generation, r.role, r.resume_token),
            (1, Role::Viewer, a.resume_token)
        );
        assert_eq!(
            table.set_state(&id("a"), 0, SessionState::Pending, resumed_at),
            None
        );
        assert_eq!(
            table.expire(dropped + GRACE),
            vec![id("b")],
            "only the session nobody resumed expires"
        );
        // The resumed connection drops too: a new grace from that moment.
        let dropped_again = resumed_at + Duration::from_secs(1);
        table.set_state(&id("a"), 1, SessionState::Pending, dropped_again);
        assert!(table.expire(dropped_again + GRACE / 2).is_empty());
        assert_eq!(table.expire(dropped_again + GRACE), vec![id("a")]);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn resuming_ends_the_previous_connection() {
        let t0 = Instant::now();
        let mut table = Table::new(8, GRACE);
        let (first_end, mut first) = end();
        table
            .admit(id("a"), Role::Viewer, "main", None, first_end, t0)
            .unwrap();
        let (second_end, second) = end();
        table
            .resume(&id("a"), Role::Viewer, None, second_end, t0)
            .unwrap();
        assert!(*first.borrow_and_update());
        assert!(!*second.borrow());
    }

    #[test]
    fn only_an_owner_or_a_controller_deletes_a_session() {
        let t0 = Instant::now();
        let mut table = Table::new(8, GRACE);
        let tokens = ["viewer-token-one-0123456789", "viewer-token-two-0123456789"];
        let access = signaling::Access::new(tokens.map(String::from), []).unwrap();
        let viewer = |i: usize| access.caller(Some(tokens[i])).unwrap();
        let (viewer_a, viewer_b) = (viewer(0).token, viewer(1).token);
        assert_ne!(viewer_a, viewer_b);
        let (e, ended) = end();
        table
            .admit(id("a"), Role::Viewer, "main", viewer_a, e, t0)
            .unwrap();
        assert!(matches!(
            table.delete(&id("a"), &viewer(1)),
            Err(DeleteError::Forbidden(_))
        ));
        assert_eq!(table.len(), 1, "a refused delete changes nothing");
        assert!(!*ended.borrow());
        // A viewer token that resumed the session owns it too.
        table
            .resume(&id("a"), Role::Viewer, viewer_b, end().0, t0)
            .unwrap();
        table.delete(&id("a"), &viewer(1)).unwrap();
        assert!(matches!(
            table.delete(&id("a"), &Caller::OPEN),
            Err(DeleteError::NotFound(_))
        ));
        let (e, mut ended) = end();
        table
            .admit(id("b"), Role::Viewer, "main", viewer_a, e, t0)
            .unwrap();
        table.delete(&id("b"), &Caller::OPEN).unwrap();
        assert!(*ended.borrow_and_update(), "its connection is told to end");
    }
}
