//! Facts about this process and host for the detailed heartbeat, read from `/proc` (Linux).
//! Each reader returns `None` where the fact is not available.

use std::sync::Mutex;
use std::time::Instant;

/// Bytes of memory: (total, free) of the host.
pub fn host_memory() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((
        field("MemTotal:")?,
        field("MemAvailable:").or_else(|| field("MemFree:"))?,
    ))
}

/// Bytes of this process: (virtual size, resident).
pub fn process_memory() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<u64>().ok());
    let page = 4096;
    Some((it.next()?? * page, it.next()?? * page))
}

/// Host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Number of CPUs available to this process.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn process_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = text.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Process CPU use, in % of all cores, since the previous call (or since start).
#[derive(Debug)]
pub struct CpuMeter {
    last: Mutex<(Instant, f64)>,
}

impl Default for CpuMeter {
    fn default() -> Self {
        Self {
            last: Mutex::new((Instant::now(), process_cpu_seconds().unwrap_or(0.0))),
        }
    }
}

impl CpuMeter {
    /// Percentage 0-100 of total core capacity.
    pub fn sample(&self) -> f64 {
        let now = Instant::now();
        let cpu = process_cpu_seconds().unwrap_or(0.0);
        let Ok(mut last) = self.last.lock() else {
            return 0.0;
        };
        let wall = now.duration_since(last.0).as_secs_f64();
        let used = cpu - last.1;
        *last = (now, cpu);
        if wall <= 0.0 {
            return 0.0;
        }
        (used / wall / cpus() as f64 * 100.0).clamp(0.0, 100.0)
    }
}

/// `1.234 MB` style, as PingAccess prints memory.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KB", "MB", "GB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.3} {}", UNITS[unit])
    }
}
