//! What every service shares: the accept loop with its connection cap, idle and session
//! timeouts, and [`Conn`], a connection whose reads are all bounded.
//!
//! Each service implements [`Handler`]; the loop emits `connect` and `disconnect` for it,
//! so a service only reports what the peer said. UDP ports are served by [`crate::udp`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;

use crate::event::{Emitter, Event};
use crate::udp::{Datagram, Gate, UdpLimits};

/// The bounds every connection lives within.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Concurrent connections per service; the excess is accepted and closed at once.
    pub max_conns: usize,
    /// Longest silence from the peer before the connection is dropped.
    pub idle: Duration,
    /// Longest life of one connection.
    pub session: Duration,
    /// Longest protocol line (or single protocol field).
    pub line_max: usize,
    /// Longest body or message a service reads.
    pub body_max: usize,
    /// Pause before a failed login is answered, as real servers do (PAM's ~1 s).
    pub auth_delay: Duration,
    /// Rates and reply sizes of UDP ports.
    pub udp: UdpLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_conns: 256,
            idle: Duration::from_secs(60),
            session: Duration::from_secs(300),
            line_max: 8 * 1024,
            body_max: 64 * 1024,
            auth_delay: Duration::from_millis(1000),
            udp: UdpLimits::default(),
        }
    }
}

/// Who is on the other end, and where to report what they do.
#[derive(Clone)]
pub struct Session {
    pub service: &'static str,
    pub peer: SocketAddr,
    emitter: Emitter,
}

impl Session {
    pub fn new(service: &'static str, peer: SocketAddr, emitter: Emitter) -> Self {
        Session {
            service,
            peer,
            emitter,
        }
    }

    pub fn emit(&self, event: Event) {
        self.emitter.emit(self.service, self.peer, event);
    }
}

/// Any byte stream a handler can talk over (TCP, TLS over TCP, an in-memory pipe in tests).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

pub type BoxIo = Box<dyn Io>;

/// Buffer of the reader of each connection: small, because hundreds may be open.
const READ_BUF: usize = 2048;

fn too_long(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what} too long"))
}

/// One accepted connection: bounded reads, flushed writes, and its [`Session`].
pub struct Conn {
    io: BufReader<BoxIo>,
    pub session: Session,
    pub limits: Limits,
    /// Whether the listener wrapped this connection in TLS.
    pub tls: bool,
    /// Position of the port it came in on in the service's catalogue entry.
    pub port: usize,
}

impl Conn {
    pub fn new(io: BoxIo, session: Session, limits: Limits) -> Self {
        Conn {
            io: BufReader::with_capacity(READ_BUF, io),
            session,
            limits,
            tls: false,
            port: 0,
        }
    }

    pub fn emit(&self, event: Event) {
        self.session.emit(event);
    }

    /// Next line without its `\n` (and `\r`); `None` at end of stream. A line longer than
    /// `limits.line_max` is an `InvalidData` error: the caller answers and closes.
    pub async fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        let max = self.limits.line_max;
        self.read_line_max(max).await
    }

    pub async fn read_line_max(&mut self, max: usize) -> io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        loop {
            let buf = self.io.fill_buf().await?;
            if buf.is_empty() {
                // A last line without a newline still counts (telnet clients, `nc -q`).
                return Ok((!line.is_empty()).then_some(line));
            }
            let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            if line.len() + chunk.len() > max {
                return Err(too_long("line"));
            }
            line.extend_from_slice(chunk);
            let used = done.unwrap_or(chunk.len());
            self.io.consume(used);
            if done.is_some() {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
        }
    }

    /// Exactly `n` bytes; `n` above `limits.body_max` is refused before anything is read.
    pub async fn read_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if n > self.limits.body_max {
            return Err(too_long("message"));
        }
        let mut buf = vec![0; n];
        self.io.read_exact(&mut buf).await?;
        Ok(buf)
    }

    pub async fn read_u8(&mut self) -> io::Result<u8> {
        self.io.read_u8().await
    }

    /// Whatever is available (at most the read buffer); empty at end of stream.
    pub async fn read_some(&mut self) -> io::Result<Vec<u8>> {
        let buf = self.io.fill_buf().await?;
        let out = buf.to_vec();
        self.io.consume(out.len());
        Ok(out)
    }

    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.get_mut().write_all(bytes).await?;
        self.io.get_mut().flush().await
    }

    pub async fn shutdown(&mut self) {
        // The peer may be gone already; nothing to report.
        let _ = self.io.get_mut().shutdown().await;
    }

    /// Waits `limits.auth_delay` (the pause before a failed login is answered).
    pub async fn auth_pause(&mut self) {
        if !self.limits.auth_delay.is_zero() {
            tokio::time::sleep(self.limits.auth_delay).await;
        }
    }

    /// The raw stream, for protocols run by a library (SSH). Nothing has been read yet
    /// when a handler calls this first, so no buffered byte is lost.
    pub fn into_io(self) -> BoxIo {
        self.io.into_inner()
    }
}

/// A stream that fails with `TimedOut` once the peer has been silent for `idle`
/// (no byte received, or a write blocked that long).
pub struct IdleStream<S> {
    inner: S,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> IdleStream<S> {
    pub fn new(inner: S, idle: Duration) -> Self {
        IdleStream {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "peer idle")
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                let next = tokio::time::Instant::now() + this.idle;
                this.deadline.as_mut().reset(next);
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }
}

/// A stream that fails once its [`KillGuard`] is dropped. Protocols run by a library in a
/// task of its own (russh) get one, so the session timeout and the connection cap, which
/// end our handler, also end the library's task and close the socket.
pub struct Killable<S> {
    inner: S,
    state: Arc<KillState>,
}

#[derive(Default)]
struct KillState {
    killed: std::sync::atomic::AtomicBool,
    waker: std::sync::Mutex<Option<std::task::Waker>>,
}

pub struct KillGuard(Arc<KillState>);

impl Drop for KillGuard {
    fn drop(&mut self) {
        self.0
            .killed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let waker = self
            .0
            .waker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<S> Killable<S> {
    pub fn new(inner: S) -> (Self, KillGuard) {
        let state = Arc::new(KillState::default());
        (
            Killable {
                inner,
                state: state.clone(),
            },
            KillGuard(state),
        )
    }

    /// `Err` once killed; otherwise remembers who to wake when that happens.
    fn check(&self, cx: &Context<'_>) -> io::Result<()> {
        let mut slot = self.state.waker.lock().unwrap_or_else(|e| e.into_inner());
        if self.state.killed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "session over"));
        }
        match slot.as_ref() {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Killable<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Killable<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A fake service: talks to one peer until either side is done (TCP), or answers one
/// datagram (UDP). A service implements the side(s) its ports speak.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, conn: Conn) -> impl Future<Output = io::Result<()>> + Send {
        // A UDP-only service: nothing to say over a stream.
        async move {
            drop(conn);
            Ok(())
        }
    }

    /// The replies to one datagram, for its source; emits the events itself. Replies past
    /// `dg.budget` bytes in all are not sent.
    fn datagram(&self, dg: &Datagram<'_>) -> Vec<Vec<u8>> {
        let _ = dg;
        Vec::new()
    }
}

/// A bound socket: a TCP listener or a UDP socket.
pub enum Socket {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl Socket {
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Socket::Tcp(s) => s.local_addr(),
            Socket::Udp(s) => s.local_addr(),
        }
    }

    pub fn is_udp(&self) -> bool {
        matches!(self, Socket::Udp(_))
    }
}

/// One listening socket of a service, with TLS for the ports that speak it (443, 993, ...).
pub struct Listener {
    pub socket: Socket,
    pub tls: Option<TlsAcceptor>,
    /// Position of the port in the service's catalogue entry.
    pub index: usize,
}

/// Shared by every port of one service.
pub struct ServiceCtx {
    pub service: &'static str,
    pub emitter: Emitter,
    pub limits: Limits,
    slots: Arc<Semaphore>,
}

impl ServiceCtx {
    pub fn new(service: &'static str, emitter: Emitter, limits: Limits) -> Arc<Self> {
        Arc::new(ServiceCtx {
            service,
            emitter,
            limits,
            slots: Arc::new(Semaphore::new(limits.max_conns)),
        })
    }
}

/// Serves every listener until the process ends.
pub async fn serve_all<H: Handler>(
    listeners: Vec<Listener>,
    handler: Arc<H>,
    ctx: Arc<ServiceCtx>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    let gate = Arc::new(std::sync::Mutex::new(Gate::new(ctx.limits.udp)));
    for Listener { socket, tls, index } in listeners {
        match socket {
            Socket::Tcp(socket) => {
                tasks.spawn(accept_loop(
                    socket,
                    tls,
                    index,
                    handler.clone(),
                    ctx.clone(),
                ));
            }
            Socket::Udp(socket) => {
                let (h, c, g) = (handler.clone(), ctx.clone(), gate.clone());
                tasks.spawn(crate::udp::serve(socket, index, h, c, g));
            }
        }
    }
    while tasks.join_next().await.is_some() {}
}

async fn accept_loop<H: Handler>(
    socket: TcpListener,
    tls: Option<TlsAcceptor>,
    index: usize,
    handler: Arc<H>,
    ctx: Arc<ServiceCtx>,
) {
    loop {
        let (stream, peer) = match socket.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE, ECONNABORTED, ...: transient; back off instead of spinning.
                eprintln!("decnet-decoy: {}: accept failed: {e}", ctx.service);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = ctx.slots.clone().try_acquire_owned() else {
            // Over the cap: closing at once costs nothing and keeps memory flat.
            drop(stream);
            continue;
        };
        let handler = handler.clone();
        let ctx = ctx.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            run_conn(stream, peer, tls, index, &*handler, &ctx).await;
            drop(permit);
        });
    }
}

async fn run_conn<H: Handler>(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    index: usize,
    handler: &H,
    ctx: &ServiceCtx,
) {
    let _ = stream.set_nodelay(true);
    let session = Session::new(ctx.service, peer, ctx.emitter.clone());
    session.emit(Event::connect());
    let started = Instant::now();
    let limits = ctx.limits;
    let io = IdleStream::new(stream, limits.idle);
    let work = async {
        let is_tls = tls.is_some();
        let io: BoxIo = match tls {
            Some(acceptor) => match acceptor.accept(io).await {
                Ok(tls) => Box::new(tls),
                Err(_) => return "tls_error",
            },
            None => Box::new(io),
        };
        let mut conn = Conn::new(io, session.clone(), limits);
        conn.tls = is_tls;
        conn.port = index;
        match handler.handle(conn).await {
            Ok(()) => "closed",
            Err(e) if e.kind() == io::ErrorKind::TimedOut => "idle_timeout",
            Err(_) => "error",
        }
    };
    let reason = tokio::time::timeout(limits.session, work)
        .await
        .unwrap_or("session_timeout");
    session.emit(
        Event::disconnect()
            .field("duration_ms", started.elapsed().as_millis() as u64)
            .field("reason", reason),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    fn conn_over(bytes: &[u8], limits: Limits) -> Conn {
        let (mut client, server) = duplex(64 * 1024);
        let bytes = bytes.to_vec();
        tokio::spawn(async move {
            let _ = client.write_all(&bytes).await;
            let _ = client.shutdown().await;
            // Keep the pipe open until the test reads it all.
            let mut sink = Vec::new();
            let _ = client.read_to_end(&mut sink).await;
        });
        let (em, _rx) = Emitter::channel("t");
        let session = Session::new("t", "127.0.0.1:1".parse().unwrap(), em);
        Conn::new(Box::new(server), session, limits)
    }

    #[tokio::test]
    async fn lines_are_split_and_bounded() {
        let limits = Limits {
            line_max: 8,
            ..Limits::default()
        };
        let mut c = conn_over(b"USER a\r\nPASS b\nlast", limits);
        assert_eq!(c.read_line().await.unwrap().unwrap(), b"USER a");
        assert_eq!(c.read_line().await.unwrap().unwrap(), b"PASS b");
        assert_eq!(c.read_line().await.unwrap().unwrap(), b"last");
        assert!(c.read_line().await.unwrap().is_none());

        let mut c = conn_over(b"0123456789\n", limits);
        let err = c.read_line().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn oversized_reads_are_refused_before_reading() {
        let limits = Limits {
            body_max: 4,
            ..Limits::default()
        };
        let mut c = conn_over(b"abcdef", limits);
        assert!(c.read_exact(5).await.is_err());
        assert_eq!(c.read_exact(4).await.unwrap(), b"abcd");
    }

    #[tokio::test]
    async fn killed_streams_fail_and_wake_their_reader() {
        let (_client, server) = duplex(64);
        let (mut s, guard) = Killable::new(server);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 1];
            s.read(&mut buf).await
        });
        tokio::task::yield_now().await;
        drop(guard);
        let res = tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("reader woken")
            .expect("no panic");
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn silent_peers_time_out() {
        let (_client, server) = duplex(64);
        let mut s = IdleStream::new(server, Duration::from_secs(60));
        let mut buf = [0u8; 1];
        let err = s.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
