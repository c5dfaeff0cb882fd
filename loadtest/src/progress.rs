//! A progress line on stderr once a second while a scenario runs.

use std::time::Instant;

use tokio::sync::oneshot;

pub struct Progress {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    pub fn start(name: &'static str, line: impl Fn() -> String + Send + 'static) -> Progress {
        let (stop, mut stopped) = oneshot::channel();
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => eprintln!("[{name} {:>5.1}s] {}", started.elapsed().as_secs_f64(), line()),
                    _ = &mut stopped => break,
                }
            }
        });
        Progress { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
