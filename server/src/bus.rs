//! The in-process event bus: every lifecycle transition, after it is written to the database,
//! is published here as `decky.<name>.lifecycle`; SSE clients subscribe.

use serde::Serialize;
use tokio::sync::broadcast;

#[derive(Clone, Debug, Serialize)]
pub struct BusEvent {
    pub topic: String,
    pub payload: serde_json::Value,
}

#[derive(Clone)]
pub struct Bus(broadcast::Sender<BusEvent>);

impl Default for Bus {
    fn default() -> Self {
        Bus(broadcast::channel(1024).0)
    }
}

impl Bus {
    pub fn publish(&self, topic: String, payload: impl Serialize) {
        let payload = serde_json::to_value(payload).unwrap_or(serde_json::Value::Null);
        // No subscriber is fine: the database already holds the truth.
        let _ = self.0.send(BusEvent { topic, payload });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.0.subscribe()
    }
}
