//! The one place that turns the tray data of [`crate::tray`] into Tauri's
//! tray icon and menu. A menu equal to the one shown is skipped; a menu of
//! the same shape (only texts or enabled flags differ, as during a sync's
//! progress) is updated in place instead of rebuilt, so the panel does not
//! flicker.

use std::collections::HashMap;

use tauri::image::Image;
use tauri::menu::{Menu as TauriMenu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Runtime};

use crate::tray::{self, Entry, Event, IconKind, Item, Menu, TrayState, STATUS_ITEM_ID};

/// The tray icon's id.
pub const TRAY_ID: &str = "main";

/// A menu line's id: its serialized event, or the status line's id.
pub fn item_id(item: &Item) -> String {
    item.event
        .map(Event::id)
        .unwrap_or_else(|| STATUS_ITEM_ID.to_owned())
}

/// Whether two menus have the same lines and rules in the same order (their
/// texts and enabled flags may differ).
pub fn same_shape(a: &Menu, b: &Menu) -> bool {
    a.entries.len() == b.entries.len()
        && a.entries.iter().zip(&b.entries).all(|pair| match pair {
            (Entry::Separator, Entry::Separator) => true,
            (Entry::Item(x), Entry::Item(y)) => x.event == y.event,
            _ => false,
        })
}

/// The PNG of an icon (44 px, which panels scale down crisply to 22).
pub fn icon_png(kind: IconKind) -> &'static [u8] {
    match kind {
        IconKind::UpToDate => include_bytes!("../../icons/tray-up-to-date@2x.png"),
        IconKind::Syncing => include_bytes!("../../icons/tray-syncing@2x.png"),
        IconKind::Paused => include_bytes!("../../icons/tray-paused@2x.png"),
        IconKind::Offline => include_bytes!("../../icons/tray-offline@2x.png"),
        IconKind::NeedsAttention => include_bytes!("../../icons/tray-needs-attention@2x.png"),
    }
}

/// The tray icon as shown, and what it shows.
pub struct TrayAdapter<R: Runtime> {
    app: AppHandle<R>,
    tray: TrayIcon<R>,
    menu: Menu,
    items: HashMap<String, MenuItem<R>>,
    icon: IconKind,
    tooltip: String,
}

/// A built menu and its lines by id (to change them in place later).
type Built<R> = (TauriMenu<R>, HashMap<String, MenuItem<R>>);

fn build_menu<R: Runtime>(app: &AppHandle<R>, m: &Menu) -> tauri::Result<Built<R>> {
    let menu = TauriMenu::new(app)?;
    let mut items = HashMap::new();
    for e in &m.entries {
        match e {
            Entry::Separator => menu.append(&PredefinedMenuItem::separator(app)?)?,
            Entry::Item(i) => {
                let id = item_id(i);
                let item = MenuItem::with_id(app, id.clone(), &i.title, i.enabled, None::<&str>)?;
                menu.append(&item)?;
                items.insert(id, item);
            }
        }
    }
    Ok((menu, items))
}

impl<R: Runtime> TrayAdapter<R> {
    /// Creates the tray icon showing `state`; clicks on its menu go to
    /// `on_event`, a left click on the icon opens the main window.
    pub fn new(
        app: &AppHandle<R>,
        state: &TrayState,
        on_event: impl Fn(&AppHandle<R>, Event) + Send + Sync + 'static,
    ) -> tauri::Result<Self> {
        let menu = tray::menu(state);
        let (built, items) = build_menu(app, &menu)?;
        let icon = tray::icon(state);
        let tooltip = tray::tooltip(state, &chrono::Local);
        let tray = TrayIconBuilder::with_id(TRAY_ID)
            .icon(Image::from_bytes(icon_png(icon))?)
            .tooltip(&tooltip)
            .menu(&built)
            .show_menu_on_left_click(false)
            .on_menu_event(move |app, e| match Event::from_id(e.id().as_ref()) {
                Some(ev) => on_event(app, ev),
                None => tracing::debug!(id = ?e.id(), "menu click without an event"),
            })
            .on_tray_icon_event(|icon, e| {
                if let TrayIconEvent::Click {
                    button: MouseButton::Left,
                    button_state: MouseButtonState::Up,
                    ..
                } = e
                {
                    crate::desktop::show(icon.app_handle(), crate::controller::WindowKind::Main);
                }
            })
            .build(app)?;
        Ok(TrayAdapter {
            app: app.clone(),
            tray,
            menu,
            items,
            icon,
            tooltip,
        })
    }

    /// Shows `state`, touching only what changed.
    pub fn show(&mut self, state: &TrayState) -> tauri::Result<()> {
        let menu = tray::menu(state);
        if menu != self.menu {
            if same_shape(&self.menu, &menu) {
                for i in menu.items() {
                    if let Some(item) = self.items.get(&item_id(i)) {
                        item.set_text(&i.title)?;
                        item.set_enabled(i.enabled)?;
                    }
                }
            } else {
                let (built, items) = build_menu(&self.app, &menu)?;
                self.tray.set_menu(Some(built))?;
                self.items = items;
            }
            self.menu = menu;
        }
        let icon = tray::icon(state);
        if icon != self.icon {
            self.tray
                .set_icon(Some(Image::from_bytes(icon_png(icon))?))?;
            self.icon = icon;
        }
        let tooltip = tray::tooltip(state, &chrono::Local);
        if tooltip != self.tooltip {
            self.tray.set_tooltip(Some(&tooltip))?;
            self.tooltip = tooltip;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tray::Phase;

    #[test]
    fn progress_changes_keep_the_shape_and_pause_changes_it() {
        let idle = tray::menu(&TrayState::default());
        let syncing = tray::menu(&TrayState {
            phase: Phase::Syncing {
                progress: "Syncing 1/2 workouts".into(),
            },
            ..TrayState::default()
        });
        let later = tray::menu(&TrayState {
            phase: Phase::Syncing {
                progress: "Syncing 2/2 workouts".into(),
            },
            ..TrayState::default()
        });
        assert!(same_shape(&idle, &syncing));
        assert!(same_shape(&syncing, &later));
        let paused = tray::menu(&TrayState {
            phase: Phase::Paused,
            paused: true,
            ..TrayState::default()
        });
        assert!(!same_shape(&idle, &paused));
    }

    #[test]
    fn item_ids_are_unique() {
        let m = tray::menu(&TrayState::default());
        let mut ids: Vec<String> = m.items().map(item_id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn every_icon_is_a_png() {
        for k in [
            IconKind::UpToDate,
            IconKind::Syncing,
            IconKind::Paused,
            IconKind::Offline,
            IconKind::NeedsAttention,
        ] {
            assert_eq!(&icon_png(k)[..4], b"\x89PNG", "{k:?}");
        }
    }
}
