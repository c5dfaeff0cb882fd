//! Starting many tasks at a steady rate: in 10 ms steps, the number owed so far.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;

/// Spawns `count` tasks at `rate` per second; `task(i)` makes the i-th.
pub async fn ramp<F, Fut>(count: usize, rate: u32, mut task: F) -> Vec<JoinHandle<()>>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let step = Duration::from_millis(10);
    let per_step = (f64::from(rate) / 100.0).max(0.01);
    let mut ticker = tokio::time::interval(step);
    let mut handles = Vec::with_capacity(count);
    let mut owed = 0.0;
    while handles.len() < count {
        ticker.tick().await;
        owed += per_step;
        while owed >= 1.0 && handles.len() < count {
            owed -= 1.0;
            handles.push(tokio::spawn(task(handles.len())));
        }
    }
    handles
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn every_task_is_spawned_once_with_its_index() {
        let seen = Arc::new(AtomicUsize::new(0));
        let handles = super::ramp(50, 10_000, |i| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(i, Ordering::Relaxed);
            }
        })
        .await;
        for handle in handles {
            handle.await.expect("task");
        }
        assert_eq!(seen.load(Ordering::Relaxed), (0..50).sum::<usize>());
    }
}
