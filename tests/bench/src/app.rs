//! The tray app half: the release app on its own Xvfb display and session
//! bus, where this process plays the panel: it owns
//! `org.kde.StatusNotifierWatcher`, so the moment the app registers its
//! StatusNotifierItem is the moment its tray icon would appear. Menu clicks
//! go through the item's `com.canonical.dbusmenu` `Event`, exactly as a panel
//! sends them; windows are found with `xdotool`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use testkit::tray::{Items, Registered, Watcher, WATCHER_NAME, WATCHER_PATH};
use testkit::wait::until_every;
use tokio::process::{Child, Command};

use crate::procs;
use crate::report::{Metric, Target};
use crate::sync::World;

/// The main window's title (`tauri.conf.json`).
const WINDOW_TITLE: &str = "^Peloton Coda Sync$";
/// How long the idle CPU is measured.
const IDLE_WINDOW: Duration = Duration::from_secs(60);

/// Xvfb, a session bus, and the watcher on it.
struct Desktop {
    display: String,
    bus: String,
    _xvfb: Child,
    _dbus: Child,
    _conn: zbus::Connection,
    items: Items,
}

impl Desktop {
    async fn start(dir: &Path) -> anyhow::Result<Desktop> {
        let n = (90..200)
            .find(|n| {
                !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                    && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
            })
            .context("no free X display number")?;
        let display = format!(":{n}");
        let xvfb = Command::new("Xvfb")
            .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.join("xvfb.log"))?))
            .kill_on_drop(true)
            .spawn()
            .context("starting Xvfb")?;
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        until_every(
            "the Xvfb socket",
            Duration::from_secs(20),
            Duration::from_millis(50),
            || async { Ok(socket.exists().then_some(())) },
        )
        .await?;
        let mut cmd = Command::new("dbus-daemon");
        cmd.args(["--session", "--nofork", "--print-address=1"]);
        let (dbus, lines) = procs::start_with_lines(cmd, &dir.join("dbus.log"), 1).await?;
        let bus = lines[0].trim().to_string();
        let (watcher, items) = Watcher::new();
        let conn = zbus::connection::Builder::address(bus.as_str())?
            .name(WATCHER_NAME)?
            .serve_at(WATCHER_PATH, watcher)?
            .build()
            .await
            .context("serving the StatusNotifierWatcher")?;
        Ok(Desktop {
            display,
            bus,
            _xvfb: xvfb,
            _dbus: dbus,
            _conn: conn,
            items,
        })
    }

    fn registered(&self) -> Option<Registered> {
        self.items.first()
    }

    async fn gdbus(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("gdbus")
            .arg("call")
            .args(["--address", &self.bus])
            .args(args)
            .output()
            .await?;
        if !out.status.success() {
            bail!("gdbus {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The bus name and object path of the item's menu.
    async fn menu(&self, item: &Registered) -> anyhow::Result<(String, String)> {
        let (dest, path) = (item.address.service.clone(), item.address.path.clone());
        let out = self
            .gdbus(&[
                "--dest",
                &dest,
                "--object-path",
                &path,
                "--method",
                "org.freedesktop.DBus.Properties.Get",
                "org.kde.StatusNotifierItem",
                "Menu",
            ])
            .await?;
        // (<objectpath '/org/ayatana/NotificationItem/x/Menu'>,)
        let menu = out
            .split('\'')
            .nth(1)
            .context("no Menu property")?
            .to_string();
        Ok((dest, menu))
    }

    /// Clicks the menu line labelled `label`, as a panel does.
    async fn click(&self, item: &Registered, label: &str) -> anyhow::Result<()> {
        let (dest, menu) = self.menu(item).await?;
        let layout = self
            .gdbus(&[
                "--dest",
                &dest,
                "--object-path",
                &menu,
                "--method",
                "com.canonical.dbusmenu.GetLayout",
                "--",
                "0",
                "-1",
                "[]",
            ])
            .await?;
        let id = item_id(&layout, label)
            .with_context(|| format!("no menu line {label:?} in {layout}"))?;
        self.gdbus(&[
            "--dest",
            &dest,
            "--object-path",
            &menu,
            "--method",
            "com.canonical.dbusmenu.Event",
            "--",
            &id.to_string(),
            "clicked",
            "<0>",
            "0",
        ])
        .await?;
        Ok(())
    }

    /// Waits until a visible window titled like the main window exists.
    async fn wait_window(&self, within: Duration) -> anyhow::Result<()> {
        let search = Command::new("xdotool")
            .args(["search", "--sync", "--onlyvisible", "--name", WINDOW_TITLE])
            .env("DISPLAY", &self.display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .status();
        match tokio::time::timeout(within, search).await {
            Ok(Ok(s)) if s.success() => Ok(()),
            Ok(Ok(s)) => bail!("xdotool search exited with {s}"),
            Ok(Err(e)) => Err(e).context("running xdotool"),
            Err(_) => bail!("no visible window {WINDOW_TITLE} within {within:?}"),
        }
    }
}

/// The id of the menu line labelled `label` in `gdbus`'s print of a
/// `GetLayout` answer: `<(7, {'label': <'Open …'>, …}, @av [])>`.
fn item_id(layout: &str, label: &str) -> Option<i32> {
    let at = layout.find(&format!("'label': <'{label}'>"))?;
    let open = layout[..at].rfind("<(")?;
    layout[open + 2..at].split(',').next()?.trim().parse().ok()
}

/// The app's metrics. `app` is the release binary, or why there is none.
/// `world` holds the state of the CLI runs (1000 workouts synced), so the
/// app's one sync is the quiet sync of a real account's steady state.
pub async fn measure(app: Result<PathBuf, String>, world: &World) -> Vec<Metric> {
    let names = [
        ("app_start_to_tray_ms", None),
        ("app_idle_rss_mb", Some(Target::AtMost(80.0))),
        ("app_idle_cpu_pct", Some(Target::AtMost(0.2))),
        ("window_open_ms", None),
        ("release_binary_mb", None),
    ];
    let app = match app {
        Ok(p) if p.exists() => p,
        Ok(p) => {
            let why = format!("skipped: app did not build ({} missing)", p.display());
            return return_missing(&names, &why);
        }
        Err(why) => return return_missing(&names, &why),
    };
    let size_mb = std::fs::metadata(&app)
        .map(|m| m.len() as f64 / 1_048_576.0)
        .ok();
    let mut out = Vec::new();
    if let Err(e) = run_app(&app, world, &mut out).await {
        let why = format!("app run failed: {e:#}");
        eprintln!("{why}");
        for (n, t) in &names[..4] {
            if !out.iter().any(|m| m.name == *n) {
                out.push(Metric::missing(n, *t, why.clone()));
            }
        }
    }
    out.push(match size_mb {
        Some(mb) => Metric::new(
            "release_binary_mb",
            mb,
            None,
            "size of target/release/peloton-coda-sync-app (MiB), debuginfo stripped",
        ),
        None => Metric::missing("release_binary_mb", None, "binary unreadable"),
    });
    out
}

fn return_missing(names: &[(&str, Option<Target>)], why: &str) -> Vec<Metric> {
    names
        .iter()
        .map(|(n, t)| Metric::missing(n, *t, why))
        .collect()
}

/// Measures into `out` as it goes, so a later failure keeps the earlier numbers.
async fn run_app(app: &Path, world: &World, out: &mut Vec<Metric>) -> anyhow::Result<()> {
    let dir = world.dir().join("app-bench");
    std::fs::create_dir_all(&dir)?;
    let desk = Desktop::start(&dir).await?;
    let before = world.status().await?;

    let started = Instant::now();
    let mut child = Command::new(app)
        .arg("--minimized")
        .env_clear()
        .envs(world.env())
        .env("DISPLAY", &desk.display)
        .env("DBUS_SESSION_BUS_ADDRESS", &desk.bus)
        .stdout(Stdio::from(std::fs::File::create(dir.join("app.out"))?))
        .stderr(Stdio::from(std::fs::File::create(dir.join("app.err"))?))
        .kill_on_drop(true)
        .spawn()
        .context("starting the app")?;
    let pid = child.id().context("no pid")?;
    let item = until_every(
        "the app's StatusNotifierItem",
        Duration::from_secs(60),
        Duration::from_millis(5),
        || async { Ok(desk.registered()) },
    )
    .await?;
    let to_tray_ms = item.at.duration_since(started).as_secs_f64() * 1000.0;
    eprintln!(
        "  app: tray item after {to_tray_ms:.0} ms ({}{})",
        item.address.service, item.address.path
    );
    out.push(Metric::new(
        "app_start_to_tray_ms",
        to_tray_ms,
        None,
        "spawn of the release app (--minimized, Xvfb) to its RegisterStatusNotifierItem call",
    ));

    // One sync, started from the menu as a user would.
    desk.click(&item, "Sync now").await?;
    let before_start = before["started_at"].clone();
    let finished = until_every(
        "the app's sync to finish",
        Duration::from_secs(300),
        Duration::from_millis(250),
        || async {
            let s = world.status().await?;
            Ok((s["started_at"] != before_start && !s["finished_at"].is_null()).then_some(s))
        },
    )
    .await?;
    eprintln!("  app: sync finished, ok = {}", finished["ok"]);
    if let Ok(Some(code)) = child.try_wait() {
        bail!("the app exited with {code}");
    }

    // Idle, window never opened: the state after a start at login.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ticks = procs::clock_ticks();
    let cpu0 = procs::tree_cpu_ticks(pid);
    let t0 = Instant::now();
    tokio::time::sleep(IDLE_WINDOW).await;
    let cpu1 = procs::tree_cpu_ticks(pid);
    let idle_s = t0.elapsed().as_secs_f64();
    let cpu_pct = (cpu1.saturating_sub(cpu0)) as f64 / ticks / idle_s * 100.0;
    let (rss_kb, each) = procs::tree_rss_kb(pid);
    let pss_kb = procs::tree_pss_kb(pid);
    eprintln!("  app: idle RSS by mapping (MiB):");
    for (name, kb) in procs::tree_rss_by_mapping(pid).iter().take(20) {
        eprintln!("    {:7.1}  {name}", *kb as f64 / 1024.0);
    }
    let each: Vec<String> = each
        .iter()
        .map(|(n, kb)| format!("{n} {:.1}", *kb as f64 / 1024.0))
        .collect();

    // Open the window from the menu; time until it is mapped and visible.
    let click_at = Instant::now();
    desk.click(&item, "Open Peloton Coda Sync").await?;
    let window = desk.wait_window(Duration::from_secs(30)).await;
    let open_ms = click_at.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (open_rss_kb, open_each) = procs::tree_rss_kb(pid);
    let open_each: Vec<String> = open_each
        .iter()
        .map(|(n, kb)| format!("{n} {:.1}", *kb as f64 / 1024.0))
        .collect();

    let _ = desk.click(&item, "Quit").await;
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let _ = child.kill().await;

    out.extend([
        Metric::new(
            "app_idle_pss_mb",
            pss_kb as f64 / 1024.0,
            None,
            "same tree and moment, proportional set size: shared library pages counted once",
        ),
        Metric::new(
            "app_idle_rss_mb",
            rss_kb as f64 / 1024.0,
            Some(Target::AtMost(80.0)),
            format!(
                "sum of VmRSS over the app's process tree after one sync, window never opened: {}",
                each.join(", ")
            ),
        ),
        Metric::new(
            "app_idle_cpu_pct",
            cpu_pct,
            Some(Target::AtMost(0.2)),
            format!("utime+stime of the process tree over {idle_s:.0} s idle, % of one core"),
        ),
    ]);
    out.push(match window {
        Ok(()) => Metric::new(
            "window_open_ms",
            open_ms,
            None,
            "dbusmenu click on \"Open Peloton Coda Sync\" to the window mapped and viewable (xdotool); paint itself is not observable without a compositor",
        ),
        Err(e) => Metric::missing("window_open_ms", None, format!("{e:#}")),
    });
    out.push(Metric::new(
        "app_window_open_rss_mb",
        open_rss_kb as f64 / 1024.0,
        None,
        format!(
            "same tree 3 s after the window opened: {}",
            open_each.join(", ")
        ),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::item_id;

    #[test]
    fn menu_lines_are_found_by_label() {
        let layout = "(uint32 5, (0, {'children-display': <'submenu'>}, [<(1, {'label': <'Up to date'>, 'enabled': <false>}, @av [])>, <(2, {'type': <'separator'>}, @av [])>, <(3, {'label': <'Sync now'>}, @av [])>, <(12, {'label': <'Open Peloton Coda Sync'>}, @av [])>]))";
        assert_eq!(item_id(layout, "Sync now"), Some(3));
        assert_eq!(item_id(layout, "Open Peloton Coda Sync"), Some(12));
        assert_eq!(item_id(layout, "Quit"), None);
    }
}
