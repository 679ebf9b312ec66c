//! Peak memory of one request, for the worst bodies each gateway takes in (issue 24, item 4).
//!
//!   cargo run --release -p perf-bench --bin peak_memory
//!
//! Each case runs in a process of its own (this binary again, with the case's number), on the
//! functions' allocator (mimalloc) wrapped in a counter: the path a function runs from the
//! API Gateway event to the answer, with the in-memory store and queue. Per case: the heap at
//! the request's peak above what was in use before it (counted by the allocator: the same on
//! any machine), and the process's `VmHWM` (peak resident set) before and after the request.
//! Prints a Markdown table, with the command and the load average.

use std::process::Command;

use perf_bench::peak::{self, Counting};

#[global_allocator]
static ALLOCATOR: Counting<mimalloc::MiMalloc> = Counting(mimalloc::MiMalloc);

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// In a child: runs case `index`, prints `status peak_bytes hwm_before_kib hwm_after_kib`.
fn child(index: usize) -> Result<(), String> {
    let case = peak::cases()
        .into_iter()
        .nth(index)
        .ok_or_else(|| format!("no case {index}"))?;
    let before = vm_hwm_kib();
    let (status, bytes) = peak::request_peak(&case);
    println!("{status} {bytes} {before} {}", vm_hwm_kib());
    Ok(())
}

fn main() -> Result<(), String> {
    if let Some(index) = std::env::args().nth(1) {
        return child(index.parse().map_err(|e| format!("case: {e}"))?);
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let load_before = load_average();
    let mut rows = Vec::new();
    for (i, case) in peak::cases().iter().enumerate() {
        let out = Command::new(&me)
            .arg(i.to_string())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "{}: {}",
                case.name,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<u64> = text
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        let [status, bytes, before, after] = fields[..] else {
            return Err(format!("{}: unexpected output {text}", case.name));
        };
        rows.push(format!(
            "| {} | {} | {status} | {:.1} | {:.1} → {:.1} |",
            case.name,
            case.body.len(),
            bytes as f64 / 1024.0,
            before as f64 / 1024.0,
            after as f64 / 1024.0,
        ));
    }
    println!("Command: `cargo run --release -p perf-bench --bin peak_memory`");
    println!(
        "Load average (1, 5, 15 min): before {load_before}; after {}",
        load_average()
    );
    println!();
    println!("| body | bytes | status | heap at the peak, above before (KiB) | VmHWM before → after (MiB) |");
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}
