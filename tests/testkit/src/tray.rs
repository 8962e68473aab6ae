//! The StatusNotifierWatcher a panel runs, played by a test on its bus: the
//! app's tray (libayatana-appindicator) registers its StatusNotifierItem
//! with it, so the moment of that call is the moment the icon would appear,
//! and its address is where the item's properties and menu are read.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use zbus::message::Header;
use zbus::object_server::SignalEmitter;

/// The watcher's well-known bus name.
pub const WATCHER_NAME: &str = "org.kde.StatusNotifierWatcher";
/// The watcher's object path.
pub const WATCHER_PATH: &str = "/StatusNotifierWatcher";

/// A tray item as registered: the bus name of its owner and its object path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemAddress {
    /// The bus name of the process that registered it.
    pub service: String,
    /// The item's object path.
    pub path: String,
}

/// One registration: where the item is, and when it registered.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The item.
    pub address: ItemAddress,
    /// When the call arrived.
    pub at: Instant,
}

/// Every item registered so far, shared with the served [`Watcher`].
#[derive(Debug, Clone, Default)]
pub struct Items(Arc<Mutex<Vec<Registered>>>);

impl Items {
    fn lock(&self) -> MutexGuard<'_, Vec<Registered>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first registration, if any.
    pub fn first(&self) -> Option<Registered> {
        self.lock().first().cloned()
    }

    /// The latest registration, if any.
    pub fn last(&self) -> Option<Registered> {
        self.lock().last().cloned()
    }
}

/// The watcher to serve at [`WATCHER_PATH`] under [`WATCHER_NAME`]
/// (`zbus::connection::Builder::serve_at`).
#[derive(Default)]
pub struct Watcher {
    items: Items,
}

impl Watcher {
    /// A watcher and the list it fills.
    pub fn new() -> (Watcher, Items) {
        let w = Watcher::default();
        let items = w.items.clone();
        (w, items)
    }
}

/// The interface; the macro adds undocumented public helpers.
mod server {
    #![allow(missing_docs)]

    use super::*;

    #[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
    impl Watcher {
        /// appindicator passes its object path and is known by the sender's
        /// name; other implementations pass a bus name and use the default path.
        async fn register_status_notifier_item(
            &self,
            service: &str,
            #[zbus(header)] header: Header<'_>,
            #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
        ) {
            let at = Instant::now();
            let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
            let address = if service.starts_with('/') {
                ItemAddress {
                    service: sender,
                    path: service.to_owned(),
                }
            } else {
                ItemAddress {
                    service: service.to_owned(),
                    path: "/StatusNotifierItem".to_owned(),
                }
            };
            let full = format!("{}{}", address.service, address.path);
            self.items.lock().push(Registered { address, at });
            let _ = Self::status_notifier_item_registered(&emitter, &full).await;
        }

        async fn register_status_notifier_host(&self, _service: &str) {}

        #[zbus(property)]
        async fn registered_status_notifier_items(&self) -> Vec<String> {
            self.items
                .lock()
                .iter()
                .map(|r| format!("{}{}", r.address.service, r.address.path))
                .collect()
        }

        #[zbus(property)]
        async fn is_status_notifier_host_registered(&self) -> bool {
            true
        }

        #[zbus(property)]
        async fn protocol_version(&self) -> i32 {
            0
        }

        /// Tells hosts an item arrived.
        #[zbus(signal)]
        async fn status_notifier_item_registered(
            emitter: &SignalEmitter<'_>,
            service: &str,
        ) -> zbus::Result<()>;

        /// Tells items a host arrived.
        #[zbus(signal)]
        async fn status_notifier_host_registered(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
    }
}
