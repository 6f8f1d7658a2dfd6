//! The audit adapter: the [`AuditSink`] the use cases record to. Events go through a bounded
//! queue to one writer thread that turns each into one JSON line (Elastic Common Schema field
//! names, grantd's own under `grantd.*`) on stdout or appended to a file. Recording never
//! waits: when the queue is full the event is dropped and counted
//! (`grantd_audit_dropped_total`), so a slow disk or a stalled pipe cannot slow token issuance.
//! [`AuditQueue::close`] writes out what is queued (shutdown, end of a CLI command).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use grantd_ports::{AuditEvent, AuditSink};

mod ecs;

/// How long the writer sleeps between draining the queue while events keep coming. Senders
/// never wake a sleeping writer (only one blocked on an empty queue), so under load the writer
/// costs one wake-up per tick instead of one per event; at 25,000 events/s a tick queues ~250.
const TICK: Duration = Duration::from_millis(10);

/// Longest a written line waits in the writer's buffer under a steady stream of events; when
/// the stream pauses for a [`TICK`] the buffer is written out at once (docs/benchmarks.md,
/// "Metrics and audit on vs off", has the cost). Shutdown and the end of a CLI command write
/// out everything.
const FLUSH_AFTER: Duration = Duration::from_millis(200);

/// The writer's buffer.
const BUFFER: usize = 64 * 1024;

/// A file opened for appending on the first write; an open that fails is that write's error
/// (counted and logged by the writer), and the next write tries again.
struct LazyFile {
    path: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl LazyFile {
    fn open(&mut self) -> std::io::Result<&mut std::io::BufWriter<std::fs::File>> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = match self.file.take() {
            Some(file) => file,
            None => {
                let file = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o600)
                    .open(&self.path)
                    .map_err(|e| {
                        std::io::Error::new(e.kind(), format!("{}: {e}", self.path.display()))
                    })?;
                std::io::BufWriter::with_capacity(BUFFER, file)
            }
        };
        Ok(self.file.insert(file))
    }
}

impl Write for LazyFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.open()?.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

enum Msg {
    Event(Box<AuditEvent>),
    Close,
}

/// The queue and its writer thread. The sink half ([`AuditSink`]) is what the use cases hold.
pub struct AuditQueue {
    tx: SyncSender<Msg>,
    dropped: AtomicU64,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl AuditQueue {
    /// A queue of `capacity` events in front of a thread writing JSON lines to `out`.
    pub fn start(out: Box<dyn Write + Send>, capacity: usize) -> anyhow::Result<Arc<Self>> {
        let (tx, rx) = sync_channel(capacity.max(1));
        let writer = std::thread::Builder::new()
            .name("grantd-audit".into())
            .spawn(move || write_all(&rx, out))?;
        Ok(Arc::new(Self {
            tx,
            dropped: AtomicU64::new(0),
            writer: Mutex::new(Some(writer)),
        }))
    }

    /// Appends to the file at `path`, opened (created with mode 0600 if absent) at the first
    /// event: a command that changes nothing never touches it.
    pub fn to_file(path: &Path, capacity: usize) -> anyhow::Result<Arc<Self>> {
        let file = LazyFile {
            path: path.to_owned(),
            file: None,
        };
        Self::start(Box::new(file), capacity)
    }

    pub fn to_stdout(capacity: usize) -> anyhow::Result<Arc<Self>> {
        Self::start(
            Box::new(std::io::BufWriter::with_capacity(BUFFER, std::io::stdout())),
            capacity,
        )
    }

    /// Events dropped because the queue was full (or closed).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes out every event queued so far and stops the writer; later events are dropped.
    pub fn close(&self) {
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            // Waits for room: at shutdown, completeness beats latency.
            let _ = self.tx.send(Msg::Close);
            let _ = writer.join();
        }
    }
}

impl AuditSink for AuditQueue {
    fn record(&self, event: AuditEvent) {
        match self.tx.try_send(Msg::Event(Box::new(event))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("grantd_audit_dropped_total").increment(1);
            }
        }
    }
}

/// One line per event into the writer's buffer.
struct Lines {
    out: Box<dyn Write + Send>,
    line: Vec<u8>,
    failing: bool,
    /// Lines written and not yet added to `grantd_audit_events_total`.
    uncounted: u64,
}

impl Lines {
    fn write(&mut self, event: &AuditEvent) {
        self.line.clear();
        ecs::write(event, &mut self.line);
        self.line.push(b'\n');
        match self.out.write_all(&self.line) {
            Ok(()) => {
                self.failing = false;
                self.uncounted += 1;
            }
            Err(e) => {
                metrics::counter!("grantd_audit_write_errors_total").increment(1);
                if !self.failing {
                    tracing::error!(error = %e, "cannot write the audit stream");
                }
                self.failing = true;
            }
        }
    }

    /// Adds the lines written since the last call to the counter: once per drained batch,
    /// since each call looks the counter up in the metrics registry.
    fn count(&mut self) {
        if self.uncounted > 0 {
            metrics::counter!("grantd_audit_events_total").increment(self.uncounted);
            self.uncounted = 0;
        }
    }
}

/// Writes every queued event: whether there was any; `Err` when the queue is closed (or
/// every sender gone). The lines written are counted before it returns.
fn drain(rx: &Receiver<Msg>, lines: &mut Lines) -> Result<bool, ()> {
    let mut any = false;
    let drained = loop {
        match rx.try_recv() {
            Ok(Msg::Event(event)) => {
                lines.write(&event);
                any = true;
            }
            Ok(Msg::Close) | Err(TryRecvError::Disconnected) => break Err(()),
            Err(TryRecvError::Empty) => break Ok(any),
        }
    };
    lines.count();
    drained
}

/// The writer thread. Idle, it blocks on the queue; once an event comes it drains the queue
/// every [`TICK`] until a tick finds it empty, then writes the buffer out and blocks again.
fn write_all(rx: &Receiver<Msg>, out: Box<dyn Write + Send>) {
    let mut lines = Lines {
        out,
        line: Vec::with_capacity(1024),
        failing: false,
        uncounted: 0,
    };
    'idle: while let Ok(Msg::Event(first)) = rx.recv() {
        lines.write(&first);
        let mut since_flush = std::time::Instant::now();
        loop {
            std::thread::sleep(TICK);
            match drain(rx, &mut lines) {
                Err(()) => break 'idle,
                Ok(false) => {
                    let _ = lines.out.flush();
                    continue 'idle;
                }
                Ok(true) if since_flush.elapsed() >= FLUSH_AFTER => {
                    let _ = lines.out.flush();
                    since_flush = std::time::Instant::now();
                }
                Ok(true) => {}
            }
        }
    }
    let _ = lines.out.flush();
}

#[cfg(test)]
mod tests;
