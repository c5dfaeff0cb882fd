//! Password hashing with argon2id (OWASP default parameters: 19 MiB, two passes).
//!
//! Each hash or check allocates 19 MiB and keeps a core busy for tens of milliseconds, and
//! anyone can ask for one (a login with any email costs one). So hashing runs on a fixed
//! pool of `auth.hash_concurrency` threads of its own, never on the HTTP workers or
//! tokio's blocking pool (whose hundreds of threads would each keep an allocator arena at
//! the 19 MiB peak). Each hasher thread allocates its argon2 memory once and reuses it for
//! every hash: allocating 19 MiB per check fragments the allocator's arenas, which then
//! keep hundreds of megabytes after a burst. So the memory hashing holds is the pool's
//! size times 19 MiB, before, during and after any burst. A request waits
//! for a free hasher at most `auth.hash_wait_ms`, then is refused with [`HashError::Busy`]
//! (429 with `Retry-After`), so a burst queues briefly and then sheds load instead of
//! growing without bound.
//!
//! Checking a user that does not exist still verifies against a dummy hash, so response
//! time does not reveal which emails exist.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use std::cell::RefCell;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{self, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use fitpulse_actors::domain::Password;
use tokio::sync::{Semaphore, oneshot};

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Failed(String),
    /// Every hasher stayed busy for the whole allowed wait.
    #[error("too many password checks at once; retry in {retry_after_seconds} s")]
    Busy { retry_after_seconds: u64 },
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing pool of a node (or of a command-line tool).
pub struct Passwords {
    /// One permit per hasher thread: holding one means a thread is free for the job.
    permits: Arc<Semaphore>,
    jobs: Mutex<mpsc::Sender<Job>>,
    max_wait: Duration,
}

impl Passwords {
    /// Starts `concurrency` hasher threads (at least one); they end when this is dropped.
    pub fn new(concurrency: usize, max_wait: Duration) -> Passwords {
        let concurrency = concurrency.max(1);
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..concurrency {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("fitpulse-hash-{n}"))
                .spawn(move || {
                    loop {
                        let job = receiver.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            // Every sender is gone: the pool was dropped.
                            Err(_) => return,
                        }
                    }
                });
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start a password hashing thread");
            }
        }
        Passwords {
            permits: Arc::new(Semaphore::new(concurrency)),
            jobs: Mutex::new(sender),
            max_wait,
        }
    }

    /// Runs `work` on a hasher thread once one is free (waiting at most `max_wait`).
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let busy = || HashError::Busy {
            retry_after_seconds: self.max_wait.as_secs().max(1),
        };
        let permit = tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let (done, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| HashError::Failed("the hashing pool stopped".into()))?;
        let result = answer
            .await
            .map_err(|_| HashError::Failed("a hashing thread stopped".into()));
        drop(permit);
        result
    }

    /// Hashes `password` into a PHC string (`$argon2id$v=19$...`).
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        self.run(move || hash_now(&password)).await?
    }

    /// True if `password` matches `stored`; with no stored hash, spends the same effort and
    /// answers false.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        self.run(move || {
            let has_hash = stored.is_some();
            let hash = stored.unwrap_or_else(|| dummy_hash().to_owned());
            let matched = matches(&password, &hash);
            has_hash && matched
        })
        .await
    }
}

thread_local! {
    /// This thread's argon2 working memory, allocated on first use and kept.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs argon2 with `argon`'s parameters into `out`, in this thread's reused memory.
fn hash_into(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        let blocks = argon.params().block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

/// Hashes with the default (OWASP) argon2id parameters and a fresh salt into a PHC string.
fn hash_now(password: &Password) -> Result<String, HashError> {
    let failed = |e: &dyn std::fmt::Display| HashError::Failed(e.to_string());
    let argon = Argon2::default();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| failed(&e))?;
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        hash_into(&argon, password.expose().as_bytes(), salt_bytes, out)
            .map_err(|_| password_hash::Error::Password)
    })
    .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// True if `password` hashes to the PHC string `stored` (with its own parameters).
fn matches(password: &Password, stored: &str) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(phc.algorithm),
        Params::try_from(&phc),
        phc.salt,
        phc.hash,
    ) else {
        return false;
    };
    let version = phc
        .version
        .map_or(Ok(Version::default()), Version::try_from)
        .unwrap_or_default();
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    if hash_into(&argon, password.expose().as_bytes(), salt_bytes, &mut out).is_err() {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|computed| computed == expected)
}

/// The hash of a random secret nobody knows, computed once per process.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let secret = SaltString::generate(&mut OsRng);
        // A 22-character random salt string is a valid password.
        let password = Password::parse(secret.as_str()).expect("valid dummy password");
        hash_now(&password).expect("dummy hash")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse(s).expect("valid password")
    }

    fn pool() -> Passwords {
        Passwords::new(2, Duration::from_secs(30))
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let pool = pool();
        let stored = pool
            .hash(pw("correct horse battery"))
            .await
            .expect("hashed");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(
            pool.verify(pw("correct horse battery"), Some(stored.clone()))
                .await
                .expect("checked")
        );
        assert!(
            !pool
                .verify(pw("Correct horse battery"), Some(stored))
                .await
                .expect("checked")
        );
    }

    #[tokio::test]
    async fn two_hashes_of_one_password_differ_by_salt() {
        let pool = pool();
        let a = pool.hash(pw("same password")).await.expect("hashed");
        let b = pool.hash(pw("same password")).await.expect("hashed");
        assert_ne!(a, b);
    }

    #[test]
    fn a_hash_made_by_the_argon2_crate_itself_verifies_here_and_the_other_way_round() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let password = pw("correct horse battery");
        let theirs = Argon2::default()
            .hash_password(b"correct horse battery", &SaltString::generate(&mut OsRng))
            .expect("hashed")
            .to_string();
        assert!(matches(&password, &theirs));
        assert!(!matches(&pw("wrong horse battery"), &theirs));
        let ours = hash_now(&password).expect("hashed");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_missing_or_corrupt_hash_never_verifies() {
        let pool = pool();
        assert!(
            !pool
                .verify(pw("not-a-real-password"), None)
                .await
                .expect("checked")
        );
        assert!(
            !pool
                .verify(pw("whatever123"), Some("garbage".into()))
                .await
                .expect("checked")
        );
    }

    #[tokio::test]
    async fn no_more_checks_run_at_once_than_the_pool_has_threads_and_the_rest_are_refused() {
        // One hasher, no wait: while it works, a second check is refused at once.
        let pool = Arc::new(Passwords::new(1, Duration::from_millis(1)));
        let (started, running) = oneshot::channel();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let busy_pool = pool.clone();
        let holder = tokio::spawn(async move {
            busy_pool
                .run(move || {
                    let _ = started.send(());
                    let _ = held.recv();
                })
                .await
        });
        running.await.expect("the first job runs");
        let refused = pool.verify(pw("whatever123"), None).await;
        assert!(
            matches!(
                refused,
                Err(HashError::Busy {
                    retry_after_seconds: 1
                })
            ),
            "{refused:?}"
        );
        release.send(()).expect("released");
        holder
            .await
            .expect("joined")
            .expect("the first job finished");
        // The hasher is free again: the next check runs.
        assert!(!pool.verify(pw("whatever123"), None).await.expect("checked"));
    }
}
