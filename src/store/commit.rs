//! Group commit: many writers wait on one flush, so durability does not cost one fsync
//! per request.

use tokio::sync::{mpsc, oneshot};

use super::{Failure, StoreError};

type Waiter = oneshot::Sender<Result<(), String>>;

/// A handle to the task that flushes the database for everyone waiting.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    waiters: mpsc::UnboundedSender<Waiter>,
}

impl GroupCommit {
    /// Starts the flushing task on the current tokio runtime; a failed flush marks the
    /// store failed.
    pub fn start(db: sled::Db, failure: Failure) -> GroupCommit {
        let (waiters, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(db, failure, receiver));
        GroupCommit { waiters }
    }

    /// Resolves once a flush that started after this call has finished.
    ///
    /// A write made before calling this is covered, since the flush it waits for
    /// begins only after the waiter is queued.
    pub async fn wait(&self) -> Result<(), StoreError> {
        let (sender, receiver) = oneshot::channel();
        self.waiters
            .send(sender)
            .map_err(|_| StoreError::Flush("the committer has stopped".to_string()))?;

        match receiver.await {
            Ok(result) => result.map_err(StoreError::Flush),
            Err(_) => Err(StoreError::Flush("the committer has stopped".to_string())),
        }
    }
}

/// Takes every waiter queued so far, flushes once, answers them all; repeats.
async fn run(db: sled::Db, failure: Failure, mut receiver: mpsc::UnboundedReceiver<Waiter>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while let Ok(next) = receiver.try_recv() {
            batch.push(next);
        }

        let flushed = flush(&db).await;
        if let Err(message) = &flushed {
            tracing::error!(error = %message, waiters = batch.len(), "store flush failed");
            // A flush fails only on I/O, after which sled 0.34 refuses every write.
            failure.record(&format!("failed to make the store durable: {message}"));
        }

        for waiter in batch {
            // A waiter whose request was cancelled no longer listens; nothing to do.
            let _ = waiter.send(flushed.clone());
        }
    }
}

async fn flush(db: &sled::Db) -> Result<(), String> {
    let db = db.clone();
    match tokio::task::spawn_blocking(move || db.flush()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(err) => Err(format!("flush task failed: {err}")),
    }
}
