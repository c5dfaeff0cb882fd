//! Raising the open-file limit: every socket is a file descriptor. The soft limit goes up
//! to the hard limit; a privileged process also lifts the hard limit to the kernel's
//! `fs.nr_open`, since the default hard limit (often 20k-65k) is below 100k sockets.

use rlimit::Resource;

/// Raises the limit as far as allowed and answers it.
pub fn raise_open_files() -> std::io::Result<u64> {
    let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1 << 20);
    let (_, hard) = Resource::NOFILE.get()?;
    if ceiling > hard && Resource::NOFILE.set(ceiling, ceiling).is_ok() {
        return Ok(ceiling);
    }
    rlimit::increase_nofile_limit(u64::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_limit_never_goes_down() {
        let (before, _) = rlimit::Resource::NOFILE.get().expect("readable");
        let after = super::raise_open_files().expect("raised");
        assert!(after >= before, "{after} < {before}");
    }
}
