//! The desktop's D-Bus services, played by the test on the private session
//! bus: a StatusNotifierWatcher (what a panel runs; the app's tray,
//! libayatana-appindicator, registers its StatusNotifierItem with it) and a
//! notification server that records every `Notify` call instead of showing
//! it. Also the reading side of the tray: the item's properties and its
//! `com.canonical.dbusmenu` menu, whose lines are clicked as a panel would.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{anyhow, bail, Context, Result};
use testkit::tray::{Items, Watcher, WATCHER_NAME, WATCHER_PATH};
use zbus::fdo::{RequestNameFlags, RequestNameReply};
use zbus::zvariant::{OwnedValue, Structure, Value};
use zbus::{interface, Connection};

const NOTIFICATIONS_NAME: &str = "org.freedesktop.Notifications";
const NOTIFICATIONS_PATH: &str = "/org/freedesktop/Notifications";
const ITEM_IFACE: &str = "org.kde.StatusNotifierItem";
const MENU_IFACE: &str = "com.canonical.dbusmenu";
/// The longest any D-Bus call of the tests may wait for its answer.
pub const CALL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub use testkit::tray::ItemAddress;

/// One `Notify` call as the app made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notified {
    /// The application name given.
    pub app_name: String,
    /// The headline.
    pub summary: String,
    /// The text.
    pub body: String,
}

/// The servers; the interface macro adds undocumented public helpers.
mod servers {
    #![allow(missing_docs)]

    use super::*;

    #[derive(Default)]
    pub(crate) struct Notifications {
        pub(crate) seen: Arc<Mutex<Vec<Notified>>>,
    }

    #[interface(name = "org.freedesktop.Notifications")]
    impl Notifications {
        #[allow(clippy::too_many_arguments)] // the D-Bus signature of Notify
        async fn notify(
            &self,
            app_name: String,
            _replaces_id: u32,
            _app_icon: String,
            summary: String,
            body: String,
            _actions: Vec<String>,
            _hints: HashMap<String, OwnedValue>,
            _expire_timeout: i32,
        ) -> u32 {
            let mut seen = lock(&self.seen);
            seen.push(Notified {
                app_name,
                summary,
                body,
            });
            u32::try_from(seen.len()).unwrap_or(u32::MAX)
        }

        async fn close_notification(&self, _id: u32) {}

        async fn get_capabilities(&self) -> Vec<String> {
            vec!["body".to_owned()]
        }

        #[zbus(out_args("name", "vendor", "version", "spec_version"))]
        async fn get_server_information(&self) -> (String, String, String, String) {
            (
                "desktop-e2e".to_owned(),
                "peloton-coda-sync tests".to_owned(),
                "1".to_owned(),
                "1.2".to_owned(),
            )
        }
    }
}

use servers::Notifications;

/// The test's side of the session bus: the watcher and the notification
/// server, owned for as long as this lives.
pub struct DesktopBus {
    conn: Connection,
    items: Items,
    notified: Arc<Mutex<Vec<Notified>>>,
}

impl DesktopBus {
    /// Connects to the session bus and takes the watcher's and the
    /// notification server's names (replacing an earlier test's, which
    /// allowed it).
    pub async fn start() -> Result<DesktopBus> {
        let (watcher, items) = Watcher::new();
        let notifications = Notifications::default();
        let notified = notifications.seen.clone();
        let conn = zbus::connection::Builder::session()
            .context("no session bus (DBUS_SESSION_BUS_ADDRESS); run under scripts/e2e-desktop.sh")?
            .serve_at(WATCHER_PATH, watcher)?
            .serve_at(NOTIFICATIONS_PATH, notifications)?
            // A deadline on every call this connection makes (the tray's
            // properties and menu): an app that stops answering fails the
            // wait that called, never hangs the test.
            .method_timeout(CALL_DEADLINE)
            .build()
            .await
            .context("connecting to the session bus")?;
        for name in [WATCHER_NAME, NOTIFICATIONS_NAME] {
            let reply = conn
                .request_name_with_flags(
                    name,
                    RequestNameFlags::AllowReplacement
                        | RequestNameFlags::ReplaceExisting
                        | RequestNameFlags::DoNotQueue,
                )
                .await
                .with_context(|| format!("requesting {name}"))?;
            if !matches!(
                reply,
                RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner
            ) {
                bail!("another process owns {name} and does not let go ({reply:?}); is a notification daemon or a panel running on this bus?");
            }
        }
        Ok(DesktopBus {
            conn,
            items,
            notified,
        })
    }

    /// The connection (to read other services).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Every notification so far, oldest first.
    pub fn notifications(&self) -> Vec<Notified> {
        lock(&self.notified).clone()
    }

    /// The tray item registered last, if one did.
    pub fn tray(&self) -> Option<Tray> {
        self.items.last().map(|r| Tray {
            conn: self.conn.clone(),
            address: r.address,
        })
    }

    /// Says, as NetworkManager does on the system bus, that the network is
    /// fully connected (`StateChanged(70)`, NM_STATE_CONNECTED_GLOBAL). The
    /// app is started with this session bus as its system bus.
    pub async fn network_back(&self) -> Result<()> {
        self.conn
            .emit_signal(
                None::<()>,
                "/org/freedesktop/NetworkManager",
                "org.freedesktop.NetworkManager",
                "StateChanged",
                &(70u32,),
            )
            .await
            .context("emitting NetworkManager's StateChanged")?;
        Ok(())
    }

    /// Whether a bus name (e.g. a process's unique name) has an owner.
    pub async fn has_owner(&self, name: &str) -> Result<bool> {
        let dbus = zbus::fdo::DBusProxy::new(&self.conn).await?;
        Ok(dbus.name_has_owner(name.try_into()?).await?)
    }
}

/// One line of the tray menu as the panel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuLine {
    /// The dbusmenu item id (what a click names).
    pub id: i32,
    /// The text; empty for a separator.
    pub label: String,
    /// Whether it can be clicked.
    pub enabled: bool,
    /// Whether it is a separator.
    pub separator: bool,
}

/// A registered tray item, read and clicked through D-Bus.
#[derive(Clone)]
pub struct Tray {
    conn: Connection,
    address: ItemAddress,
}

fn str_prop(props: &HashMap<String, OwnedValue>, key: &str) -> Option<String> {
    props
        .get(key)
        .and_then(|v| <&str>::try_from(&**v).ok().map(str::to_owned))
}

fn bool_prop(props: &HashMap<String, OwnedValue>, key: &str, default: bool) -> bool {
    props
        .get(key)
        .and_then(|v| bool::try_from(&**v).ok())
        .unwrap_or(default)
}

type Node = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

/// Unwraps a layout node sent inside a variant.
fn node(v: OwnedValue) -> Result<Node> {
    let value = Value::from(v);
    let value = match value {
        Value::Value(inner) => *inner,
        other => other,
    };
    let s = Structure::try_from(value)?;
    Ok(<Node>::try_from(s)?)
}

impl Tray {
    /// Where the item lives.
    pub fn address(&self) -> &ItemAddress {
        &self.address
    }

    async fn property(&self, name: &str) -> Result<OwnedValue> {
        let reply = self
            .conn
            .call_method(
                Some(self.address.service.as_str()),
                self.address.path.as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &(ITEM_IFACE, name),
            )
            .await
            .with_context(|| format!("reading the tray item's {name}"))?;
        Ok(reply.body().deserialize::<OwnedValue>()?)
    }

    /// A string property of the item (`Title`, `Status`, `IconName`, `Id` ...).
    pub async fn string_property(&self, name: &str) -> Result<String> {
        let v = self.property(name).await?;
        Ok(<&str>::try_from(&*v)
            .map_err(|e| anyhow!("{name} is not a string: {e}"))?
            .to_owned())
    }

    /// The item's tooltip text (title and description), if it has one.
    pub async fn tooltip(&self) -> Result<Option<String>> {
        let Ok(v) = self.property("ToolTip").await else {
            return Ok(None);
        };
        // (icon name, icon pixmaps, title, description)
        type Tip = (String, Vec<(i32, i32, Vec<u8>)>, String, String);
        let s = Structure::try_from(Value::from(v))?;
        let (_, _, title, text) = <Tip>::try_from(s)?;
        let joined = [title, text]
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Ok((!joined.is_empty()).then_some(joined))
    }

    /// The file the icon is drawn from (appindicator names icons by path).
    pub async fn icon_file(&self) -> Result<PathBuf> {
        let name = self.string_property("IconName").await?;
        if name.starts_with('/') {
            return Ok(PathBuf::from(name));
        }
        let dir = self.string_property("IconThemePath").await?;
        Ok(PathBuf::from(dir).join(format!("{name}.png")))
    }

    async fn menu_path(&self) -> Result<String> {
        let v = self.property("Menu").await?;
        let path = zbus::zvariant::ObjectPath::try_from(&*v)
            .map_err(|e| anyhow!("Menu is not an object path: {e}"))?;
        Ok(path.to_string())
    }

    /// The menu's lines, top to bottom (hidden ones left out).
    pub async fn menu(&self) -> Result<Vec<MenuLine>> {
        let path = self.menu_path().await?;
        let reply = self
            .conn
            .call_method(
                Some(self.address.service.as_str()),
                path.as_str(),
                Some(MENU_IFACE),
                "GetLayout",
                &(0i32, -1i32, Vec::<String>::new()),
            )
            .await
            .context("reading the tray menu (GetLayout)")?;
        let (_revision, (_root, _props, children)): (u32, Node) = reply.body().deserialize()?;
        let mut lines = Vec::new();
        for child in children {
            let (id, props, _) = node(child)?;
            if !bool_prop(&props, "visible", true) {
                continue;
            }
            let separator = str_prop(&props, "type").as_deref() == Some("separator");
            lines.push(MenuLine {
                id,
                label: str_prop(&props, "label").unwrap_or_default(),
                enabled: bool_prop(&props, "enabled", true),
                separator,
            });
        }
        Ok(lines)
    }

    /// The menu's first line: the app's status, not clickable.
    pub async fn status_line(&self) -> Result<String> {
        let menu = self.menu().await?;
        let first = menu
            .first()
            .ok_or_else(|| anyhow!("the tray menu is empty"))?;
        Ok(first.label.clone())
    }

    /// Clicks the menu line labelled `label`, as a panel does.
    pub async fn click(&self, label: &str) -> Result<()> {
        let menu = self.menu().await?;
        let line = menu
            .iter()
            .find(|l| l.label == label)
            .ok_or_else(|| anyhow!("no line {label:?} in the tray menu {menu:?}"))?;
        if !line.enabled {
            bail!("the tray menu line {label:?} is disabled");
        }
        let path = self.menu_path().await?;
        self.conn
            .call_method(
                Some(self.address.service.as_str()),
                path.as_str(),
                Some(MENU_IFACE),
                "Event",
                &(line.id, "clicked", Value::I32(0), 0u32),
            )
            .await
            .with_context(|| format!("clicking {label:?} in the tray menu"))?;
        Ok(())
    }
}
