//! The main log on stderr (text or JSON per `pa.log.format`). `RUST_LOG` overrides the default
//! `info` filter. Access lines, formatted by `gatehouse_gateway::access_log`, join the same queue.
//!
//! Request threads never write to stderr themselves: a formatted line goes into a bounded queue
//! (no lock, no wake-up) and a background thread writes whatever has queued every
//! [`FLUSH_INTERVAL`] in one `write`. Waking a writer thread per line, as a channel receiver
//! blocked in `recv` would be, costs more than the request itself at proxy rates (see
//! docs/benchmarks.md). When a round finds nothing to write, the writer sleeps until the next
//! line wakes it, so an idle node does not wake up 50 times a second. If the queue is full
//! (stderr stalled) lines are dropped and counted, and the count is logged once the writer
//! catches up.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use gatehouse_gateway::props::LogFormat;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// How long a line may wait in the queue.
const FLUSH_INTERVAL: Duration = Duration::from_millis(20);
/// Lines held before new ones are dropped.
const QUEUE_LINES: usize = 65_536;

/// Installs the global subscriber; keep the guard alive until exit (dropping it flushes the log).
pub fn init(format: LogFormat) -> LogGuard {
    let (queue, guard) = spawn_writer();
    let access_queue = queue.clone();
    gatehouse_gateway::access_log::install(format, Box::new(move |line| access_queue.push(line)));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(queue);
    let installed = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    if installed.is_err() {
        eprintln!("gatehouse: a log subscriber was already installed");
    }
    guard
}

/// The sending side: what the subscriber (and the access log) write formatted lines into.
#[derive(Clone)]
struct LineQueue {
    tx: SyncSender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
    /// Set by the writer before it sleeps without a timeout.
    asleep: Arc<AtomicBool>,
    writer: Option<std::thread::Thread>,
}

/// One event's writer.
struct LineWriter<'q> {
    queue: &'q LineQueue,
}

/// Stops the writer thread after a last flush when dropped.
pub struct LogGuard {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn spawn_writer() -> (LineQueue, LogGuard) {
    let (tx, rx) = sync_channel(QUEUE_LINES);
    let dropped = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let asleep = Arc::new(AtomicBool::new(false));
    let thread = {
        let (dropped, stop, asleep) = (dropped.clone(), stop.clone(), asleep.clone());
        std::thread::Builder::new()
            .name("gatehouse-log".into())
            .spawn(move || write_loop(&rx, &dropped, &stop, &asleep))
            .ok()
    };
    let queue = LineQueue {
        tx,
        dropped,
        asleep,
        writer: thread.as_ref().map(|t| t.thread().clone()),
    };
    (queue, LogGuard { stop, thread })
}

fn write_loop(rx: &Receiver<Vec<u8>>, dropped: &AtomicU64, stop: &AtomicBool, asleep: &AtomicBool) {
    let mut batch = Vec::with_capacity(64 * 1024);
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let disconnected = drain(rx, &mut batch);
        let idle = batch.is_empty();
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            batch.extend_from_slice(
                format!("gatehouse: {lost} log lines dropped (stderr too slow)\n").as_bytes(),
            );
        }
        if !batch.is_empty() {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&batch);
            let _ = err.flush();
            batch.clear();
        }
        if stopping || disconnected {
            return;
        }
        if idle {
            sleep_until_woken(rx, asleep, &mut batch);
        } else {
            std::thread::park_timeout(FLUSH_INTERVAL);
        }
    }
}

/// Sleeps until a writer or the guard unparks this thread. A line queued between the last
/// drain and `asleep` being set is caught by the drain after it (and kept in `batch`).
fn sleep_until_woken(rx: &Receiver<Vec<u8>>, asleep: &AtomicBool, batch: &mut Vec<u8>) {
    asleep.store(true, Ordering::SeqCst);
    let disconnected = drain(rx, batch);
    if batch.is_empty() && !disconnected {
        std::thread::park();
    }
    asleep.store(false, Ordering::SeqCst);
}

/// Moves every queued line into `batch`; true once all senders are gone.
fn drain(rx: &Receiver<Vec<u8>>, batch: &mut Vec<u8>) -> bool {
    loop {
        match rx.try_recv() {
            Ok(line) => batch.extend_from_slice(&line),
            Err(TryRecvError::Empty) => return false,
            Err(TryRecvError::Disconnected) => return true,
        }
    }
}

impl<'q> MakeWriter<'q> for LineQueue {
    type Writer = LineWriter<'q>;

    fn make_writer(&'q self) -> Self::Writer {
        LineWriter { queue: self }
    }
}

impl LineQueue {
    /// Queues one formatted line (never blocks; counts it as dropped when the queue is full).
    fn push(&self, line: Vec<u8>) {
        match self.tx.try_send(line) {
            Ok(()) => {
                if self.asleep.load(Ordering::SeqCst) && self.asleep.swap(false, Ordering::SeqCst) {
                    if let Some(writer) = &self.writer {
                        writer.unpark();
                    }
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.queue.push(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_lines_are_drained_in_order_and_overflow_is_counted() {
        let (tx, rx) = sync_channel(2);
        let queue = LineQueue {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            asleep: Arc::new(AtomicBool::new(false)),
            writer: None,
        };
        for line in ["a\n", "b\n", "c\n"] {
            queue.make_writer().write_all(line.as_bytes()).unwrap();
        }
        let mut batch = Vec::new();
        assert!(!drain(&rx, &mut batch));
        assert_eq!(batch, b"a\nb\n");
        assert_eq!(queue.dropped.load(Ordering::Relaxed), 1);
        drop(queue);
        assert!(drain(&rx, &mut batch));
    }
}
