//! A userspace link emulator: a UDP relay between a client and a server that loses,
//! rate-limits and delays packets, for tests of streaming over a constrained network
//! (the kernel here has no `netem`).
//!
//! The relay owns two sockets on `127.0.0.1`. Socket A faces the client: the client
//! sends to A and receives from A. Socket B faces the server: the server sends to B and
//! receives from B. What the client sends to A goes out of B to the server, impaired by
//! the upstream [`LinkConditions`]; what the server sends to B goes out of A to the
//! client, impaired by the downstream ones. With both SDPs rewritten to name the relay
//! (see [`crate::client::ViewerOptions::link`]), every packet, ICE checks included,
//! crosses it.
//!
//! Each direction models a bottleneck link: a packet is first lost at random (a seeded
//! generator, so runs are reproducible), then queued behind the packets still being
//! serialised at `rate_bps` (drop-tail once it would wait longer than `queue`), then
//! delivered `delay` after it leaves the bottleneck. Rates and byte counts are of UDP
//! payloads; IP and UDP headers are not modelled.
//!
//! Length: About 750 lines: the relay's queue, rate, loss and delay per direction share
//! one clock and one packet path; about a quarter is its own tests.

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How one direction of the link treats packets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConditions {
    /// Bottleneck rate in bits per second of UDP payload; `None` for no limit.
    pub rate_bps: Option<u64>,
    /// Probability, 0 to 1, that a packet is lost before the bottleneck.
    pub loss: f64,
    /// Constant propagation delay added after the bottleneck.
    pub delay: Duration,
    /// Longest a packet may wait in the bottleneck's queue (its own serialisation
    /// included); a packet that would wait longer is dropped (drop-tail). Only applies
    /// with a `rate_bps`.
    pub queue: Duration,
    /// Seed of the loss generator.
    pub seed: u64,
}

impl LinkConditions {
    /// The queue limit of [`LinkConditions::ideal`].
    pub const DEFAULT_QUEUE: Duration = Duration::from_millis(200);

    /// No loss, no rate limit, no delay.
    pub fn ideal() -> LinkConditions {
        LinkConditions {
            rate_bps: None,
            loss: 0.0,
            delay: Duration::ZERO,
            queue: Self::DEFAULT_QUEUE,
            seed: 1,
        }
    }

    pub fn with_rate(self, rate_bps: u64) -> LinkConditions {
        LinkConditions {
            rate_bps: Some(rate_bps),
            ..self
        }
    }

    pub fn with_loss(self, loss: f64) -> LinkConditions {
        LinkConditions { loss, ..self }
    }

    pub fn with_delay(self, delay: Duration) -> LinkConditions {
        LinkConditions { delay, ..self }
    }

    pub fn with_queue(self, queue: Duration) -> LinkConditions {
        LinkConditions { queue, ..self }
    }

    pub fn with_seed(self, seed: u64) -> LinkConditions {
        LinkConditions { seed, ..self }
    }
}

impl Default for LinkConditions {
    fn default() -> Self {
        LinkConditions::ideal()
    }
}

/// The conditions of both directions of a link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// Server to client.
    pub down: LinkConditions,
    /// Client to server.
    pub up: LinkConditions,
}

impl Link {
    /// A link that changes nothing (but still relays every packet).
    pub fn ideal() -> Link {
        Link::symmetric(LinkConditions::ideal())
    }

    /// The same conditions both ways; the upstream loss generator gets a different seed
    /// so the two directions do not lose the same packet numbers.
    pub fn symmetric(conditions: LinkConditions) -> Link {
        Link {
            down: conditions,
            up: LinkConditions {
                seed: upstream_seed(conditions.seed),
                ..conditions
            },
        }
    }

    /// Downstream limited to `rate_bps`, both directions losing `loss` of their packets.
    pub fn limited(rate_bps: u64, loss: f64, seed: u64) -> Link {
        let lossy = LinkConditions::ideal().with_loss(loss).with_seed(seed);
        Link {
            down: lossy.with_rate(rate_bps),
            up: lossy.with_seed(upstream_seed(seed)),
        }
    }

    /// Only the downstream direction loses `loss` of its packets.
    pub fn lossy_downstream(loss: f64, seed: u64) -> Link {
        Link {
            down: LinkConditions::ideal().with_loss(loss).with_seed(seed),
            up: LinkConditions::ideal(),
        }
    }
}

fn upstream_seed(seed: u64) -> u64 {
    seed ^ 0x5bd1_e995_5bd1_e995
}

/// Which way packets travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Server to client.
    Down,
    /// Client to server.
    Up,
}

/// Counters of one direction. Every packet received ends up forwarded, lost, dropped
/// by the queue or unroutable, or is still in flight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Packets (and their bytes) that reached the relay.
    pub received_packets: u64,
    pub received_bytes: u64,
    /// Packets sent on to their destination.
    pub forwarded_packets: u64,
    pub forwarded_bytes: u64,
    /// Packets lost at random.
    pub lost_packets: u64,
    pub lost_bytes: u64,
    /// Packets dropped because the bottleneck queue was full.
    pub overflow_packets: u64,
    pub overflow_bytes: u64,
    /// Packets that could not be sent: no destination known yet, or a socket error.
    pub unroutable_packets: u64,
}

/// Counters of both directions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    pub down: DirectionStats,
    pub up: DirectionStats,
}

/// How long delivery logs are kept.
const LOG_SPAN: Duration = Duration::from_secs(120);

#[derive(Default)]
struct PathCounters {
    received_packets: AtomicU64,
    received_bytes: AtomicU64,
    forwarded_packets: AtomicU64,
    forwarded_bytes: AtomicU64,
    lost_packets: AtomicU64,
    lost_bytes: AtomicU64,
    overflow_packets: AtomicU64,
    overflow_bytes: AtomicU64,
    unroutable_packets: AtomicU64,
    /// When each forwarded packet was sent and its size, for the last `LOG_SPAN`.
    log: Mutex<VecDeque<(Instant, usize)>>,
}

impl PathCounters {
    fn snapshot(&self) -> DirectionStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DirectionStats {
            received_packets: get(&self.received_packets),
            received_bytes: get(&self.received_bytes),
            forwarded_packets: get(&self.forwarded_packets),
            forwarded_bytes: get(&self.forwarded_bytes),
            lost_packets: get(&self.lost_packets),
            lost_bytes: get(&self.lost_bytes),
            overflow_packets: get(&self.overflow_packets),
            overflow_bytes: get(&self.overflow_bytes),
            unroutable_packets: get(&self.unroutable_packets),
        }
    }

    fn delivered(&self, at: Instant, bytes: usize) {
        self.forwarded_packets.fetch_add(1, Ordering::Relaxed);
        self.forwarded_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        let mut log = lock(&self.log);
        while log
            .front()
            .is_some_and(|(t, _)| at.duration_since(*t) > LOG_SPAN)
        {
            log.pop_front();
        }
        log.push_back((at, bytes));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a socket's packets go; learnt from the first packet if not set.
type Peer = Arc<Mutex<Option<SocketAddr>>>;

/// A running relay. Dropping it stops its tasks and closes its sockets.
pub struct Relay {
    client_facing: SocketAddr,
    server_facing: SocketAddr,
    client: Peer,
    server: Peer,
    down: Arc<PathCounters>,
    up: Arc<PathCounters>,
    /// While set, every packet in both directions is lost: a loss burst.
    blackout: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Relay {
    /// Starts a relay between `client_addr` and `server_addr`. Must be called within a
    /// Tokio runtime.
    pub fn start(
        client_addr: SocketAddr,
        server_addr: SocketAddr,
        down: LinkConditions,
        up: LinkConditions,
    ) -> io::Result<Relay> {
        let relay = Relay::bind(down, up)?;
        relay.set_client_addr(client_addr);
        relay.set_server_addr(server_addr);
        Ok(relay)
    }

    /// Starts a relay whose ends are not known yet: set them with
    /// [`Relay::set_client_addr`] and [`Relay::set_server_addr`]. Until then, each side
    /// takes the source of the first packet it receives as its peer, and packets with
    /// nowhere to go are counted as unroutable. Must be called within a Tokio runtime.
    pub fn bind(down: LinkConditions, up: LinkConditions) -> io::Result<Relay> {
        let open = || -> io::Result<Arc<UdpSocket>> {
            let socket = StdUdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
            socket.set_nonblocking(true)?;
            Ok(Arc::new(UdpSocket::from_std(socket)?))
        };
        let (a, b) = (open()?, open()?);
        let (client_facing, server_facing) = (a.local_addr()?, b.local_addr()?);
        let client: Peer = Arc::default();
        let server: Peer = Arc::default();
        let down_counters = Arc::new(PathCounters::default());
        let up_counters = Arc::new(PathCounters::default());
        let blackout = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::with_capacity(4);
        // Upstream: in at A from the client, out of B to the server.
        let (tx, rx) = mpsc::unbounded_channel();
        tasks.push(tokio::spawn(ingress(
            a.clone(),
            client.clone(),
            up,
            up_counters.clone(),
            blackout.clone(),
            tx,
        )));
        tasks.push(tokio::spawn(egress(
            b.clone(),
            server.clone(),
            up_counters.clone(),
            rx,
        )));
        // Downstream: in at B from the server, out of A to the client.
        let (tx, rx) = mpsc::unbounded_channel();
        tasks.push(tokio::spawn(ingress(
            b,
            server.clone(),
            down,
            down_counters.clone(),
            blackout.clone(),
            tx,
        )));
        tasks.push(tokio::spawn(egress(
            a,
            client.clone(),
            down_counters.clone(),
            rx,
        )));
        Ok(Relay {
            client_facing,
            server_facing,
            client,
            server,
            down: down_counters,
            up: up_counters,
            blackout,
            tasks,
        })
    }

    /// Starts (`true`) or ends a loss burst: while it lasts, every packet in both
    /// directions is lost (and counted so), as when a link drops out for a while.
    pub fn set_blackout(&self, on: bool) {
        self.blackout.store(on, Ordering::Relaxed);
    }

    /// Socket A: the address the client sends to and receives from.
    pub fn client_facing_addr(&self) -> SocketAddr {
        self.client_facing
    }

    /// Socket B: the address the server sends to and receives from.
    pub fn server_facing_addr(&self) -> SocketAddr {
        self.server_facing
    }

    /// Sets where downstream packets go.
    pub fn set_client_addr(&self, addr: SocketAddr) {
        *lock(&self.client) = Some(addr);
    }

    /// Sets where upstream packets go.
    pub fn set_server_addr(&self, addr: SocketAddr) {
        *lock(&self.server) = Some(addr);
    }

    pub fn client_addr(&self) -> Option<SocketAddr> {
        *lock(&self.client)
    }

    pub fn server_addr(&self) -> Option<SocketAddr> {
        *lock(&self.server)
    }

    /// Counters of both directions.
    pub fn stats(&self) -> RelayStats {
        RelayStats {
            down: self.down.snapshot(),
            up: self.up.snapshot(),
        }
    }

    fn path(&self, direction: Direction) -> &PathCounters {
        match direction {
            Direction::Down => &self.down,
            Direction::Up => &self.up,
        }
    }

    /// When each packet of the last two minutes was delivered in `direction`, and its
    /// payload size in bytes, oldest first.
    pub fn delivery_log(&self, direction: Direction) -> Vec<(Instant, usize)> {
        lock(&self.path(direction).log).iter().copied().collect()
    }

    /// Payload bytes delivered in `direction` during the last `window` (at most two
    /// minutes).
    pub fn delivered_bytes(&self, direction: Direction, window: Duration) -> u64 {
        let now = Instant::now();
        lock(&self.path(direction).log)
            .iter()
            .rev()
            .take_while(|(t, _)| now.duration_since(*t) <= window)
            .map(|(_, n)| *n as u64)
            .sum()
    }

    /// Payload bits per second delivered in `direction` over the last `window`. A relay
    /// younger than `window` still divides by all of it.
    pub fn delivered_bitrate(&self, direction: Direction, window: Duration) -> f64 {
        self.delivered_bytes(direction, window) as f64 * 8.0 / window.as_secs_f64()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// SplitMix64: small, fast and good enough to decide losses.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A packet scheduled to leave the relay at an instant.
type Scheduled = (Instant, Vec<u8>);

/// Receives packets on `socket`, applies loss and the bottleneck, and schedules the
/// survivors for the egress task, in order.
async fn ingress(
    socket: Arc<UdpSocket>,
    source: Peer,
    conditions: LinkConditions,
    counters: Arc<PathCounters>,
    blackout: Arc<AtomicBool>,
    out: mpsc::UnboundedSender<Scheduled>,
) {
    let mut rng = Rng(conditions.seed);
    let mut link_free_at = Instant::now();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(_) => {
                // An error for an earlier send (e.g. ICMP unreachable); keep going, but
                // never spin.
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        let now = Instant::now();
        lock(&source).get_or_insert(from);
        counters.received_packets.fetch_add(1, Ordering::Relaxed);
        counters
            .received_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
        let lost = conditions.loss > 0.0 && rng.next_f64() < conditions.loss;
        if lost || blackout.load(Ordering::Relaxed) {
            counters.lost_packets.fetch_add(1, Ordering::Relaxed);
            counters.lost_bytes.fetch_add(n as u64, Ordering::Relaxed);
            continue;
        }
        let leaves = match conditions.rate_bps {
            Some(rate) => {
                let serialization = Duration::from_secs_f64(n as f64 * 8.0 / rate.max(1) as f64);
                let leaves = link_free_at.max(now) + serialization;
                if leaves - now > conditions.queue {
                    counters.overflow_packets.fetch_add(1, Ordering::Relaxed);
                    counters
                        .overflow_bytes
                        .fetch_add(n as u64, Ordering::Relaxed);
                    continue;
                }
                link_free_at = leaves;
                leaves
            }
            None => now,
        };
        if out
            .send((leaves + conditions.delay, buf[..n].to_vec()))
            .is_err()
        {
            return;
        }
    }
}

/// Sends each scheduled packet from `socket` to `destination` at its instant.
async fn egress(
    socket: Arc<UdpSocket>,
    destination: Peer,
    counters: Arc<PathCounters>,
    mut scheduled: mpsc::UnboundedReceiver<Scheduled>,
) {
    while let Some((at, packet)) = scheduled.recv().await {
        if at > Instant::now() {
            tokio::time::sleep_until(at.into()).await;
        }
        let to = *lock(&destination);
        let sent = match to {
            Some(to) => socket.send_to(&packet, to).await.is_ok(),
            None => false,
        };
        if sent {
            counters.delivered(Instant::now(), packet.len());
        } else {
            counters.unroutable_packets.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn socket() -> Arc<UdpSocket> {
        Arc::new(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap())
    }

    /// Collects on `socket` in the background (a socket not read while packets arrive
    /// overflows its buffer).
    fn collecting(
        socket: &Arc<UdpSocket>,
        quiet: Duration,
    ) -> JoinHandle<Vec<(Instant, SocketAddr, u32)>> {
        let socket = socket.clone();
        tokio::spawn(async move { collect(&socket, quiet).await })
    }

    fn numbered(i: u32, size: usize) -> Vec<u8> {
        let mut p = vec![0u8; size.max(4)];
        p[..4].copy_from_slice(&i.to_be_bytes());
        p
    }

    /// Receives numbered packets until `quiet` passes without one.
    async fn collect(socket: &UdpSocket, quiet: Duration) -> Vec<(Instant, SocketAddr, u32)> {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Ok(Ok((n, from))) = tokio::time::timeout(quiet, socket.recv_from(&mut buf)).await
        {
            assert!(n >= 4);
            let i = u32::from_be_bytes(buf[..4].try_into().unwrap());
            got.push((Instant::now(), from, i));
        }
        got
    }

    /// Sends `count` numbered packets, a few at a time so no socket buffer overflows.
    async fn send_paced(socket: &UdpSocket, to: SocketAddr, count: u32, size: usize) {
        for i in 0..count {
            socket.send_to(&numbered(i, size), to).await.unwrap();
            if i % 20 == 19 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn forwards_both_ways_in_order_from_the_relay_addresses() {
        let (client, server) = (socket().await, socket().await);
        let relay = Relay::start(
            client.local_addr().unwrap(),
            server.local_addr().unwrap(),
            LinkConditions::ideal(),
            LinkConditions::ideal(),
        )
        .unwrap();
        let up = collecting(&server, Duration::from_millis(500));
        send_paced(&client, relay.client_facing_addr(), 500, 200).await;
        let up = up.await.unwrap();
        let down = collecting(&client, Duration::from_millis(500));
        send_paced(&server, relay.server_facing_addr(), 500, 300).await;
        let down = down.await.unwrap();

        let numbers =
            |got: &[(Instant, SocketAddr, u32)]| got.iter().map(|g| g.2).collect::<Vec<_>>();
        assert_eq!(numbers(&up), (0..500).collect::<Vec<_>>());
        assert_eq!(numbers(&down), (0..500).collect::<Vec<_>>());
        assert!(up.iter().all(|g| g.1 == relay.server_facing_addr()));
        assert!(down.iter().all(|g| g.1 == relay.client_facing_addr()));
        let stats = relay.stats();
        assert_eq!(stats.up.forwarded_packets, 500);
        assert_eq!(stats.up.forwarded_bytes, 500 * 200);
        assert_eq!(stats.down.forwarded_packets, 500);
        assert_eq!(stats.down.received_bytes, 500 * 300);
        assert_eq!(stats.down.lost_packets + stats.down.overflow_packets, 0);
        assert_eq!(relay.delivery_log(Direction::Down).len(), 500);
        assert_eq!(
            relay.delivered_bytes(Direction::Up, Duration::from_secs(60)),
            500 * 200
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delay_is_applied() {
        let (client, server) = (socket().await, socket().await);
        let delay = Duration::from_millis(150);
        let relay = Relay::start(
            client.local_addr().unwrap(),
            server.local_addr().unwrap(),
            LinkConditions::ideal().with_delay(delay),
            LinkConditions::ideal().with_delay(delay),
        )
        .unwrap();
        let mut buf = [0u8; 64];
        for _ in 0..3 {
            let sent = Instant::now();
            server
                .send_to(b"ping", relay.server_facing_addr())
                .await
                .unwrap();
            client.recv_from(&mut buf).await.unwrap();
            let one_way = sent.elapsed();
            client
                .send_to(b"pong", relay.client_facing_addr())
                .await
                .unwrap();
            server.recv_from(&mut buf).await.unwrap();
            let round_trip = sent.elapsed();
            assert!(one_way >= delay, "{one_way:?}");
            assert!(one_way < delay + Duration::from_secs(1), "{one_way:?}");
            assert!(round_trip >= 2 * delay, "{round_trip:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn loss_is_close_to_the_configured_fraction_and_reproducible() {
        let conditions = LinkConditions::ideal().with_loss(0.1).with_seed(42);
        let mut runs = Vec::new();
        for _ in 0..2 {
            let (client, server) = (socket().await, socket().await);
            let relay = Relay::start(
                client.local_addr().unwrap(),
                server.local_addr().unwrap(),
                LinkConditions::ideal(),
                conditions,
            )
            .unwrap();
            let got = collecting(&server, Duration::from_millis(500));
            send_paced(&client, relay.client_facing_addr(), 4000, 100).await;
            let got = got.await.unwrap();
            let stats = relay.stats().up;
            assert_eq!(stats.received_packets, 4000, "the kernel dropped packets");
            let fraction = stats.lost_packets as f64 / 4000.0;
            assert!((0.08..0.12).contains(&fraction), "lost {fraction}");
            assert_eq!(stats.forwarded_packets + stats.lost_packets, 4000);
            assert_eq!(got.len() as u64, stats.forwarded_packets);
            // Order is kept around the holes.
            assert!(got.windows(2).all(|w| w[0].2 < w[1].2));
            runs.push(got.iter().map(|g| g.2).collect::<Vec<_>>());
        }
        assert_eq!(runs[0], runs[1], "the same seed loses the same packets");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rate_limit_holds_and_the_queue_drops_the_excess() {
        let (client, server) = (socket().await, socket().await);
        let rate = 1_000_000u64;
        let queue = Duration::from_millis(200);
        let relay = Relay::start(
            client.local_addr().unwrap(),
            server.local_addr().unwrap(),
            LinkConditions::ideal().with_rate(rate).with_queue(queue),
            LinkConditions::ideal(),
        )
        .unwrap();
        // The server offers 2 Mbit/s for 2 s, in 1000-byte packets.
        let size = 1000usize;
        let offered = 2_000_000f64;
        let period = Duration::from_secs(2);
        let receiver = collecting(&client, Duration::from_secs(1));
        let start = Instant::now();
        let mut sent = 0u32;
        while start.elapsed() < period {
            let due = (start.elapsed().as_secs_f64() * offered / (size as f64 * 8.0)) as u32;
            while sent < due {
                server
                    .send_to(&numbered(sent, size), relay.server_facing_addr())
                    .await
                    .unwrap();
                sent += 1;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let sending = start.elapsed();
        // Measured at the relay over the last second of sending: the bottleneck rate.
        let recent = relay.delivered_bitrate(Direction::Down, Duration::from_secs(1));
        let got = receiver.await.unwrap();
        let stats = relay.stats().down;
        eprintln!("sent {sent} in {sending:?}, last second {recent:.0} bit/s, {stats:?}");

        assert!(
            (0.75 * rate as f64..1.2 * rate as f64).contains(&recent),
            "delivered {recent:.0} bit/s over the last second"
        );
        // Measured at the client from the first to the last packet.
        let (first, last) = (got.first().unwrap().0, got.last().unwrap().0);
        let received = (got.len() - 1) as f64 * size as f64 * 8.0;
        let client_rate = received / last.duration_since(first).as_secs_f64();
        eprintln!("client received {client_rate:.0} bit/s");
        assert!(
            (0.75 * rate as f64..1.2 * rate as f64).contains(&client_rate),
            "client received {client_rate:.0} bit/s"
        );
        // About half of what was offered could not fit and was dropped by the queue, and
        // the queue never held more than its limit: what got through is at most the
        // rate over the sending time plus one full queue.
        assert_eq!(stats.received_packets, sent as u64);
        assert!(
            stats.overflow_packets as f64 > 0.3 * sent as f64,
            "{stats:?} of {sent}"
        );
        let bound = rate as f64 / 8.0 * (sending + queue).as_secs_f64() * 1.1;
        assert!(
            (stats.forwarded_bytes as f64) < bound,
            "{stats:?}, bound {bound:.0}"
        );
        assert_eq!(got.len() as u64, stats.forwarded_packets);
        assert!(got.windows(2).all(|w| w[0].2 < w[1].2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_relay_closes_its_sockets() {
        let relay = Relay::bind(LinkConditions::ideal(), LinkConditions::ideal()).unwrap();
        let (a, b) = (relay.client_facing_addr(), relay.server_facing_addr());
        drop(relay);
        // The aborted tasks release the sockets when they next run.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if StdUdpSocket::bind(a).is_ok() && StdUdpSocket::bind(b).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "the relay's sockets stay bound");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_ends_are_learnt_from_the_first_packet() {
        let (client, server) = (socket().await, socket().await);
        let relay = Relay::bind(LinkConditions::ideal(), LinkConditions::ideal()).unwrap();
        relay.set_server_addr(server.local_addr().unwrap());
        client
            .send_to(&numbered(7, 10), relay.client_facing_addr())
            .await
            .unwrap();
        let got = collect(&server, Duration::from_millis(300)).await;
        assert_eq!(got.len(), 1);
        assert_eq!(relay.client_addr(), Some(client.local_addr().unwrap()));
        server
            .send_to(&numbered(8, 10), relay.server_facing_addr())
            .await
            .unwrap();
        let got = collect(&client, Duration::from_millis(300)).await;
        assert_eq!(got.iter().map(|g| g.2).collect::<Vec<_>>(), vec![8]);
    }
}
