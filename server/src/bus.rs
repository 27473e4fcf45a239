//! The in-process event bus: every lifecycle transition, after it is written to the database,
//! is published here as `decky.<name>.lifecycle`; SSE clients subscribe.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::lifecycle::RowCache;

#[derive(Clone, Debug, Serialize)]
pub struct BusEvent {
    pub topic: String,
    pub payload: serde_json::Value,
}

/// The bus, and beside it the latest state of the lifecycle rows it carried (so polling
/// reads memory, not the database, while a deploy keeps the machine busy).
#[derive(Clone)]
pub struct Bus {
    tx: broadcast::Sender<BusEvent>,
    rows: RowCache,
}

impl Default for Bus {
    fn default() -> Self {
        Bus {
            tx: broadcast::channel(1024).0,
            rows: RowCache::default(),
        }
    }
}

impl Bus {
    pub fn publish(&self, topic: String, payload: impl Serialize) {
        let payload = serde_json::to_value(payload).unwrap_or(serde_json::Value::Null);
        // No subscriber is fine: the database already holds the truth.
        let _ = self.tx.send(BusEvent { topic, payload });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.tx.subscribe()
    }

    pub fn rows(&self) -> &RowCache {
        &self.rows
    }
}
