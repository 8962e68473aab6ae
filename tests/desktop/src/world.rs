//! One test's world: a fresh HOME with its XDG folders, the fake Peloton and
//! fake Coda in-process, the desktop's D-Bus services, and the release app
//! started through tauri-driver and driven through WebDriver. Its methods
//! read like the user's steps; dropping it ends every process it started.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use fake_coda::FakeCoda;
use fake_peloton::FakePeloton;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use pcs_core::settings::Settings;
use serde_json::json;

use crate::bus::{DesktopBus, Notified, Tray};
use crate::procs::{self, Group};
use crate::{icons, keychain};
use testkit::home::Home;
use testkit::wait::until;

/// The main window's title.
pub const MAIN_TITLE: &str = "Peloton Coda Sync";
/// The settings window's title.
pub const SETTINGS_TITLE: &str = "Peloton Coda Sync Settings";
/// The name launch at login files its desktop entry under.
pub const AUTOSTART_NAME: &str = "peloton-coda-sync";
/// The document title of the fake Peloton's sign-in pages, as the sign-in
/// window shows them.
pub const PELOTON_SIGN_IN_TITLE: &str = "Log in | Peloton";
/// The flag the login item passes.
pub const MINIMIZED_FLAG: &str = "--minimized";

fn repo_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_dir().join("target"))
}

/// The release app under test (`PCS_APP_BIN` overrides).
pub fn app_binary() -> PathBuf {
    std::env::var_os("PCS_APP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("release/peloton-coda-sync-app"))
}

/// Where screenshots are saved.
pub fn screenshot_dir() -> PathBuf {
    target_dir().join("e2e-screenshots")
}

/// What the user types into Settings.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Peloton e-mail.
    pub email: String,
    /// Peloton password.
    pub password: String,
    /// Coda API token.
    pub coda_token: String,
    /// The doc's browser address.
    pub coda_doc: String,
}

/// What [`World::csp_probe`] saw.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CspProbe {
    /// An inline `<script>` ran.
    pub inline: bool,
    /// `eval` ran.
    pub eval: bool,
    /// A remote script loaded.
    pub script: bool,
    /// A remote image loaded.
    pub image: bool,
    /// The directives the page reported as violated.
    pub violations: Vec<String>,
    /// Requests the probe's remote loads made to the fake.
    #[serde(default)]
    pub requests_out: usize,
}

struct Running {
    /// The WebDriver session; `None` when started without one.
    client: Option<Client>,
    /// tauri-driver, WebKitWebDriver and the app, in one process group.
    group: Group,
}

/// One test's world.
pub struct World {
    /// The fake Peloton.
    pub peloton: FakePeloton,
    /// The fake Coda.
    pub coda: FakeCoda,
    /// The desktop's D-Bus services (tray watcher, notification server).
    pub bus: DesktopBus,
    home: Home,
    app: Option<Running>,
}

impl World {
    /// A fresh world: new folders, both fakes (10 workouts, two friends who
    /// ride), the desktop services on the bus, and no credential in the
    /// keychain.
    pub async fn new(name: &str) -> Result<World> {
        let home =
            Home::new(&format!("pcs-desktop-{name}-")).context("creating the test folder")?;
        let peloton = FakePeloton::start(fake_peloton::Config {
            workouts: 30,
            ..fake_peloton::Config::default()
        })
        .await;
        make_recent(&peloton);
        let coda = FakeCoda::start(fake_coda::Config::default().without_rate_limits()).await;
        let bus = DesktopBus::start().await?;
        // An earlier test may have left it locked; reading it then prompts.
        keychain::unlock().await?;
        keychain::clear().await?;
        Ok(World {
            peloton,
            coda,
            bus,
            home,
            app: None,
        })
    }

    /// `HOME`.
    pub fn home(&self) -> PathBuf {
        self.home.home()
    }

    /// `XDG_CONFIG_HOME`: under HOME, and on purpose not `~/.config`, so a
    /// file written to the wrong one is seen.
    pub fn config_home(&self) -> PathBuf {
        self.home.config_home()
    }

    fn log_file(&self) -> PathBuf {
        self.home.root().join("app.log")
    }

    /// The settings file the app and the CLI share.
    pub fn settings_file(&self) -> PathBuf {
        self.config_home().join("peloton-coda-sync/settings.toml")
    }

    /// The desktop entry launch at login writes.
    pub fn autostart_entry(&self) -> PathBuf {
        self.config_home()
            .join("autostart")
            .join(format!("{AUTOSTART_NAME}.desktop"))
    }

    /// The credentials the fakes accept.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            email: self.peloton.email(),
            password: self.peloton.password(),
            coda_token: self.coda.token(),
            // The address a user copies from the browser; the doc ID in it
            // is what counts, so the fake's own host is not needed.
            coda_doc: format!("https://coda.io/d/Training-Log_d{}", self.coda.doc_id()),
        }
    }

    /// Settings and keychain as after a finished setup, with this Peloton
    /// password (a wrong one makes every sync fail at login).
    pub async fn saved_setup(&self, peloton_password: &str) -> Result<()> {
        let c = self.credentials();
        let settings = Settings {
            peloton_email: c.email,
            coda_doc: c.coda_doc,
            ..Settings::default()
        };
        settings
            .save(&self.settings_file())
            .map_err(|e| anyhow!("{e}"))?;
        keychain::store(keychain::PELOTON_PASSWORD, peloton_password).await?;
        keychain::store(keychain::CODA_TOKEN, &c.coda_token).await?;
        Ok(())
    }

    /// The app's environment: nothing of the test's own but what a desktop
    /// session has, the fresh folders and the fakes' addresses.
    fn app_env(&self) -> Vec<(String, String)> {
        // The private session bus stands in for the system bus too, where
        // the test plays NetworkManager (DesktopBus::network_back).
        let mut env = match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
            Ok(bus) => self.home.with_bus(&bus),
            Err(_) => self.home.env(),
        };
        for (k, v) in [
            ("PELOTON_API_URL", self.peloton.url()),
            ("PELOTON_AUTH_URL", self.peloton.url()),
            ("CODA_API_URL", self.coda.url()),
            ("TZ", "UTC".to_owned()),
            ("LANG", "C.UTF-8".to_owned()),
            ("RUST_LOG", "info".to_owned()),
            // No accessibility bus in this session; GTK would wait for one.
            ("NO_AT_BRIDGE", "1".to_owned()),
        ] {
            env.push((k.to_owned(), v));
        }
        for k in ["DISPLAY", "XDG_DATA_DIRS"] {
            if let Ok(v) = std::env::var(k) {
                env.push((k.to_owned(), v));
            }
        }
        env
    }

    /// Starts the app (with `args`) through tauri-driver and opens a
    /// WebDriver session on it.
    pub async fn launch(&mut self, args: &[&str]) -> Result<()> {
        self.launch_through_driver(&app_binary(), args, Vec::new())
            .await
    }

    /// Starts `application` (with `args`, and `env` beside the app's
    /// environment) through tauri-driver and opens a WebDriver session on it.
    async fn launch_through_driver(
        &mut self,
        application: &Path,
        args: &[&str],
        env: Vec<(String, String)>,
    ) -> Result<()> {
        if self.app.is_some() {
            bail!("the app is already running in this world");
        }
        let app = app_binary();
        if !app.exists() {
            bail!(
                "{} is missing: build it with `cargo build --release -p peloton-coda-sync-app` (or run `make e2e`)",
                app.display()
            );
        }
        let (port, native_port) = procs::free_ports()?;
        let mut cmd = Command::new("tauri-driver");
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
            "--native-driver",
            "/usr/bin/WebKitWebDriver",
        ])
        .env_clear()
        .envs(self.app_env())
        .envs(env);
        let group = Group::spawn(cmd, "tauri-driver", &self.log_file())?;
        // tauri-driver starts WebKitWebDriver and then listens at once, and
        // forwards the new-session request without waiting for it: on a busy
        // machine that request met a native port nobody listened on yet
        // ("Connection refused"). So both must listen first.
        for (what, port) in [
            ("tauri-driver to listen", port),
            ("WebKitWebDriver to listen", native_port),
        ] {
            until(what, || async {
                Ok(tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(|_| ()))
            })
            .await?;
        }
        let caps = json!({
            "browserName": "wry",
            "tauri:options": {
                "application": application.display().to_string(),
                "args": args,
            },
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!("a JSON object literal");
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .with_context(|| {
                format!(
                    "opening a WebDriver session on the app; its log: {}",
                    self.log_tail()
                )
            })?;
        self.app = Some(Running {
            client: Some(client),
            group,
        });
        Ok(())
    }

    /// Starts the app (with `args`) directly, without WebDriver: for a start
    /// with no window (`--minimized`), which WebDriver cannot attach to
    /// because no webview exists until a window opens.
    pub async fn launch_without_driver(&mut self, args: &[&str]) -> Result<()> {
        if self.app.is_some() {
            bail!("the app is already running in this world");
        }
        let mut cmd = Command::new(app_binary());
        cmd.args(args).env_clear().envs(self.app_env());
        let group = Group::spawn(cmd, "the app", &self.log_file())?;
        self.app = Some(Running {
            client: None,
            group,
        });
        Ok(())
    }

    /// How many syncs the app's log says finished ("sync finished").
    pub fn syncs_finished(&self) -> usize {
        std::fs::read_to_string(self.log_file())
            .unwrap_or_default()
            .matches("sync finished")
            .count()
    }

    /// The end of the app's log (tauri-driver, WebKitWebDriver and the app
    /// write to it), for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn client(&self) -> Result<&Client> {
        self.app
            .as_ref()
            .ok_or_else(|| anyhow!("the app is not running"))?
            .client
            .as_ref()
            .ok_or_else(|| anyhow!("the app was started without WebDriver"))
    }

    /// Quits through the tray's Quit and waits until the app has left the
    /// bus; then ends tauri-driver.
    pub async fn quit_from_tray(&mut self) -> Result<()> {
        let tray = self.tray().await?;
        tray.click("Quit").await?;
        let service = tray.address().service.clone();
        until("the app to leave after Quit", || async {
            Ok((!self.bus.has_owner(&service).await?).then_some(()))
        })
        .await?;
        self.stop();
        Ok(())
    }

    /// Ends the app and its driver at once.
    pub fn stop(&mut self) {
        if let Some(mut running) = self.app.take() {
            running.group.end();
        }
    }

    // ---- windows ------------------------------------------------------

    /// Makes the window titled `title` the one the next steps act on.
    pub async fn switch_to(&self, title: &str) -> Result<()> {
        let client = self.client()?;
        until(&format!("a window titled {title:?}"), || async {
            let mut seen = Vec::new();
            for handle in client.windows().await? {
                client.switch_to_window(handle).await?;
                let t = client.title().await?;
                if t == title {
                    return Ok(Some(()));
                }
                seen.push(t);
            }
            Err(anyhow!("windows: {seen:?}"))
        })
        .await
    }

    /// Acts on the main window from now on.
    pub async fn in_main_window(&self) -> Result<()> {
        self.switch_to(MAIN_TITLE).await
    }

    /// Acts on the settings window from now on.
    pub async fn in_settings_window(&self) -> Result<()> {
        self.switch_to(SETTINGS_TITLE).await
    }

    /// Acts on the sign-in window from now on, once it shows Peloton's page.
    pub async fn in_sign_in_window(&self) -> Result<()> {
        self.switch_to(PELOTON_SIGN_IN_TITLE).await
    }

    /// Runs `script` in the current window as an async WebDriver script
    /// (its last argument is the callback) and returns what it answered.
    pub async fn run_async_script(&self, script: &str) -> Result<serde_json::Value> {
        self.client()?
            .execute_async(script, vec![])
            .await
            .map_err(|e| anyhow!("running a script in the window: {e:?}"))
    }

    /// The titles of the app's windows shown on screen (X11, through xdotool).
    pub async fn visible_windows(&self) -> Result<Vec<String>> {
        let out = tokio::process::Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", "Peloton Coda Sync"])
            .output()
            .await
            .context("running xdotool")?;
        let mut titles = Vec::new();
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let name = tokio::process::Command::new("xdotool")
                .args(["getwindowname", id])
                .output()
                .await?;
            if name.status.success() {
                titles.push(String::from_utf8_lossy(&name.stdout).trim().to_owned());
            }
        }
        titles.sort();
        Ok(titles)
    }

    /// Waits until the window titled `title` is on screen.
    pub async fn wait_shown(&self, title: &str) -> Result<()> {
        until(&format!("the window {title:?} on screen"), || async {
            let shown = self.visible_windows().await?;
            if shown.iter().any(|t| t == title) {
                Ok(Some(()))
            } else {
                Err(anyhow!("shown: {shown:?}"))
            }
        })
        .await
    }

    // ---- elements of the current window ---------------------------------

    async fn element(&self, id: &str) -> Result<Element> {
        let client = self.client()?;
        let e = until(&format!("the element #{id}"), || async {
            Ok(Some(client.find(Locator::Id(id)).await?))
        })
        .await?;
        // As a user scrolls to it: WebKit's driver refuses clicks outside the view.
        client
            .execute(
                "arguments[0].scrollIntoView({block: 'center'})",
                vec![serde_json::to_value(&e)?],
            )
            .await
            .map_err(|err| anyhow!("scrolling to #{id}: {err:?}"))?;
        Ok(e)
    }

    /// Types into the field `id`, replacing what it held.
    pub async fn type_into(&self, id: &str, text: &str) -> Result<()> {
        let e = self.element(id).await?;
        e.clear().await.with_context(|| format!("clearing #{id}"))?;
        e.send_keys(text)
            .await
            .with_context(|| format!("typing into #{id}"))?;
        Ok(())
    }

    /// Clicks the element `id`.
    pub async fn click(&self, id: &str) -> Result<()> {
        self.element(id)
            .await?
            .click()
            .await
            .with_context(|| format!("clicking #{id}"))?;
        Ok(())
    }

    /// Ticks or unticks the checkbox `id`.
    pub async fn set_checked(&self, id: &str, on: bool) -> Result<()> {
        let e = self.element(id).await?;
        let checked = e
            .prop("checked")
            .await
            .with_context(|| format!("reading whether #{id} is ticked"))?;
        if (checked.as_deref() == Some("true")) != on {
            e.click()
                .await
                .map_err(|err| anyhow!("clicking #{id}: {err:?}"))?;
        }
        Ok(())
    }

    /// Whether the element `id` is shown (not hidden, nor in a hidden parent).
    pub async fn shown(&self, id: &str) -> Result<bool> {
        let client = self.client()?;
        let e = until(&format!("the element #{id}"), || async {
            Ok(Some(client.find(Locator::Id(id)).await?))
        })
        .await?;
        Ok(e.is_displayed().await?)
    }

    /// The text of the element `id`.
    pub async fn text(&self, id: &str) -> Result<String> {
        Ok(self.element(id).await?.text().await?)
    }

    /// The attribute `name` of the element `id` ("" when absent).
    pub async fn attribute(&self, id: &str, name: &str) -> Result<String> {
        Ok(self
            .element(id)
            .await?
            .attr(name)
            .await?
            .unwrap_or_default())
    }

    /// The current value of the field `id`.
    pub async fn value(&self, id: &str) -> Result<String> {
        Ok(self
            .element(id)
            .await?
            .prop("value")
            .await?
            .unwrap_or_default())
    }

    /// Waits until the text of `id` satisfies `ok` (described by `what`),
    /// and returns it.
    pub async fn wait_text(
        &self,
        id: &str,
        what: &str,
        ok: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let ok = &ok;
        until(&format!("#{id} to show {what}"), || async move {
            let t = self.text(id).await?;
            if ok(&t) {
                Ok(Some(t))
            } else {
                Err(anyhow!("#{id} shows {t:?}"))
            }
        })
        .await
    }

    /// The text of the first element matching the CSS selector.
    pub async fn css_text(&self, css: &str) -> Result<String> {
        let client = self.client()?;
        let e = until(&format!("an element {css}"), || async {
            Ok(Some(client.find(Locator::Css(css)).await?))
        })
        .await?;
        Ok(e.text().await?)
    }

    /// How many elements match the CSS selector.
    pub async fn count(&self, css: &str) -> Result<usize> {
        Ok(self.client()?.find_all(Locator::Css(css)).await?.len())
    }

    /// Resizes the current window.
    pub async fn resize(&self, width: u32, height: u32) -> Result<()> {
        let client = self.client()?;
        client.set_window_size(width, height).await?;
        until("the page to take the new size", || async {
            let inner = client.execute("return window.innerHeight", vec![]).await?;
            let inner = inner.as_u64().unwrap_or(0);
            Ok((inner + 120 >= u64::from(height)).then_some(()))
        })
        .await
    }

    /// Saves a screenshot of the current window as `<name>.png`.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let client = self.client()?;
        // Back to the top, then two frames so the scroll is painted. A
        // window shown after being created hidden (under WebDriver every
        // window is) may draw no frame until it is exposed again, and
        // WebKitWebDriver then waits on the script for ever: a timer ends
        // the wait, and every step has a deadline.
        let deadline = Duration::from_secs(30);
        tokio::time::timeout(
            deadline,
            client.execute_async(
                "const done = arguments[0]; let sent = false; \
                 const finish = () => { if (!sent) { sent = true; done(window.scrollY); } }; \
                 window.scrollTo(0, 0); \
                 requestAnimationFrame(() => requestAnimationFrame(finish)); \
                 setTimeout(finish, 1000);",
                vec![],
            ),
        )
        .await
        .map_err(|_| anyhow!("scrolling to the top took over {deadline:?}"))??;
        let png = tokio::time::timeout(deadline, client.screenshot())
            .await
            .map_err(|_| anyhow!("the screenshot took over {deadline:?}"))??;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Saves what the screen shows of the window titled `title` as
    /// `<name>.png`, raised above the others, once it is drawn and still.
    /// For windows WebDriver does not drive or cannot photograph (see
    /// [`crate::screen`]).
    pub async fn screen_shot(&self, title: &str, name: &str) -> Result<PathBuf> {
        crate::screen::screenshot(title, &screenshot_dir(), name, |_| true).await
    }

    /// [`World::screen_shot`] once the window's pixels differ from `before`
    /// (pixels [`crate::screen::settled`] gave earlier): the window changed.
    pub async fn screen_shot_changed(
        &self,
        title: &str,
        name: &str,
        before: &[u8],
    ) -> Result<PathBuf> {
        crate::screen::screenshot(title, &screenshot_dir(), name, |now| now != before).await
    }

    // ---- tray and notifications -----------------------------------------

    /// The app's tray item, once it registered and its menu is readable.
    pub async fn tray(&self) -> Result<Tray> {
        until("the app's tray item on the bus", || async {
            let Some(tray) = self.bus.tray() else {
                return Ok(None);
            };
            tray.menu().await?;
            Ok(Some(tray))
        })
        .await
    }

    /// Waits until the tray's status line reads `want`.
    pub async fn wait_tray_status(&self, want: &str) -> Result<()> {
        self.wait_tray_status_starting(want, testkit::wait::PATIENCE, |l| l == want)
            .await
    }

    /// Waits at most `patience` until the tray's status line starts with
    /// `prefix` ("Offline" for "Offline · will retry at 10:50").
    pub async fn wait_tray_status_prefix(&self, prefix: &str, patience: Duration) -> Result<()> {
        self.wait_tray_status_starting(prefix, patience, |l| l.starts_with(prefix))
            .await
    }

    async fn wait_tray_status_starting(
        &self,
        what: &str,
        patience: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> Result<()> {
        let tray = self.tray().await?;
        let ok = &ok;
        testkit::wait::until_within(
            &format!("the tray's status line {what:?}"),
            patience,
            || async {
                let line = tray.status_line().await?;
                if ok(&line) {
                    Ok(Some(()))
                } else {
                    Err(anyhow!("it reads {line:?}"))
                }
            },
        )
        .await
    }

    /// Waits until the tray shows the icon `name` (see [`icons::TRAY_ICONS`]).
    pub async fn wait_tray_icon(&self, name: &str) -> Result<()> {
        let tray = self.tray().await?;
        until(&format!("the tray icon {name:?}"), || async {
            let shown = icons::tray_icon_name(&tray.icon_file().await?)?;
            if shown == Some(name) {
                Ok(Some(()))
            } else {
                Err(anyhow!("it shows {shown:?}"))
            }
        })
        .await
    }

    /// Waits until `n` notifications arrived, and returns all of them.
    pub async fn wait_notifications(&self, n: usize) -> Result<Vec<Notified>> {
        until(&format!("{n} notification(s)"), || async {
            let seen = self.bus.notifications();
            if seen.len() >= n {
                Ok(Some(seen))
            } else {
                Err(anyhow!("seen: {seen:?}"))
            }
        })
        .await
    }

    // ---- processes and files --------------------------------------------

    /// Starts the app a second time, directly, with the same environment,
    /// and returns how it exited (an error if it is still running after a
    /// while: then it is ended).
    pub async fn launch_again(&self) -> Result<std::process::ExitStatus> {
        let mut cmd = Command::new(app_binary());
        cmd.env_clear().envs(self.app_env());
        let mut second = Group::spawn(cmd, "the second launch", &self.log_file())?;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = second.try_wait()? {
                return Ok(status);
            }
            if std::time::Instant::now() >= deadline {
                second.end();
                bail!(
                    "the second launch was still running after 20 s; log: {}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // ---- the demo ---------------------------------------------------------

    /// The folder the demo script makes its throwaway files in (`TMPDIR`).
    pub fn demo_tmp(&self) -> PathBuf {
        self.home.root().join("demo-tmp")
    }

    /// `scripts/demo-app.sh` as the person of this world starts it: their
    /// HOME, their desktop session, the built app and fakes (no cargo run
    /// inside the tests' own), a small history.
    pub fn demo_command(&self) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(repo_dir().join("scripts/demo-app.sh"))
            .env_clear()
            .envs(self.app_env())
            .envs(self.demo_env());
        cmd
    }

    /// What the demo script gets beside the app's environment.
    fn demo_env(&self) -> Vec<(String, String)> {
        let path = |p: PathBuf| p.display().to_string();
        vec![
            ("PCS_APP_BIN".to_owned(), path(app_binary())),
            ("PCS_FAKES_DIR".to_owned(), path(target_dir().join("debug"))),
            ("WORKOUTS".to_owned(), "20".to_owned()),
            ("TMPDIR".to_owned(), path(self.demo_tmp())),
        ]
    }

    /// Starts the demo (the script, its fakes and the app in one group).
    pub fn start_demo(&self) -> Result<Group> {
        std::fs::create_dir_all(self.demo_tmp())?;
        Group::spawn(self.demo_command(), "make demo-app", &self.log_file())
    }

    // ---- secrets and the content security policy -----------------------

    /// Every secret this world's user has or was given: the password, the
    /// Coda token and every token the fake Peloton issued.
    pub fn secrets(&self) -> Vec<String> {
        let c = self.credentials();
        let mut all = vec![c.password, c.coda_token];
        all.extend(self.peloton.issued_tokens());
        all
    }

    /// What a script in the current window could read: the DOM, every
    /// field's value, web storage and the window's own global names.
    pub async fn page_contents(&self) -> Result<String> {
        let v = self
            .client()?
            .execute(
                r#"const parts = [document.documentElement.outerHTML];
                for (const e of document.querySelectorAll('input, textarea, select')) parts.push(e.value);
                for (const store of [localStorage, sessionStorage]) {
                  for (let i = 0; i < store.length; i++) parts.push(store.key(i), store.getItem(store.key(i)));
                }
                for (const k of Object.keys(window)) {
                  try { const v = window[k]; if (typeof v === 'string') parts.push(v); else if (v && typeof v === 'object' && !(v instanceof Node) && v !== window) parts.push(JSON.stringify(v)); } catch (_) {}
                }
                return parts.join('\n');"#,
                vec![],
            )
            .await
            .context("reading the page")?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Asserts that no window of the app holds a secret anywhere a script
    /// could read it; names the window and the secret's first characters.
    pub async fn assert_no_secret_in_windows(&self) -> Result<()> {
        let client = self.client()?;
        let secrets = self.secrets();
        let mut scanned = Vec::new();
        for handle in client.windows().await? {
            client.switch_to_window(handle).await?;
            let title = client.title().await?;
            let page = self.page_contents().await?;
            for secret in &secrets {
                if page.contains(secret.as_str()) {
                    bail!(
                        "the window {title:?} holds a secret ({}...)",
                        &secret[..4.min(secret.len())]
                    );
                }
            }
            scanned.push(title);
        }
        if scanned.is_empty() {
            bail!("no window was scanned");
        }
        Ok(())
    }

    /// Tries, in the current window, what the CSP must refuse: an inline
    /// script, `eval`, a script and an image from a remote host (the fake
    /// Peloton, whose log shows whether the request left). Returns what ran
    /// or loaded, and the violations the page reported.
    pub async fn csp_probe(&self) -> Result<CspProbe> {
        let remote = self.peloton.url();
        let v = self
            .client()?
            .execute_async(
                r#"const [remote, done] = arguments;
                const violations = [];
                document.addEventListener('securitypolicyviolation', e => violations.push(e.violatedDirective));
                window.__inlineRan = false;
                const inline = document.createElement('script');
                inline.textContent = 'window.__inlineRan = true';
                document.head.appendChild(inline);
                let evalRan = false;
                try { eval('evalRan = true'); } catch (_) {}
                const load = (el, url) => new Promise(resolve => {
                  el.onload = () => resolve(true);
                  el.onerror = () => resolve(false);
                  el.src = url;
                  document.body.appendChild(el);
                });
                Promise.all([
                  load(document.createElement('script'), remote + '/csp-probe.js'),
                  load(document.createElement('img'), remote + '/cdn/peloton-profile-images/csp/probe'),
                ]).then(([script, image]) => setTimeout(() => done({
                  inline: window.__inlineRan, eval: evalRan, script, image, violations,
                }), 100));"#,
                vec![json!(remote)],
            )
            .await
            .context("running the CSP probe")?;
        let probe: CspProbe = serde_json::from_value(v).context("reading the CSP probe")?;
        Ok(CspProbe {
            requests_out: self.peloton.count(|r| r.path.contains("csp")),
            ..probe
        })
    }

    /// Every file under HOME whose bytes contain `needle`.
    pub fn files_containing(&self, needle: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.home()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let path = e.path();
                match e.file_type() {
                    Ok(t) if t.is_dir() => stack.push(path),
                    Ok(t)
                        if t.is_file()
                            && std::fs::read(&path)
                                .is_ok_and(|b| contains(&b, needle.as_bytes())) =>
                    {
                        found.push(path)
                    }
                    _ => {}
                }
            }
        }
        found
    }

    /// The text of a file, or "" when it does not exist.
    pub fn read(&self, path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }
}

/// Moves every workout of the fake (the user's and friends') by one shift,
/// so the newest of them began three hours ago: the main window's
/// chart counts the last 12 weeks from the real date.
fn make_recent(peloton: &FakePeloton) {
    use pcs_core::clock::{Clock, SystemClock};
    let start = |id: &str| {
        peloton
            .workout_json(id)
            .and_then(|w| w["start_time"].as_i64())
            .unwrap_or(0)
    };
    let mut ids = peloton.workout_ids();
    for friend in peloton.friend_ids() {
        ids.extend(peloton.user_workout_ids(&friend));
    }
    let Some(newest) = ids.iter().map(|id| start(id)).max() else {
        return;
    };
    let shift = SystemClock.now().timestamp() - 3 * 3600 - newest;
    for id in ids {
        peloton.update_workout(&id, |w| {
            for key in [
                "start_time",
                "end_time",
                "created_at",
                "created",
                "device_time_created_at",
            ] {
                if let Some(t) = w[key].as_i64() {
                    w[key] = json!(t + shift);
                }
            }
        });
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- the app's log ---\n{}", self.log_tail());
        }
    }
}
