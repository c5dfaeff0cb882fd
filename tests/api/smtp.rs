//! A real SMTP server for tests: aiosmtpd on loopback, writing what it receives into a
//! maildir the test reads.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::WAIT;

/// An aiosmtpd process writing what it receives into a maildir; killed when dropped.
pub struct SmtpServer {
    child: Option<Child>,
    port: u16,
    maildir: PathBuf,
}

impl SmtpServer {
    /// Starts the server on `port` and waits until it greets.
    pub async fn start(port: u16, maildir: &Path) -> SmtpServer {
        let output = if std::env::var_os("TEST_LOG").is_some() {
            Stdio::inherit
        } else {
            Stdio::null
        };
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdin(Stdio::null())
            .stdout(output())
            .stderr(output())
            .spawn()
            .expect("python3 starts");
        let mut server = SmtpServer {
            child: Some(child),
            port,
            maildir: maildir.to_owned(),
        };
        server.wait_until_it_greets().await;
        server
    }

    async fn wait_until_it_greets(&mut self) {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("child status"))
            {
                panic!("aiosmtpd exited with {status} before it listened");
            }
            if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                let mut greeting = [0u8; 3];
                let read =
                    tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut greeting))
                        .await;
                if matches!(read, Ok(Ok(_))) && &greeting == b"220" {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "aiosmtpd did not greet on port {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far, as raw text.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect()
    }

    /// Waits for a message to `to` whose text contains `needle` (its subject, say).
    pub async fn message_to_with(&self, to: &str, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(message) = self
                .messages()
                .into_iter()
                .find(|m| m.lines().any(|l| l == format!("To: {to}")) && m.contains(needle))
            {
                return message;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no message to {to}; received: {:?}",
                self.messages()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// True when aiosmtpd can run; without it the SMTP test is skipped outside the full suite
/// (`scripts/test` installs it and requires it).
pub fn aiosmtpd_installed() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("FITPULSE_TEST_REQUIRE_CQL").as_deref() != Ok("1"),
            "aiosmtpd is missing: run scripts/ensure-test-tools"
        );
        crate::skips::skipped("aiosmtpd is not installed (run scripts/ensure-test-tools)");
    }
    found
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("an address")
        .port()
}
