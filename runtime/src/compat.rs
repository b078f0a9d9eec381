//! Compat events: the unimplemented syscalls a guest called and the synthetic paths it read,
//! counted per process, for `carrick compat-report` and for logs. Recording is cheap and never
//! fails; the first occurrence of each event is also logged.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::linux;

/// Counts of compat events for one process.
#[derive(Debug, Default)]
pub struct CompatLog {
    unimplemented: Mutex<BTreeMap<u64, u64>>,
    synthetic: Mutex<BTreeMap<Vec<u8>, u64>>,
}

impl CompatLog {
    /// Records a call of a syscall number that has no handler.
    pub fn record_unimplemented(&self, nr: u64) {
        let Ok(mut counts) = self.unimplemented.lock() else {
            return;
        };
        let count = counts.entry(nr).or_insert(0);
        if *count == 0 {
            let name = linux::syscall_info(nr).map_or("(not an arm64 syscall)", |info| info.name);
            tracing::info!(
                nr,
                name,
                "guest called an unimplemented syscall; returning ENOSYS"
            );
        }
        *count += 1;
    }

    /// Each unimplemented syscall number with its call count, in number order.
    pub fn unimplemented(&self) -> Vec<(u64, u64)> {
        match self.unimplemented.lock() {
            Ok(counts) => counts.iter().map(|(&nr, &count)| (nr, count)).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Records an access to a synthetic path (`/proc`, `/dev`, `/sys`), by canonical guest path.
    pub fn record_synthetic(&self, path: &[u8]) {
        let Ok(mut counts) = self.synthetic.lock() else {
            return;
        };
        let count = counts.entry(path.to_vec()).or_insert(0);
        if *count == 0 {
            tracing::debug!(path = %String::from_utf8_lossy(path), "guest accessed a synthetic path");
        }
        *count += 1;
    }

    /// Each synthetic path the guest accessed with its access count, in path order.
    pub fn synthetic(&self) -> Vec<(Vec<u8>, u64)> {
        match self.synthetic.lock() {
            Ok(counts) => counts
                .iter()
                .map(|(path, &count)| (path.clone(), count))
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}
