//! UDP for the services that speak it (dns, tftp, snmp, llmnr, sip, conpot).
//!
//! One loop per socket reads datagrams into one reused 64 KiB buffer and hands each to the
//! service's [`Handler::datagram`], which returns the replies for the datagram's source.
//! There is no connection, so no `connect`/`disconnect`: services emit one event per
//! meaningful datagram. UDP sources are forged for free, so the loop guards both the decoy
//! and third parties:
//!
//! - a global intake rate over every datagram read: past it, reading pauses and the kernel
//!   drops the excess, so a flood costs a bounded amount of CPU;
//! - a token bucket per source (per /64 for IPv6), in a table of bounded size, and a global
//!   rate of handled datagrams, so a flood also costs bounded memory and events;
//! - replies at most `amplification` times the size of the datagram they answer (and at most
//!   `reply_max` bytes), always sent to its source: a decoy is never a useful reflector.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use crate::event::Event;
use crate::limits::{Handler, ServiceCtx, Session};

/// Read buffer: the largest UDP payload fits.
pub const DATAGRAM_MAX: usize = 64 * 1024;

/// The bounds of every UDP service.
#[derive(Clone, Copy, Debug)]
pub struct UdpLimits {
    /// Datagrams per second read in all, over which reading pauses.
    pub intake_rate: u32,
    /// Datagrams per second handled for one source, and its burst.
    pub source_rate: u32,
    pub source_burst: u32,
    /// Datagrams per second handled in all, and the burst (bounds events too).
    pub handled_rate: u32,
    pub handled_burst: u32,
    /// Sources remembered at once; the rest share one bucket.
    pub sources_max: usize,
    /// Reply bytes allowed per request byte.
    pub amplification: usize,
    /// Largest reply, whatever the request.
    pub reply_max: usize,
}

impl Default for UdpLimits {
    fn default() -> Self {
        UdpLimits {
            intake_rate: 2000,
            source_rate: 20,
            source_burst: 40,
            handled_rate: 200,
            handled_burst: 400,
            sources_max: 4096,
            amplification: 4,
            reply_max: 1400,
        }
    }
}

impl UdpLimits {
    /// The most reply bytes a datagram of `len` bytes may draw.
    pub fn budget(&self, len: usize) -> usize {
        len.saturating_mul(self.amplification).min(self.reply_max)
    }
}

/// One datagram, as a service's handler sees it.
pub struct Datagram<'a> {
    pub data: &'a [u8],
    /// Its source, and where to report.
    pub session: Session,
    /// Position of the port it arrived on in the service's catalogue entry.
    pub port: usize,
    /// The socket it arrived on.
    pub local: SocketAddr,
    /// Most bytes the replies may add up to; replies beyond it are not sent.
    pub budget: usize,
}

impl Datagram<'_> {
    pub fn emit(&self, event: Event) {
        self.session.emit(event);
    }

    pub fn peer(&self) -> SocketAddr {
        self.session.peer
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: u32, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(burst.max(1)),
            at: now,
        }
    }

    fn refill(&mut self, now: Instant, rate: u32, burst: u32) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * f64::from(rate)).min(f64::from(burst.max(1)));
        self.at = now;
    }

    fn take(&mut self, now: Instant, rate: u32, burst: u32) -> bool {
        self.refill(now, rate, burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until one token is back.
    fn wait(&self, rate: u32) -> Duration {
        let missing = (1.0 - self.tokens).max(0.0);
        Duration::from_secs_f64((missing / f64::from(rate.max(1))).min(1.0))
            .max(Duration::from_millis(1))
    }

    /// Refilled to the brim by now: forgetting it changes nothing.
    fn idle(&self, now: Instant, rate: u32, burst: u32) -> bool {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens + dt * f64::from(rate) >= f64::from(burst.max(1))
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// Over a per-source or handled rate: drop it.
    Drop,
    /// Over the intake rate: drop it and stop reading for this long.
    Pause(Duration),
}

/// The rate limits of one service, shared by its UDP sockets.
pub struct Gate {
    limits: UdpLimits,
    intake: Bucket,
    handled: Bucket,
    sources: HashMap<IpAddr, Bucket>,
    /// Shared by sources that find the table full.
    overflow: Bucket,
    swept: Option<Instant>,
}

/// IPv4 (mapped or not) by address, IPv6 by /64: one host owns a /64.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

impl Gate {
    pub fn new(limits: UdpLimits) -> Self {
        let now = Instant::now();
        Gate {
            limits,
            intake: Bucket::full(limits.intake_rate, now),
            handled: Bucket::full(limits.handled_burst, now),
            sources: HashMap::new(),
            overflow: Bucket::full(limits.source_burst, now),
            swept: None,
        }
    }

    #[cfg(test)]
    pub fn sources(&self) -> usize {
        self.sources.len()
    }

    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> Admit {
        let l = self.limits;
        if !self.intake.take(now, l.intake_rate, l.intake_rate) {
            return Admit::Pause(self.intake.wait(l.intake_rate));
        }
        let key = source_key(ip);
        if !self.sources.contains_key(&key) && self.sources.len() >= l.sources_max {
            self.sweep(now);
        }
        let bucket = if self.sources.len() < l.sources_max || self.sources.contains_key(&key) {
            self.sources
                .entry(key)
                .or_insert_with(|| Bucket::full(l.source_burst, now))
        } else {
            &mut self.overflow
        };
        if !bucket.take(now, l.source_rate, l.source_burst) {
            return Admit::Drop;
        }
        if !self.handled.take(now, l.handled_rate, l.handled_burst) {
            return Admit::Drop;
        }
        Admit::Yes
    }

    /// Forgets the sources whose bucket is full again, at most every 100 ms.
    fn sweep(&mut self, now: Instant) {
        if let Some(at) = self.swept {
            if now.saturating_duration_since(at) < Duration::from_millis(100) {
                return;
            }
        }
        self.swept = Some(now);
        let (rate, burst) = (self.limits.source_rate, self.limits.source_burst);
        self.sources.retain(|_, b| !b.idle(now, rate, burst));
    }
}

/// Serves one UDP socket until the process ends.
pub async fn serve<H: Handler>(
    socket: UdpSocket,
    port: usize,
    handler: Arc<H>,
    ctx: Arc<ServiceCtx>,
    gate: Arc<Mutex<Gate>>,
) {
    let limits = ctx.limits.udp;
    let local = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut buf = vec![0u8; DATAGRAM_MAX];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(e) => {
                // ICMP errors reported late, ENOMEM, ...: transient; back off instead of spinning.
                eprintln!("decnet-decoy: {}: recv failed: {e}", ctx.service);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let admit = gate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(peer.ip(), Instant::now());
        match admit {
            Admit::Yes => {}
            Admit::Drop => continue,
            Admit::Pause(d) => {
                tokio::time::sleep(d).await;
                continue;
            }
        }
        let Some(data) = buf.get(..n) else {
            continue;
        };
        let dg = Datagram {
            data,
            session: Session::new(ctx.service, peer, ctx.emitter.clone()),
            port,
            local,
            budget: limits.budget(n),
        };
        let replies = handler.datagram(&dg);
        let mut left = dg.budget;
        for reply in replies {
            if reply.is_empty() || reply.len() > left {
                break;
            }
            left -= reply.len();
            if socket.send_to(&reply, peer).await.is_err() {
                break;
            }
        }
    }
}

/// A fresh random value for nonces, tags and ids.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if getrandom::getrandom(&mut b).is_err() {
        // No entropy source: a time-based value still varies between requests.
        let t = crate::clock::unix_millis() as u64 ^ u64::from(std::process::id());
        for (i, x) in b.iter_mut().enumerate() {
            *x = (t.rotate_left((i as u32 * 8) % 64) & 0xff) as u8;
        }
    }
    b
}

/// The address this host would use to reach `peer` (its own IP as the peer sees it); no
/// packet is sent.
pub fn own_ip_towards(peer: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = match peer {
        IpAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = std::net::UdpSocket::bind(bind).ok()?;
    s.connect((peer, 9)).ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> UdpLimits {
        UdpLimits {
            intake_rate: 1000,
            source_rate: 10,
            source_burst: 5,
            handled_rate: 100,
            handled_burst: 50,
            sources_max: 4,
            ..UdpLimits::default()
        }
    }

    #[test]
    fn one_source_gets_its_burst_then_its_rate() {
        let mut g = Gate::new(limits());
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let admitted = (0..20).filter(|_| g.admit(ip, t0) == Admit::Yes).count();
        assert_eq!(admitted, 5);
        // 10/s: after 300 ms, 3 more.
        let t1 = t0 + Duration::from_millis(300);
        let admitted = (0..20).filter(|_| g.admit(ip, t1) == Admit::Yes).count();
        assert_eq!(admitted, 3);
        // Another source is not starved by the first.
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(g.admit(other, t1), Admit::Yes);
    }

    #[test]
    fn the_source_table_is_bounded_and_forged_sources_share_a_bucket() {
        let mut g = Gate::new(UdpLimits {
            handled_burst: 10_000,
            intake_rate: 100_000,
            ..limits()
        });
        let t0 = Instant::now();
        let mut admitted = 0;
        for i in 0..10_000u32 {
            let ip = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            if g.admit(ip, t0) == Admit::Yes {
                admitted += 1;
            }
        }
        assert_eq!(g.sources(), 4);
        // One datagram from each of 4 tracked sources, then the shared overflow burst.
        assert_eq!(admitted, 4 + 5);
        // Once idle, sources are forgotten and new ones tracked again.
        let later = t0 + Duration::from_secs(5);
        assert_eq!(g.admit("198.51.100.1".parse().unwrap(), later), Admit::Yes);
        assert!(g.sources() <= 4);
    }

    #[test]
    fn the_global_rates_cap_many_sources() {
        let mut g = Gate::new(UdpLimits {
            sources_max: 100_000,
            ..limits()
        });
        let t0 = Instant::now();
        let mut yes = 0;
        let mut pauses = 0;
        for i in 0..5000u32 {
            let ip = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            match g.admit(ip, t0) {
                Admit::Yes => yes += 1,
                Admit::Pause(d) => {
                    assert!(d <= Duration::from_secs(1));
                    pauses += 1;
                }
                Admit::Drop => {}
            }
        }
        assert_eq!(yes, 50, "handled burst");
        assert_eq!(
            pauses, 4000,
            "everything past the intake burst pauses reading"
        );
    }

    #[test]
    fn ipv6_sources_are_keyed_by_slash_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(source_key(a), source_key(b));
        let m: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(source_key(m), "10.1.2.3".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn budgets_scale_with_the_request_and_are_capped() {
        let l = UdpLimits::default();
        assert_eq!(l.budget(10), 40);
        assert_eq!(l.budget(60_000), l.reply_max);
        assert_eq!(l.budget(usize::MAX), l.reply_max);
    }

    #[test]
    fn own_ip_towards_loopback_is_loopback() {
        assert_eq!(
            own_ip_towards("127.0.0.1".parse().unwrap()),
            Some("127.0.0.1".parse().unwrap())
        );
    }
}
